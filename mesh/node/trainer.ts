/**
 * The TrainerFactories of a Node peer, over worker/'s trainer service: `threadTrainerFactory`
 * runs each trainer in its own worker_threads thread, as a browser runs it in a Web Worker
 * (in-process tfjs would block the peer's event loop for the whole step: acks would be
 * stamped late and released together, and the bandwidth estimate would measure the step
 * time instead of the link); `nodeTrainerFactory` runs it in this thread, for the benchmark's
 * virtual clock and for tests. The cpu backend unless told otherwise, the shard from the
 * dataset files on disk, checkpoints in a state directory or an injected store.
 */

import { checksum, utf8Encode } from '../../core';
import type { CheckpointStore, ServiceInit } from '../../worker';
import {
  type NodeBackendChoice,
  type NodeSource,
  startLocalTrainer,
  startThreadTrainer,
} from '../../worker/node';
import { type MeshClock, sleep, type TrainerFactory, type TrainerRequest } from '../types';

export type { NodeBackendChoice } from '../../worker/node';

/** Test images a Node peer evaluates on when the options do not say (as in the browser). */
export const DEFAULT_TEST_SAMPLES = 2000;

/** Plain data: a thread trainer's options cross to its thread by structured clone. */
export interface ThreadTrainerOptions {
  /** The room joined: part of the default checkpoint key, and checked on restore. */
  readonly room: string;
  /** This peer's name: part of the default checkpoint key. */
  readonly name: string;
  /** Test samples to evaluate on (default DEFAULT_TEST_SAMPLES). */
  readonly testSamples?: number;
  /** Emulated compute slowdown at start, >= 1 (DESIGN.md 5). */
  readonly slowdown?: number;
  /** Checkpoints in this directory (a file store); none without it. */
  readonly stateDir?: string;
  /** The store key; defaults to nodeCheckpointKey(room, name). */
  readonly checkpointKey?: string;
  /** 'cpu' (default), 'webgpu' through Dawn, or 'auto' (worker/node/host.ts). */
  readonly backend?: NodeBackendChoice;
  /** Train on the IDX files in this folder instead of the room's shard (a kiosk's --data). */
  readonly dataDir?: string;
  /**
   * A pretrained start for the room created from a model file: every weight of the model in
   * `model.weights` order, with the task it belongs to. Ignored when the room trains another.
   */
  readonly pretrained?: NonNullable<ServiceInit<NodeSource>['pretrained']>;
}

export interface NodeTrainerOptions extends Omit<ThreadTrainerOptions, 'stateDir'> {
  /** Where checkpoints live; without one, saving is a no-op and nothing is restored. */
  readonly store?: CheckpointStore;
  /** The clock the slowdown sleeps on and compute is timed with (a benchmark's virtual one). */
  readonly clock?: MeshClock;
}

const FILE_SAFE = /[^A-Za-z0-9_-]+/g;

/**
 * A checkpoint key that createFileCheckpointStore accepts for any room and name: the browser's
 * `${room}/${name}` has a slash, and names may hold any printable character. The readable part
 * is sanitised and truncated, so a hash of the exact pair keeps distinct peers apart.
 *
 * @example nodeCheckpointKey('lab', 'kiosk 3') === 'lab.kiosk-3.1a2b3c4d'
 */
export function nodeCheckpointKey(room: string, name: string): string {
  const hash = checksum(utf8Encode(`${room}\n${name}`))
    .toString(16)
    .padStart(8, '0');
  const part = (s: string, max: number) => s.replace(FILE_SAFE, '-').slice(0, max) || '-';
  return `${part(room, 64)}.${part(name, 40)}.${hash}`;
}

function serviceInit(
  o: ThreadTrainerOptions,
  request: TrainerRequest,
  checkpoints: boolean,
): ServiceInit<NodeSource> {
  return {
    config: request.config,
    slot: request.slot,
    room: o.room,
    ...(checkpoints ? { checkpointKey: o.checkpointKey ?? nodeCheckpointKey(o.room, o.name) } : {}),
    ...(o.backend === undefined ? {} : { backend: o.backend }),
    ...(o.slowdown === undefined ? {} : { slowdown: o.slowdown }),
    ...(o.pretrained === undefined ? {} : { pretrained: o.pretrained }),
    testSamples: o.testSamples ?? DEFAULT_TEST_SAMPLES,
    source: {
      ...(o.dataDir === undefined ? {} : { dataDir: o.dataDir }),
      ...(o.stateDir === undefined ? {} : { stateDir: o.stateDir }),
    },
  };
}

/** Each trainer in its own thread (kiosks, live benchmark peers). */
export function threadTrainerFactory(options: ThreadTrainerOptions): TrainerFactory {
  return (request) =>
    startThreadTrainer(serviceInit(options, request, options.stateDir !== undefined));
}

/**
 * Each trainer in this thread.
 *
 * @example
 * const createTrainer = nodeTrainerFactory({ room, name, store: createMemoryCheckpointStore() });
 */
export function nodeTrainerFactory(options: NodeTrainerOptions): TrainerFactory {
  const clock = options.clock;
  return (request) =>
    startLocalTrainer(serviceInit(options, request, options.store !== undefined), {
      ...(options.store === undefined ? {} : { store: options.store }),
      ...(clock === undefined
        ? {}
        : { clock: { now: () => clock.now(), sleep: (ms: number) => sleep(clock, ms) } }),
    });
}
