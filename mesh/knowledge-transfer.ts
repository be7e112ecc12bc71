/**
 * Direct knowledge transfer (DESIGN.md 3.5) as a peer runs it: evaluate (on the room's
 * dktEvaluateOn split: the common probe by default) and broadcast the report, in rounds that
 * every peer joins (core/dkt.ts, DktRound); once the round's reports are in, ask the best peer
 * for its parameters; serve ours when asked; merge what arrives with the rollback guard: the
 * offered model is measured first (a false claim of its loss distrusts its source at once),
 * and the merge is kept only when it strictly improves our loss on the DKT split (DESIGN.md 10).
 * Join sync (join-sync.ts) reuses the same request/params path.
 */

import {
  claimIsFalse,
  DEFAULT_ROOM_CONFIG,
  type DktReport,
  decideRound,
  distrust,
  encodeParams,
  isValidReport,
  joinsRound,
  MAX_MERGES,
  type MergeEvent,
  type ParamsMessage,
  settleMerge,
  startRound,
} from '../core';
import type { PeerContext, Remote } from './peer-context';

/** An unanswered request for parameters blocks a new one for this long. */
const DKT_REQUEST_TIMEOUT_MS = 30_000;

export interface KnowledgeTransfer {
  /** Evaluates, reports to every ready peer and starts our part of a round. */
  runDkt(): Promise<void>;
  /** Whether a DKT evaluation is due: our period is up, or a round we should join started. */
  dktDue(): boolean;
  /** A report arrived: join its round if it is a new one, and decide if the round is complete. */
  onReport(): void;
  /** Decides the current round once its reports are in or its wait is over: ask the best. */
  decide(): void;
  /** Merges the oldest parameters that arrived, keeping or rolling back by the guard. */
  mergeIncoming(): Promise<void>;
  /** Sends our parameters to `r`, which asked for them. */
  serveParams(r: Remote, purpose: 'dkt' | 'join'): Promise<void>;
  /** Parameters arrived on a link: queued when we asked for them, refused otherwise. */
  onParams(r: Remote, p: ParamsMessage): void;
}

