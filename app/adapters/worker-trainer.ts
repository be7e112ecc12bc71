/**
 * The TrainerFactory of a browser peer: worker/'s trainer service in a Web Worker, started
 * once the room's config is known (worker/browser/start.ts). The service's client already is
 * the MeshTrainer the mesh drives; this only says what the tab asks of it.
 */

import { roomTask } from '../../core';
import type { TrainerFactory, TrainerRequest } from '../../mesh';
import type { BackendName } from '../../worker';
import { BROWSER_TEST_SAMPLES, keptSummary, startWorkerTrainer } from '../../worker/browser';
import type { NewRoomModel } from '../model-upload';
import { ownDataKept } from '../own-data';

export interface WorkerTrainerOptions {
  /** Room and display name: the checkpoint's IndexedDB key is `${room}/${name}`. */
  readonly room: string;
  readonly name: string;
  /** Forces one tfjs backend (URL `backend=`); left out, the Worker picks webgpu -> webgl -> cpu. */
  readonly backend?: BackendName | undefined;
  /** Emulated compute slowdown at start, >= 1. */
  readonly slowdown?: number | undefined;
  /** The model file this tab created the room with (app/model-upload.ts), if any. */
  readonly newRoomModel?: NewRoomModel | undefined;
}

/**
 * Starts trainers in Web Workers. Example:
 * `createPeer({ ..., createTrainer: workerTrainerFactory({ room, name, slowdown: 2 }) })`.
 */
export function workerTrainerFactory(options: WorkerTrainerOptions): TrainerFactory {
  return async (request: TrainerRequest) => {
    const pretrained = options.newRoomModel?.pretrained;
    // The person's own samples kept for the room, if any; a room that trains on each peer's
    // own data waits here until the person chooses them on the dashboard.
    let kept = (await keptSummary(options.room).catch(() => undefined)) !== undefined;
    if (!kept && roomTask(request.config).data.kind === 'local') {
      await ownDataKept(options.room);
      kept = true;
    }
    return startWorkerTrainer(
      {
        config: request.config,
        slot: request.slot,
        room: options.room,
        checkpointKey: `${options.room}/${options.name}`,
        testSamples: BROWSER_TEST_SAMPLES,
        ...(options.backend === undefined ? {} : { backend: options.backend }),
        ...(options.slowdown === undefined ? {} : { slowdown: options.slowdown }),
        // The service uses the weights only when the room trains that very model.
        ...(pretrained && options.newRoomModel
          ? { pretrained: { task: options.newRoomModel.task, weights: pretrained } }
          : {}),
        source: { dataBaseUrl: location.origin, ...(kept ? { ownData: true } : {}) },
      },
      `trainer-${request.peerId}`,
    );
  };
}
