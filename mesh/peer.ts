/**
 * createPeer: one peer of a training mesh (DESIGN.md 2 to 5), the same code in a browser tab
 * and in a Node kiosk. It joins the room through signaling, opens one link per remote peer,
 * and runs the loop: staleness gate -> step with the batch WDB assigns -> per-link send ->
 * merge what arrived -> status; knowledge transfer and churn handling run beside it.
 *
 * This file wires the parts and owns start and stop: peer-context.ts (shared state and
 * services), peer-signaling.ts, peer-links.ts, knowledge-transfer.ts, join-sync.ts and
 * peer-loop.ts; the decisions are pure functions in gate-policy.ts, batching.ts,
 * peer-status.ts, refusals.ts and server-errors.ts.
 */

import type { PeerStatus } from '../core';
import type { MeshPeer } from './events';
import { createExchangeState } from './exchange';
import { joinSync } from './join-sync';
import { createKnowledgeTransfer } from './knowledge-transfer';
import { createPeerContext, createPeerState } from './peer-context';
import { createPeerLinks } from './peer-links';
import { runLoop } from './peer-loop';
import { createSignalingHandler, signalingHello } from './peer-signaling';
import { buildStatus, linkStatuses } from './peer-status';
import type { PeerOptions, RtcLinkOptions } from './types';

export { MAX_UPDATE_ABS } from './refusals';

const HEARTBEAT_MS = 1000;
const EXPIRE_CHECK_MS = 1000;

/**
 * Starts a peer. The returned handle is live at once; `stopped` resolves when it ends.
 * @example const peer = createPeer({ room: 'lab', name: 'tab-1', kind: 'browser', signaling, rtc,
 *   createTrainer, clock, random: Math.random }); peer.subscribe((e) => console.log(e));
 */
