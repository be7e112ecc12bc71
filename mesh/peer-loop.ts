/**
 * The training loop of one peer (DESIGN.md 2, step 3): gate -> merge what arrived -> step with
 * the batch WDB assigns -> per-link send -> checkpoint, with knowledge transfer between steps,
 * until the peer closes or reaches maxSteps.
 */

import {
  addPayloadInto,
  bandwidthBytesPerSec,
  hopSkip,
  l2Norm,
  lastSteps,
  medianStepMs,
  type PeerId,
  progressingPeers,
  recordStepTime,
  sendBudgetBytes,
} from '../core';
import { recordHistory, weighUpdate } from './aggregation';
import { rebalance } from './batching';
import { buildUpdates } from './exchange';
import { backlogOpen, countedPeers, gateOpen, gateStaleness } from './gate-policy';
import type { KnowledgeTransfer } from './knowledge-transfer';
import type { PeerContext } from './peer-context';

/** What the loop drives in the rest of the peer. */
export interface LoopDeps {
  readonly dkt: Pick<KnowledgeTransfer, 'runDkt' | 'dktDue' | 'decide' | 'mergeIncoming'>;
  postStatus(): void;
  shutdown(graceful: boolean): Promise<void>;
}

/** Runs the loop; resolves when the peer is closing or has finished. */
export async function runLoop(ctx: PeerContext, deps: LoopDeps): Promise<void> {
  const { o, s, clock, log, emit, exclusive, setPhase } = ctx;
  const { dkt } = deps;
  const cfg = s.config!;
  const t = s.traits!;

  const staleness = (): number => gateStaleness(cfg, t);
  // Liveness is progress: a linked peer that stopped stepping is not waited for (DESIGN.md 10).
  const counted = (): PeerId[] =>
    countedPeers(
      progressingPeers(s.membership, clock.now(), medianStepMs(s.stepTimes)),
      s.remotes,
      s.stepIndex,
      staleness(),
    );

  /** Assigns this step's batch and weight (WDB or equal), announcing a recomputation. */
  const assignBatch = () => {
    const out = rebalance({
      self: s.selfId!,
      capacity: s.capacity,
      counted: counted(),
      remotes: s.remotes,
      step: s.stepIndex,
      membershipVersion: s.membership.version,
      config: cfg,
      batching: t.batching,
      state: s.rebalanceState,
      batches: s.batches,
    });
    s.batches = out.batches;
    s.weights = out.weights;
    s.rebalanceState = out.state;
    if (out.event !== undefined) emit({ type: 'rebalance', ...out.event });
    s.batchSize = out.batchSize;
    s.weight = out.weight;
  };

  const send = async (gradient: Float32Array, b: number) => {
    const ex = s.exchange!;
    const ready = [...s.remotes.values()].filter(
      (r) => r.ready && r.session.isOpen() && s.membership.members.has(r.id),
    );
    if (ready.length === 0) return;
    const stepMs = Math.max(1, s.stepMsEstimate);
    const params = ex.exchange === 'gaia' ? await exclusive((tr) => tr.getParams()) : undefined;
    const out = buildUpdates(
      ex,
      gradient,
      {
        step: s.stepIndex,
        batchSize: b,
        capacity: Math.min(3.4e38, Math.max(0, s.capacity)),
        weight: Math.min(1, Math.max(0, s.weight)),
        paramCount: gradient.length,
        valueType: s.config!.valueType,
      },
      ready.map((r) => ({
        id: r.id,
        drained: r.session.drained(),
        budgetBytes: sendBudgetBytes(r.session.estimator, stepMs),
        bandwidthBytesPerSec: bandwidthBytesPerSec(r.session.estimator),
      })),
      { stepMs, step: s.stepIndex, ...(params === undefined ? {} : { params }) },
    );
    if (out instanceof Error) {
      log('error', 'exchange refused our own gradient', { error: out.message });
      return;
    }
    for (const u of out) {
      const r = s.remotes.get(u.to);
      if (r === undefined) continue;
      if (u.message !== undefined) r.session.send(u.message, u.appLimited);
      // Skipped (the link is still busy): the step goes out at once, past the queue; what
      // was not sent waits in the residual.
      else
        r.session.sendControlNow({
          type: 'mesh/heartbeat',
          step: s.stepIndex,
          capacity: Math.max(0, s.capacity),
          batchSize: b,
        });
    }
  };

  const testEveryMs = o.testEveryMs;
  let lastTestAt = Number.NEGATIVE_INFINITY;
  /** See backlogOpen: every strategy but DLion's prioritized exchange queues each update. */
  const sendBacklogOpen = (): boolean => {
    if (s.exchange === undefined || s.exchange.exchange === 'prioritized') return true;
    const queued = [...s.remotes.values()]
      .filter((r) => r.ready && r.session.isOpen() && s.membership.members.has(r.id))
      .map((r) => r.session.queuedMessages());
    return backlogOpen(queued, 1, t.backupPeers);
  };

  let iterationStart = clock.now();
  while (!s.closing) {
    // tfjs on the cpu backend resolves its promises as microtasks: without a real yield the
    // loop would starve the event loop, and with it every socket and data channel.
    await new Promise<void>((resolve) => clock.setTimer(0, resolve));
    if (s.paused) {
      await ctx.waitChange(500);
      continue;
    }
    if (dkt.dktDue()) await dkt.runDkt();
    // A round waiting for reports decides here once its wait is over.
    dkt.decide();
    if (testEveryMs !== undefined && clock.now() - lastTestAt >= testEveryMs) {
      lastTestAt = clock.now();
      const ev = await exclusive((tr) => tr.evaluate('test'));
      emit({
        type: 'evaluation',
        step: s.stepIndex,
        loss: ev.loss,
        accuracy: ev.accuracy,
        split: 'test',
        atMs: clock.now(),
      });
    }
    if (s.incomingParams.length > 0) await dkt.mergeIncoming();
    if (s.closing) break;
    if (t.skipIterations) {
      const skip = hopSkip(s.stepIndex - 1, [...lastSteps(s.membership).values()], staleness());
      if (skip.skipTo !== undefined) {
        log('info', 'hop: skipping ahead', { from: s.stepIndex, to: skip.skipTo + 1 });
        s.stepIndex = skip.skipTo + 1;
      }
    }
    const open = gateOpen({
      step: s.stepIndex,
      staleness: staleness(),
      counted: counted(),
      lastSteps: lastSteps(s.membership),
      backupPeers: t.backupPeers,
    });
    if (!open || !sendBacklogOpen()) {
      await ctx.waitChange(250);
      continue;
    }
    // Merge: our own weighted gradient of the last step plus everything that arrived.
    if (s.own !== undefined || s.pendingHasData) {
      // Swap the accumulator before the await: an update that arrives while the trainer
      // applies this one goes into the fresh array, not into one already handed over.
      const update = s.pending!;
      s.pending = new Float32Array(update.length);
      s.pendingHasData = false;
      const own = s.own;
      s.own = undefined;
      if (own !== undefined) for (let i = 0; i < update.length; i++) update[i]! += own[i]!;
      const applied = await exclusive((tr) => tr.apply(update));
      if (applied instanceof Error) log('error', 'apply refused', { error: applied.message });
    }
    assignBatch();
    const result = await exclusive((tr) => tr.step(s.batchSize));
    if (result instanceof Error) {
      log('error', 'step failed', { error: result.message });
      await ctx.waitChange(1000);
      continue;
    }
    // The trainer service reports the capacity with the step: no second round trip.
    s.capacity = result.capacity ?? (await exclusive((tr) => tr.capacity()));
    // computeMs already includes the emulated slowdown: it is the compute time the mesh sees.
    const stepMs = result.computeMs;
    recordStepTime(s.stepTimes, clock.now() - iterationStart);
    s.stepMsEstimate =
      s.stepMsEstimate === 0 ? stepMs : s.stepMsEstimate + 0.3 * (stepMs - s.stepMsEstimate);
    const g = result.gradient;
    // Our own norm is one of the references that bound the others' updates (core/robust.ts).
    s.norms.set(s.selfId!, l2Norm(g));
    recordHistory(s, s.selfId!, { encoding: 'dense', values: g }, g.length);
    // What arrived before our first step can be judged now.
    for (const d of s.deferred.splice(0)) {
      const weighed = weighUpdate(s, d.from, d.payload, g.length);
      if (weighed.clipped !== undefined) ctx.refuse('clipped-update', weighed.clipped, d.from);
      if (weighed.scale > 0) {
        addPayloadInto(s.pending!, d.payload, weighed.scale);
        s.pendingHasData = true;
      }
    }
    const own = new Float32Array(g.length);
    for (let i = 0; i < g.length; i++) own[i] = s.weight * g[i]!;
    s.own = own;
    await send(g, result.batchSize);
    const now = clock.now();
    emit({
      type: 'step',
      step: s.stepIndex,
      batchSize: result.batchSize,
      weight: s.weight,
      loss: result.loss,
      computeMs: result.computeMs,
      iterationMs: now - iterationStart,
      atMs: now,
    });
    iterationStart = now;
    s.stepIndex++;
    const every = o.checkpointEvery ?? 100;
    if (every > 0 && s.stepIndex % every === 0) {
      const saved = await exclusive((tr) => tr.saveCheckpoint());
      if (saved instanceof Error) log('warn', 'checkpoint failed', { error: saved.message });
    }
    if (o.maxSteps !== undefined && s.stepIndex >= o.maxSteps) {
      if (s.own !== undefined) {
        const last = s.own;
        s.own = undefined;
        await exclusive((tr) => tr.apply(last));
      }
      await dkt.runDkt();
      deps.postStatus();
      setPhase('finished', `finished after ${s.stepIndex} steps`);
      // Done: leave the room cleanly (bye on every link, last checkpoint), so `stopped` resolves.
      await deps.shutdown(true);
      return;
    }
  }
}
