/**
 * The sim mode: the real peer runtime (createPeer, with every strategy's gate, exchange,
 * WDB, bandwidth estimation, shaper and DKT exactly as in a tab or a kiosk) and the real
 * tfjs training, run on a virtual clock. Links are in-memory; the emulation shaper paces them
 * at the scenario's caps in virtual time, and compute is charged from the measured cost table
 * (sim-trainer.ts). What the sim leaves out, and so does not charge: the CPU time of the
 * runtime's own bookkeeping (top-k selection, encoding), and signaling beyond a fixed 2 ms.
 */

import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { mulberry32, type PeerId, type StrategyName } from '../../core';
import {
  type Adversary,
  type AttackKind,
  createPeer,
  type MeshLogger,
  type MeshPeer,
  startAdversary,
} from '../../mesh';
import { createMemoryNetwork } from '../../mesh/memory-link';
import { createVirtualClock, nodeTrainerFactory } from '../../mesh/node';
import { roomConfigFor, siteShapingFor } from './scenario';
import { createSimSignaling } from './sim-signaling';
import { type ComputeCosts, simTrainerFactory } from './sim-trainer';
import type {
  AttackOutcome,
  CurvePoint,
  LinkBytes,
  PeerDetail,
  Scenario,
  StrategyRun,
} from './types';

export interface SimOptions {
  readonly costs: ComputeCosts;
  /** Seeds each peer's randomness (ids of DKT tie-breaks, jitter). */
  readonly seed: number;
  /** Runtime log lines (info and up) go to LOGDIR/STRATEGY.log, stamped with virtual ms. */
  readonly logDir: string | undefined;
  readonly progress: (line: string) => void;
  /**
   * Adversaries in place of `count` peers from the third on (p3, then p4, ...): the run
   * measures the honest peers only. `undefended` is recorded with the outcome (the caller sets
   * the room config).
   */
  readonly attack?: {
    readonly kind: AttackKind;
    readonly count: number;
    readonly undefended: boolean;
  };
}

/** Milliseconds of virtual time between an adversary's steps. */
const ADVERSARY_EVERY_MS = 50;

export class SimError extends Error {
  override name = 'SimError';
}

/** Virtual seconds a run may spend joining before the first accuracy sample is due. */
const JOIN_GRACE_MS = 60_000;

/**
 * Runs one strategy of a scenario for its budget of virtual seconds.
 *
 * @example const run = await runSim(await loadScenario('both'), 'dlion', { costs, seed: 1, ... });
 */