export function createKnowledgeTransfer(ctx: PeerContext): KnowledgeTransfer {
  const { s, clock, log, emit, exclusive, refuse, notify } = ctx;
  const split = () => s.config?.dktEvaluateOn ?? DEFAULT_ROOM_CONFIG.dktEvaluateOn;
  const periodMs = () => (s.config?.dktPeriodSec ?? DEFAULT_ROOM_CONFIG.dktPeriodSec) * 1000;
  /** Set when a report from a newer round arrived: evaluate at the next chance. */
  let joinPending = false;

  const dktDue = () => joinPending || clock.now() - s.lastDktAt >= periodMs();

  const runDkt = async () => {
    joinPending = false;
    s.lastDktAt = clock.now();
    const evalSplit = split();
    const ev = await exclusive((t) => t.evaluate(evalSplit));
    if (await keepGoodModel(ev.loss)) return;
    const now = clock.now();
    if (Number.isFinite(ev.loss)) s.lastEval = { loss: ev.loss, accuracy: ev.accuracy, atMs: now };
    emit({
      type: 'evaluation',
      step: s.stepIndex,
      loss: ev.loss,
      accuracy: ev.accuracy,
      split: evalSplit,
      atMs: now,
    });
    const report: DktReport = {
      peer: s.selfId!,
      loss: ev.loss,
      accuracy: ev.accuracy,
      step: s.stepIndex,
      atMs: now,
    };
    if (!isValidReport(report) || !(ev.loss < 1e9)) return;
    s.reports.set(s.selfId!, report);
    for (const r of s.remotes.values()) {
      if (r.ready) {
        r.session.sendControl({
          type: 'mesh/report',
          step: s.stepIndex,
          loss: ev.loss,
          accuracy: ev.accuracy,
          samples: ev.samples,
        });
      }
    }
    s.dktRound = startRound(report.step, now, periodMs(), s.stepMsEstimate);
    decide();
  };

  /**
   * Keeps our best parameters by this evaluation; a loss past rollbackFactor x the best (plus
   * dktDelta), or no finite loss at all, rolls back to them. True when it rolled back (the
   * evaluation is then not reported: it was of a model we no longer hold).
   */
  const keepGoodModel = async (loss: number): Promise<boolean> => {
    const cfg = s.config;
    if (cfg === undefined) return false;
    const best = s.best;
    const factor = cfg.rollbackFactor;
    const jumped =
      best !== undefined &&
      factor > 0 &&
      (!Number.isFinite(loss) || loss > factor * best.loss + cfg.dktDelta);
    if (jumped) {
      const set = await exclusive((t) => t.setParams(best.params.slice()));
      if (set instanceof Error) return false;
      refuse(
        'loss-jump',
        `our loss ${loss} jumped past ${factor} x the best ${best.loss} (step ${best.step}): back to that model`,
      );
      return true;
    }
    if (Number.isFinite(loss) && (best === undefined || loss < best.loss)) {
      s.best = { loss, step: s.stepIndex, params: await exclusive((t) => t.getParams()) };
    }
    return false;
  };

  const onReport = () => {
    if (joinsRound({ lastEvalAtMs: s.lastDktAt, periodMs: periodMs(), nowMs: clock.now() })) {
      joinPending = true;
      notify();
    }
    decide();
  };

  const decide = () => {
    const round = s.dktRound;
    if (round === undefined || round.decided || s.selfId === undefined || !s.config) return;
    const now = clock.now();
    const cfg = s.config;
    const ask = decideRound(
      s.selfId,
      round,
      s.reports.values(),
      s.membership.members.keys(),
      { epsilon: cfg.dktEpsilon, maxAgeMs: cfg.dktPeriodSec * 3000 },
      s.trust,
      now,
    );
    if (ask === 'wait' || !ask.ask || !s.traits?.dkt) return;
    if (s.request !== undefined && now - s.request.atMs < DKT_REQUEST_TIMEOUT_MS) return;
    const source = s.remotes.get(ask.from);
    if (!source?.ready) return;
    s.request = { to: ask.from, purpose: 'dkt', atMs: now };
    source.session.sendControl({ type: 'mesh/dkt-request', step: s.stepIndex, purpose: 'dkt' });
  };

  const mergeIncoming = async () => {
    const got = s.incomingParams.shift();
    if (got === undefined || !s.config) return;
    const cfg = s.config;
    const evalSplit = split();
    // Our loss before: this round's own report when there is one (an evaluation a few steps
    // old), else a fresh one. Every evaluation here is time taken from training.
    const own = s.reports.get(s.selfId!);
    const before =
      own !== undefined && s.dktRound !== undefined && own.atMs >= s.dktRound.startedAtMs
        ? { loss: own.loss, accuracy: own.accuracy }
        : await exclusive((t) => t.evaluate(evalSplit));
    const saved = await exclusive((t) => t.getParams());
    // The offered model itself, measured where its claim was made (the common probe; not where
    // each peer's 'probe' is its own held-out split): a source whose claim is far better than
    // the model it sent loses our trust at once.
    if (evalSplit === 'probe' && s.trainer?.info.data?.probe !== 'own') {
      // Copies: what a trainer is handed is taken (MeshTrainer), and both arrays are used again.
      const set = await exclusive((t) => t.setParams(got.message.values.slice()));
      if (set instanceof Error) {
        refuse('bad-params', set.message, got.from);
        return;
      }
      const offered = await exclusive((t) => t.evaluate('probe'));
      await exclusive((t) => t.setParams(saved.slice()));
      if (claimIsFalse(got.message.loss, offered.loss)) {
        distrust(s.trust, got.from);
        refuse(
          'false-claim',
          `${got.from} claimed a loss of ${got.message.loss} for a model we measured at ${offered.loss}`,
          got.from,
        );
        return;
      }
    }
    const merged = await exclusive((t) => t.mergeParams(got.message.values, cfg.dktBeta));
    if (merged instanceof Error) {
      refuse('bad-params', merged.message, got.from);
      return;
    }
    const after = await exclusive((t) => t.evaluate(evalSplit));
    const { decision, event } = settleMerge(s.trust, {
      from: got.from,
      to: s.selfId!,
      beta: cfg.dktBeta,
      lossBefore: before.loss,
      lossAfter: after.loss,
      atMs: clock.wallNow(),
    });
    if (decision === 'rollback') await exclusive((t) => t.setParams(saved));
    const kept = decision === 'keep';
    const final = kept ? after : before;
    s.lastEval = { loss: final.loss, accuracy: final.accuracy, atMs: clock.now() };
    const clampLoss = (l: number) => (Number.isFinite(l) ? Math.min(1e9, Math.max(0, l)) : 1e9);
    const m: MergeEvent = {
      ...event,
      lossBefore: clampLoss(event.lossBefore),
      lossAfter: clampLoss(event.lossAfter),
    };
    s.merges.push(m);
    if (s.merges.length > MAX_MERGES) s.merges.shift();
    emit({ type: 'merge', merge: m });
    log('info', kept ? 'knowledge transfer kept' : 'knowledge transfer rolled back', {
      from: got.from,
      before: before.loss,
      after: after.loss,
    });
    s.remotes.get(got.from)?.session.sendControl({
      type: 'mesh/dkt-outcome',
      from: got.from,
      kept,
      lossBefore: m.lossBefore,
      lossAfter: m.lossAfter,
    });
  };

  const onParams = (r: Remote, p: ParamsMessage) => {
    const trainer = s.trainer;
    if (!trainer) return;
    const join = s.joinAsked.get(r.id);
    if (join?.state === 'waiting') {
      join.state = 'answered';
      if (
        p.modelFingerprint !== trainer.info.fingerprint ||
        p.values.length !== trainer.info.paramCount
      ) {
        refuse('wrong-model', `parameters of another model from ${r.id}`, r.id);
      } else s.incomingParams.push({ from: r.id, message: p, purpose: 'join' });
      notify();
      return;
    }
    if (s.request === undefined || s.request.to !== r.id) {
      refuse('unexpected-params', `parameters from ${r.id} that we did not ask for`, r.id);
      return;
    }
    if (
      p.modelFingerprint !== trainer.info.fingerprint ||
      p.values.length !== trainer.info.paramCount
    ) {
      refuse('wrong-model', `parameters of another model from ${r.id}`, r.id);
      s.request = undefined;
      return;
    }
    s.incomingParams.push({ from: r.id, message: p, purpose: s.request.purpose });
    s.request = undefined;
    notify();
  };

  const serveParams = async (r: Remote, purpose: 'dkt' | 'join') => {
    const trainer = s.trainer;
    if (!trainer || (purpose === 'dkt' && !s.traits?.dkt)) return;
    try {
      const values = await exclusive((t) => t.getParams());
      const message = encodeParams({
        step: s.stepIndex,
        modelFingerprint: trainer.info.fingerprint,
        loss: s.lastEval?.loss ?? 0,
        values,
      });
      r.session.send(message, true);
      log('info', 'sent parameters', { to: r.id, purpose, bytes: message.length });
    } catch (error) {
      log('warn', 'could not serve parameters', { to: r.id, error: String(error) });
    }
  };

  return { runDkt, dktDue, onReport, decide, mergeIncoming, serveParams, onParams };
}