export function createPeer(o: PeerOptions): MeshPeer {
  const s = createPeerState(o);
  const signaling = o.signaling(() => signalingHello(o, s.selfId));
  const ctx = createPeerContext(o, s, signaling);
  const { log, clock, emit, setPhase, exclusive } = ctx;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => {
    resolveStopped = r;
  });

  const dkt = createKnowledgeTransfer(ctx);
  const links = createPeerLinks(ctx, dkt);
  const unsubscribeSignaling = signaling.subscribe(
    createSignalingHandler(ctx, {
      connectTo: links.connectTo,
      dropRemote: links.dropRemote,
      start: (slot, servers) => start(slot, servers),
      shutdown: (graceful) => shutdown(graceful),
    }),
  );

  // ---- status ------------------------------------------------------------------------------

  const currentStatus = (): PeerStatus | undefined => {
    const { selfId, trainer, config } = s;
    if (selfId === undefined || !trainer || !config) return undefined;
    return buildStatus({
      id: selfId,
      name: o.name,
      kind: o.kind,
      site: o.site,
      backend: trainer.info.backend,
      backendNote: trainer.info.backendNote,
      strategy: config.strategy,
      step: s.stepIndex,
      batchSize: s.batchSize,
      weight: s.weight,
      capacity: s.capacity,
      lastEval: s.lastEval,
      paused: s.paused,
      data: trainer.info.data,
      links: linkStatuses(s.remotes.values(), s.exchange),
      merges: s.merges,
    });
  };

  const postStatus = () => {
    const status = currentStatus();
    if (status === undefined) return;
    s.status = status;
    signaling.send({ type: 'sig/status', status });
    emit({ type: 'status', status });
  };

  // ---- start -------------------------------------------------------------------------------

  const start = async (slot: number, servers: RtcLinkOptions['iceServers']) => {
    s.iceServers = servers;
    const cfg = s.config!;
    let trainer: NonNullable<typeof s.trainer>;
    try {
      trainer = await o.createTrainer({ peerId: s.selfId!, config: cfg, slot });
      s.trainer = trainer;
    } catch (error) {
      setPhase('failed', `the trainer could not start: ${String(error)}`, 'trainer');
      await shutdown(false);
      return;
    }
    if (s.closing) {
      await trainer.dispose();
      return;
    }
    const info = trainer.info;
    s.pending = new Float32Array(info.paramCount);
    s.exchange = createExchangeState({
      exchange: s.traits!.exchange,
      paramCount: info.paramCount,
      valueType: cfg.valueType,
      layerSizes: info.layerSizes,
      learningRate: cfg.learningRate,
    });
    if (s.emulation.slowdown !== 1) await exclusive((t) => t.setSlowdown(s.emulation.slowdown));
    const restored = await exclusive((t) => t.restoreCheckpoint());
    if (restored.restored) {
      s.stepIndex = restored.step;
      log('info', 'resumed from checkpoint', { step: s.stepIndex });
    } else {
      log('info', 'starting fresh', { reason: restored.reason });
    }
    // Links to the peers listed in the welcome, and to those whose offers waited.
    // Peers that joined after us open the links to us: their offers may be waiting already.
    for (const id of [...s.bufferedSignals.keys()]) links.connectTo(id, false);
    for (const id of s.listedInWelcome) links.connectTo(id, true);
    ctx.every(HEARTBEAT_MS, links.heartbeat);
    ctx.every(EXPIRE_CHECK_MS, links.expireSilent);
    ctx.every(o.statusEveryMs ?? 3000, postStatus);
    try {
      await joinSync(ctx);
      if (s.closing) return;
      setPhase(s.paused ? 'paused' : 'training', 'training');
      await runLoop(ctx, { dkt, postStatus, shutdown: (graceful) => shutdown(graceful) });
    } catch (error) {
      // Nothing a peer sends may end the process: an error that escapes the loop (a bug, or a
      // value the checks missed) fails this peer, logged, and it leaves cleanly.
      const message = error instanceof Error ? error.message : String(error);
      setPhase('failed', `the training loop stopped: ${message}`, 'loop');
      await shutdown(true);
    }
  };

  // ---- stop --------------------------------------------------------------------------------

  let shutdownPromise: Promise<void> | undefined;
  const shutdown = (graceful: boolean): Promise<void> => {
    if (shutdownPromise) return shutdownPromise;
    shutdownPromise = (async () => {
      s.closing = true;
      ctx.notify();
      ctx.cancelTimers();
      if (graceful && s.trainer) {
        postStatus();
        for (const r of s.remotes.values()) {
          if (r.session.isOpen()) r.session.sendControl({ type: 'mesh/bye', reason: 'leaving' });
        }
        const saved = await exclusive((t) => t.saveCheckpoint()).catch((e: unknown) => e as Error);
        if (saved instanceof Error) log('warn', 'last checkpoint failed', { error: saved.message });
      }
      // Give the byes a moment to leave before the channels close.
      if (graceful && s.remotes.size > 0) await new Promise<void>((r) => clock.setTimer(100, r));
      for (const r of [...s.remotes.values()]) r.session.close('peer closed');
      s.remotes.clear();
      unsubscribeSignaling();
      signaling.close();
      await ctx.trainerSettled();
      await s.trainer?.dispose();
      if (s.phase !== 'failed' && s.phase !== 'finished') setPhase('closed', 'left the room');
      resolveStopped();
    })();
    return shutdownPromise;
  };

  return {
    id: () => s.selfId,
    phase: () => s.phase,
    // After leaving, the last status posted (links included) rather than an empty mesh.
    status: () => (s.closing ? s.status : (currentStatus() ?? s.status)),
    refusals: () => ({ ...ctx.refusals }),
    subscribe(listener) {
      ctx.listeners.add(listener);
      return () => ctx.listeners.delete(listener);
    },
    setEmulation(change) {
      s.emulation = { ...s.emulation, ...change };
      if (change.slowdown !== undefined && s.trainer) {
        void exclusive((t) => t.setSlowdown(s.emulation.slowdown)).then((r) => {
          if (r instanceof Error) log('warn', 'slowdown refused', { error: r.message });
        });
      }
      emit({ type: 'emulation', emulation: s.emulation });
    },
    pause() {
      if (s.paused) return;
      s.paused = true;
      if (s.phase === 'training') setPhase('paused', 'paused by the user');
    },
    resume() {
      if (!s.paused) return;
      s.paused = false;
      if (s.phase === 'paused') setPhase('training', 'training');
      ctx.notify();
    },
    async exportModel() {
      if (!s.trainer || s.closing) return new Error('the peer has no trainer running');
      try {
        // One exclusive section: the accuracy is that of the weights written.
        return await exclusive(async (t) => {
          const test = await t.evaluate('test');
          const files = await t.exportModel();
          return files instanceof Error ? files : { files, step: s.stepIndex, test };
        });
      } catch (e) {
        return e instanceof Error ? e : new Error(String(e));
      }
    },
    stopped,
    close: () => shutdown(true),
  };
}