export async function runSim(
  scenario: Scenario,
  strategy: StrategyName,
  o: SimOptions,
): Promise<StrategyRun> {
  const wallStart = performance.now();
  const clock = createVirtualClock();
  const hub = createSimSignaling(clock);
  const network = createMemoryNetwork({ clock });
  const room = `sim-${scenario.name}-${strategy}`;
  const { factory, trainers } = simTrainerFactory(clock, o.costs, room, scenario.testSamples);
  const config = roomConfigFor(scenario, strategy);
  const logFile = o.logDir === undefined ? undefined : join(o.logDir, `${strategy}.log`);
  const logFor =
    (name: string): MeshLogger =>
    (level, message, fields) => {
      if (logFile === undefined || level === 'debug') return;
      const line = { t: Math.round(clock.now()), peer: name, level, message, ...fields };
      appendFileSync(logFile, `${JSON.stringify(line)}\n`);
    };

  const names = new Map<PeerId, string>();
  const merges = { kept: 0, rolledBack: 0 };
  const detail = new Map<string, { steps: number; batch: number; computeMs: number }>();
  const sites = siteShapingFor(scenario);
  const replaced = new Set<number>();
  for (let k = 0; k < (o.attack?.count ?? 0); k++) replaced.add(2 + k);
  if (replaced.size > 0 && Math.max(...replaced) >= scenario.peers.length) {
    throw new SimError(
      `--attackers ${replaced.size}: the scenario has ${scenario.peers.length} peers, and p1 and p2 stay honest`,
    );
  }
  const rebalances: Record<string, number>[] = [];
  const slots: (MeshPeer | undefined)[] = scenario.peers.map((p, i) => {
    if (replaced.has(i)) return undefined;
    const peer = createPeer({
      room,
      name: p.name,
      kind: 'kiosk',
      ...(p.site === undefined ? {} : { site: p.site }),
      config,
      emulation: {
        slowdown: p.slowdown,
        ...(p.uplinkMbps === undefined ? {} : { uplinkBps: p.uplinkMbps * 1e6 }),
        ...(p.latencyMs === undefined ? {} : { latencyMs: p.latencyMs }),
        ...(sites === undefined ? {} : { sites }),
      },
      signaling: (hello) => hub.connect(hello),
      rtc: network.connector(),
      createTrainer: factory,
      clock,
      random: mulberry32(o.seed * 1000 + i + 1),
      log: logFor(p.name),
      statusEveryMs: 2000,
      checkpointEvery: 0,
    });
    const d = { steps: 0, batch: 0, computeMs: 0 };
    detail.set(p.name, d);
    peer.subscribe((e) => {
      if (e.type === 'joined') names.set(e.peerId, p.name);
      else if (e.type === 'merge') {
        if (e.merge.rolledBack) merges.rolledBack++;
        else merges.kept++;
      } else if (e.type === 'step') {
        d.steps++;
        d.batch += e.batchSize;
        d.computeMs += e.computeMs;
      } else if (e.type === 'phase' && e.phase === 'failed') {
        o.progress(`[sim ${strategy}] ${p.name} failed: ${e.detail}`);
      } else if (e.type === 'rebalance' && replaced.size > 0) {
        rebalances.push(e.batches);
      }
    });
    return peer;
  });
  const peers = slots.filter((p): p is MeshPeer => p !== undefined);
  const adversaries: Adversary[] = [];
  for (const c of scenario.timeline) {
    clock.setTimer(c.atS * 1000, () => {
      slots[c.peer]?.setEmulation({
        ...(c.slowdown === undefined ? {} : { slowdown: c.slowdown }),
        ...(c.uplinkMbps === undefined ? {} : { uplinkBps: c.uplinkMbps * 1e6 }),
      });
    });
  }

  // The observer: the test accuracy of every peer's current parameters, on one evaluator
  // that is not part of the mesh and costs no virtual time.
  const evaluator = await nodeTrainerFactory({
    room,
    name: 'observer',
    testSamples: scenario.testSamples,
  })({
    peerId: 'observer' as PeerId,
    config: hub.config() ?? (await waitConfig(clock, hub)),
    slot: 0,
  });
  const curve: CurvePoint[] = [];
  const observe = async (tMs: number): Promise<boolean> => {
    const live = trainers.filter((h) => names.has(h.request.peerId));
    if (live.length < peers.length) return false;
    let sum = 0;
    let min = 1;
    let steps = 0;
    for (const h of live) {
      const r = await evaluator.setParams(await h.inner.getParams());
      if (r instanceof Error) throw new SimError(`observer: ${r.message}`);
      const ev = await evaluator.evaluate('test');
      sum += ev.accuracy;
      min = Math.min(min, ev.accuracy);
      steps += await h.inner.steps();
    }
    curve.push({
      t: tMs / 1000,
      accuracy: sum / live.length,
      minAccuracy: min,
      step: steps / live.length,
    });
    return true;
  };

  try {
    const everyMs = scenario.evalEveryS * 1000;
    const budgetMs = scenario.budgetS * 1000;
    // Wait (in virtual time) until every peer has its trainer, then take the t = 0 sample.
    let joinedAt = 0;
    while (!(await observe(0))) {
      if (clock.now() > JOIN_GRACE_MS) {
        throw new SimError(
          `only ${trainers.length} of ${peers.length} peers started within ${JOIN_GRACE_MS / 1000} virtual s`,
        );
      }
      await clock.runUntil(clock.now() + 10);
      joinedAt = clock.now();
    }
    curve.length = 0;
    await observe(0);
    if (o.attack !== undefined) {
      for (const i of replaced) {
        adversaries.push(
          startAdversary({
            signaling: (hello) => hub.connect(hello),
            room,
            kind: o.attack.kind,
            rtc: network.connector(),
            clock,
            paramCount: evaluator.info.paramCount,
            modelFingerprint: evaluator.info.fingerprint,
            everyMs: ADVERSARY_EVERY_MS,
            name: scenario.peers[i]!.name,
            seed: o.seed * 1000 + i + 1,
          }),
        );
      }
    }
    let lastPrint = performance.now();
    for (let t = everyMs; t <= budgetMs + 1e-6; t += everyMs) {
      await clock.runUntil(joinedAt + t);
      await observe(t);
      if (performance.now() - lastPrint > 10_000 || t + everyMs > budgetMs + 1e-6) {
        lastPrint = performance.now();
        const last = curve[curve.length - 1]!;
        const steps = [...detail].map(([n, d]) => `${n}=${d.steps}`).join(' ');
        o.progress(
          `[sim ${strategy}] t=${(t / 1000).toFixed(0)}/${scenario.budgetS} s acc=${last.accuracy.toFixed(3)} steps ${steps} (${((performance.now() - wallStart) / 1000).toFixed(0)} s real)`,
        );
      }
    }
    const links: LinkBytes[] = [];
    for (const p of peers) {
      const st = p.status();
      if (st === undefined) continue;
      const from = names.get(st.id) ?? st.id;
      for (const l of st.links) {
        links.push({
          from,
          to: names.get(l.to) ?? l.to,
          bytesSent: l.bytesSent,
          sentFraction: l.sentFraction,
          estimatedMbps: (l.bandwidthBps * 8) / 1e6,
          ...(l.capBps === undefined ? {} : { capMbps: (l.capBps * 8) / 1e6 }),
        });
      }
    }
    const elapsedMs = clock.now() - joinedAt;
    const peerDetail: PeerDetail[] = scenario.peers.flatMap((p) => {
      const d = detail.get(p.name);
      if (d === undefined) return [];
      return {
        name: p.name,
        steps: d.steps,
        meanBatch: d.steps === 0 ? 0 : d.batch / d.steps,
        computeShare: elapsedMs > 0 ? d.computeMs / elapsedMs : 0,
      };
    });
    let attack: AttackOutcome | undefined;
    if (o.attack !== undefined) {
      const refusals: Record<string, number> = {};
      for (const p of peers) {
        for (const [kind, n] of Object.entries(p.refusals())) {
          if (n > 0) refusals[kind] = (refusals[kind] ?? 0) + n;
        }
      }
      const ids = new Set(adversaries.map((a) => a.id()).filter((id) => id !== undefined));
      const shares = rebalances
        .filter((b) => Object.keys(b).some((id) => ids.has(id as PeerId)))
        .map((b) => {
          let all = 0;
          let theirs = 0;
          for (const [id, n] of Object.entries(b)) {
            all += n;
            if (ids.has(id as PeerId)) theirs += n;
          }
          return all > 0 ? theirs / all : 0;
        });
      attack = {
        kind: o.attack.kind,
        replaced: [...replaced].map((i) => scenario.peers[i]!.name),
        undefended: o.attack.undefended,
        refusals,
        adversaryShare: shares.length === 0 ? 0 : shares.reduce((a, b) => a + b, 0) / shares.length,
      };
    }
    return {
      ...(attack === undefined ? {} : { attack }),
      strategy,
      curve,
      bytesSent: links.reduce((a, l) => a + l.bytesSent, 0),
      links,
      steps: Object.fromEntries(peerDetail.map((d) => [d.name, d.steps])),
      merges,
      wallS: (performance.now() - wallStart) / 1000,
      peers: peerDetail,
    };
  } finally {
    for (const a of adversaries) a.close();
    // Leave cleanly (bye on the links, sig/leave), on the virtual clock like everything else.
    const closing = Promise.all(peers.map((p) => p.close()));
    let done = false;
    void closing.then(() => {
      done = true;
    });
    const deadline = clock.now() + 30_000;
    while (!done && clock.now() < deadline) await clock.runUntil(clock.now() + 100);
    await evaluator.dispose();
    for (const h of trainers) await h.dispose().catch(() => undefined);
  }
}

/** Runs the clock until the first peer has created the room (its config is the evaluator's). */
async function waitConfig(
  clock: ReturnType<typeof createVirtualClock>,
  hub: ReturnType<typeof createSimSignaling>,
) {
  for (let i = 0; i < 1000; i++) {
    const c = hub.config();
    if (c !== undefined) return c;
    await clock.runUntil(clock.now() + 1);
  }
  throw new SimError('no peer created the room');
}
