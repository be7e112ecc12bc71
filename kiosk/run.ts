/**
 * The kiosk itself: a headless DLion peer for an edge box, built from the same mesh/ and
 * worker/ code as a browser tab, with @roamhq/wrtc links and the trainer in a worker thread.
 * It checks its state and data before joining, keeps a stable identity, logs one JSON object
 * per line, leaves cleanly on SIGTERM or SIGINT, and ends with an exit code that says why.
 */

import {
  DEFAULT_ROOM_CONFIG,
  parseRoomConfig,
  type TaskDatasetName,
  taskForOwnData,
} from '../core';
import { createPeer, type MeshEvent, type MeshTrainer } from '../mesh';
import {
  nodeCheckpointKey,
  nodeClock,
  nodeRtcConnector,
  nodeSignaling,
  threadTrainerFactory,
} from '../mesh/node';
import { KioskStateError, readIdentity, writeIdentity } from './identity';
import { type ModelSource, readModelSource, writeExport, writeStateTask } from './model-io';
import { EXIT, type KioskOptions } from './options';
import { checkCheckpoint, checkDataDir, checkStateDir, keepAside } from './preflight';

/** What the kiosk needs from its process: output, signals, the host name, exit timing. */
export interface KioskIo {
  /** One line to stdout (a JSON object). */
  readonly out: (line: string) => void;
  /** Calls `handler` on SIGTERM and SIGINT; returns the unsubscribe. */
  readonly onSignal: (handler: (signal: string) => void) => () => void;
  /** The default peer name. */
  readonly hostname: string;
}

/** How long a leave may take before the kiosk gives up on it and exits 1. */
export const LEAVE_TIMEOUT_MS = 10_000;

/** The exit code for the server's fatal error codes; others (internal, protocol) exit 1. */
const SERVER_CODES: Readonly<Record<string, number>> = {
  'bad-token': EXIT.tokenRefused,
  'token-required': EXIT.tokenRefused,
  'room-full': EXIT.roomRefused,
  'config-invalid': EXIT.roomRefused,
  'too-many-rooms': EXIT.roomRefused,
};

/**
 * Runs the kiosk until it leaves; resolves to the exit code.
 *
 * @example process.exitCode = await runKiosk(options, processIo());
 */
export async function runKiosk(o: KioskOptions, io: KioskIo): Promise<number> {
  const print = (type: string, fields: Record<string, unknown> = {}) =>
    io.out(JSON.stringify({ t: new Date().toISOString(), type, ...fields }));
  const name = o.name ?? io.hostname;

  // ---- before joining: state, data and model ----------------------------------------------
  let resumePeerId: string | undefined;
  let resumeKey: string | undefined;
  let source: ModelSource | undefined;
  let roomConfig = o.config;
  try {
    const draft = parseRoomConfig(o.config ?? {});
    const dataset: TaskDatasetName = draft.ok ? draft.value.dataset : 'mnist';
    const data = o.dataDir === undefined ? undefined : await checkDataDir(o.dataDir, o.labelColumn);
    if (data !== undefined) {
      print(
        'data',
        data.layout === 'idx'
          ? {
              dir: o.dataDir,
              layout: data.layout,
              trainImages: data.trainCount,
              testImages: data.testCount,
              note:
                data.testCount === 0
                  ? "no test files: test accuracy on the room dataset's test split"
                  : undefined,
            }
          : { dir: o.dataDir, layout: data.layout, labels: data.labels, features: data.features },
      );
    }
    // Own data (not IDX) gives a new room its labels: the room's task when this kiosk creates it.
    const ownLabels = data !== undefined && data.layout !== 'idx' ? data.labels : undefined;
    if (o.modelFile !== undefined) {
      const maxParams = draft.ok ? draft.value.maxParams : DEFAULT_ROOM_CONFIG.maxParams;
      source = await readModelSource(
        o.modelFile,
        ownLabels === undefined
          ? dataset
          : { labels: ownLabels, ...(o.labelColumn ? { labelColumn: o.labelColumn } : {}) },
        maxParams,
      );
      roomConfig = { ...o.config, model: 'custom', task: source.task };
      print('model', {
        file: o.modelFile,
        task: source.task.name,
        input: source.task.input,
        labels: source.task.labels.length,
        start: source.pretrained ? 'pretrained weights' : "the room's seed",
      });
    } else if (data !== undefined && data.layout !== 'idx' && draft.ok) {
      const model = data.layout === 'table' ? 'tabular-mlp' : draft.value.model;
      if (model !== 'custom') {
        const derived = taskForOwnData(model, dataset, data.labels, data.features);
        const task =
          o.labelColumn === undefined || derived.data.kind !== 'local'
            ? derived
            : { ...derived, data: { kind: 'local' as const, labelColumn: o.labelColumn } };
        roomConfig = { ...o.config, model, task };
      }
    }
    if (o.stateDir !== undefined) {
      await checkStateDir(o.stateDir);
      const identity = await readIdentity(o.stateDir);
      if (identity !== undefined && identity.room === o.room && identity.name === name) {
        resumePeerId = identity.peerId;
        resumeKey = identity.resumeKey;
      }
      const step = await checkCheckpoint(o.stateDir, nodeCheckpointKey(o.room, name));
      print('state', {
        dir: o.stateDir,
        peerId: resumePeerId ?? null,
        checkpointStep: step ?? null,
      });
    }
  } catch (e) {
    if (e instanceof KioskStateError) {
      print('error', { level: 'error', message: e.message, exitCode: EXIT.badState });
      return EXIT.badState;
    }
    throw e;
  }

  // ---- the peer ------------------------------------------------------------------------------
  const clock = nodeClock();
  const threadOptions = {
    room: o.room,
    name,
    slowdown: o.slowdown,
    backend: o.backend,
    ...(o.stateDir === undefined ? {} : { stateDir: o.stateDir }),
    ...(o.dataDir === undefined ? {} : { dataDir: o.dataDir }),
  };
  // Pretrained weights: the service uses them only for the room that trains this very model.
  const threadTrainer = threadTrainerFactory(
    source?.pretrained === undefined
      ? threadOptions
      : { ...threadOptions, pretrained: { task: source.task, weights: source.pretrained } },
  );
  let liveTrainer: MeshTrainer | undefined;
  let lastStep = 0;
  /** Evaluates on the test split and writes the model to --export-dir; never throws. */
  const exportNow = async (trainer: MeshTrainer, why: 'every' | 'leave'): Promise<void> => {
    if (o.exportDir === undefined) return;
    try {
      const test = await trainer.evaluate('test');
      const files = await trainer.exportModel();
      if (files instanceof Error) throw files;
      await writeExport(o.exportDir, files);
      print('export', {
        dir: o.exportDir,
        why,
        step: lastStep,
        testAccuracy: test.accuracy,
        testSamples: test.samples,
      });
    } catch (e) {
      print('log', { level: 'error', message: 'export failed', error: String(e) });
    }
  };
  const peer = createPeer({
    room: o.room,
    name,
    kind: 'kiosk',
    ...(o.site === undefined ? {} : { site: o.site }),
    ...(o.token === undefined ? {} : { token: o.token }),
    ...(roomConfig === undefined ? {} : { config: roomConfig }),
    ...(resumePeerId === undefined ? {} : { resumePeerId }),
    ...(resumeKey === undefined ? {} : { resumeKey }),
    emulation: {
      slowdown: o.slowdown,
      ...(o.uplinkMbps === undefined ? {} : { uplinkBps: o.uplinkMbps * 1e6 }),
      ...(o.siteLinks === undefined ? {} : { sites: o.siteLinks }),
    },
    signaling: nodeSignaling(o.server, clock),
    rtc: nodeRtcConnector(),
    createTrainer: async (request) => {
      const inner: MeshTrainer = await threadTrainer(request);
      // The last export happens as the trainer is let go, whatever ended the run.
      const trainer: MeshTrainer = {
        ...inner,
        async dispose() {
          await exportNow(inner, 'leave');
          await inner.dispose();
        },
      };
      liveTrainer = trainer;
      print('backend', {
        backend: trainer.info.backend,
        requested: o.backend,
        why:
          trainer.info.backendNote === ''
            ? o.backend === 'cpu'
              ? 'cpu was asked for'
              : 'WebGPU adapter found through Dawn'
            : trainer.info.backendNote,
      });
      return trainer;
    },
    clock,
    random: Math.random,
    log: (level, message, fields) => {
      if (level === 'debug') return;
      print('log', { level, message, ...fields });
      // A checkpoint the trainer refused (another model or room under this name) would be
      // overwritten by the next save: it is kept beside, under another name, first.
      const reason = typeof fields?.reason === 'string' ? fields.reason : '';
      if (message === 'starting fresh' && o.stateDir !== undefined && reason.includes('refused')) {
        keepAside(o.stateDir, nodeCheckpointKey(o.room, name)).then(
          (kept) =>
            print('log', { level: 'warn', message: 'refused checkpoint kept aside', file: kept }),
          (err: unknown) =>
            print('log', {
              level: 'error',
              message: 'could not keep the refused checkpoint',
              error: String(err),
            }),
        );
      }
    },
    ...(o.maxSteps === undefined ? {} : { maxSteps: o.maxSteps }),
    statusEveryMs: 2000,
    checkpointEvery: o.stateDir === undefined ? 0 : o.checkpointEvery,
  });

  // ---- what it says ----------------------------------------------------------------------------
  let joined = false;
  let failedCode: string | undefined;
  let lastStepAt: number | undefined;
  let lastProgressStep = 0;
  let accuracy: number | null = null;
  let links = 0;
  let lastBatches = '';
  peer.subscribe((e: MeshEvent) => {
    switch (e.type) {
      case 'joined':
        joined = true;
        print('joined', {
          peerId: e.peerId,
          slot: e.slot,
          strategy: e.config.strategy,
          model: e.config.model,
          dataset: e.config.dataset,
          resumed: e.peerId === resumePeerId,
        });
        if (o.stateDir !== undefined && e.config.task !== undefined) {
          writeStateTask(o.stateDir, e.config.task).catch((err: unknown) =>
            print('log', { level: 'warn', message: 'could not keep the task', error: String(err) }),
          );
        }
        if (o.stateDir !== undefined) {
          const kept = { version: 1 as const, room: o.room, name, peerId: e.peerId };
          writeIdentity(
            o.stateDir,
            e.resumeKey === undefined ? kept : { ...kept, resumeKey: e.resumeKey },
          ).catch((err: unknown) =>
            print('log', {
              level: 'warn',
              message: 'could not keep the peer identity',
              error: String(err),
            }),
          );
        }
        return;
      case 'phase':
        if (e.phase === 'failed') failedCode = e.code ?? 'failed';
        print('phase', {
          phase: e.phase,
          detail: e.detail,
          ...(e.code === undefined ? {} : { code: e.code }),
        });
        return;
      case 'step': {
        lastStep = e.step;
        if (o.exportEvery > 0 && e.step % o.exportEvery === 0 && liveTrainer !== undefined) {
          void exportNow(liveTrainer, 'every');
        }
        if (e.step - lastProgressStep < o.progressEvery && lastProgressStep !== 0) return;
        const now = clock.now();
        const stepsPerS =
          lastStepAt === undefined
            ? null
            : ((e.step - lastProgressStep) * 1000) / Math.max(1, now - lastStepAt);
        lastStepAt = now;
        lastProgressStep = e.step;
        print('progress', {
          step: e.step,
          loss: Number(e.loss.toFixed(4)),
          batch: e.batchSize,
          weight: Number(e.weight.toFixed(3)),
          computeMs: Math.round(e.computeMs),
          stepsPerS: stepsPerS === null ? null : Number(stepsPerS.toFixed(2)),
          valAccuracy: accuracy,
          links,
          text: `step ${e.step} · loss ${e.loss.toFixed(3)} · batch ${e.batchSize} · ${links} link${links === 1 ? '' : 's'}${accuracy === null ? '' : ` · val acc ${(accuracy * 100).toFixed(1)}%`}`,
        });
        return;
      }
      case 'evaluation':
        // The DKT evaluation (the probe or the validation split); 'test' is a benchmark's.
        if (e.split !== 'test') accuracy = Number(e.accuracy.toFixed(4));
        return;
      case 'status':
        links = e.status.links.length;
        return;
      case 'rebalance': {
        // Re-balances that change nothing (a lone peer, the same batches) are not news.
        const batches = JSON.stringify(e.batches);
        if (batches === lastBatches) return;
        lastBatches = batches;
        print('rebalance', { reason: e.reason, batches: e.batches });
        return;
      }
      case 'peer-joined':
      case 'peer-left':
      case 'merge':
      case 'refused': {
        const { type, ...fields } = e;
        print(type, fields);
        return;
      }
      default:
        return;
    }
  });

  // ---- leaving ---------------------------------------------------------------------------------
  let unreachable = false;
  const cancelConnectTimer = clock.setTimer(o.connectTimeoutS * 1000, () => {
    if (joined || failedCode !== undefined) return;
    unreachable = true;
    print('error', {
      level: 'error',
      message: `the signaling server ${o.server} was not reached within ${o.connectTimeoutS} s (--connect-timeout)`,
      exitCode: EXIT.unreachable,
    });
    void peer.close();
  });
  let leaving = false;
  let leaveTimedOut = false;
  let cancelLeaveTimer = () => {};
  let giveUp = () => {};
  const gaveUp = new Promise<void>((resolve) => {
    giveUp = resolve;
  });
  const offSignal = io.onSignal((signal) => {
    if (leaving) return;
    leaving = true;
    print('leaving', { signal, detail: 'bye to every link, leave the room, a last checkpoint' });
    cancelLeaveTimer = clock.setTimer(LEAVE_TIMEOUT_MS, () => {
      leaveTimedOut = true;
      print('error', {
        level: 'error',
        message: `leaving took over ${LEAVE_TIMEOUT_MS} ms`,
        exitCode: EXIT.failure,
      });
      giveUp();
    });
    void peer.close();
  });

  await Promise.race([peer.stopped, gaveUp]);
  cancelConnectTimer();
  cancelLeaveTimer();
  offSignal();

  const code = leaveTimedOut
    ? EXIT.failure
    : unreachable
      ? EXIT.unreachable
      : failedCode !== undefined
        ? (SERVER_CODES[failedCode] ??
          // No code: the signaling client gave up before any welcome.
          (failedCode === 'failed' && !joined ? EXIT.unreachable : EXIT.failure))
        : EXIT.ok;
  print('exit', {
    code,
    phase: peer.phase(),
    step: peer.status()?.step ?? null,
    refusals: peer.refusals(),
  });
  return code;
}
