/**
 * The remote peers of one peer: opening a link to each, the mesh hello that admits it, what
 * arrives on it (control messages, updates, parameters), and dropping it when it leaves,
 * closes or falls silent. Refused input is counted and dropped here, never thrown.
 */

import {
  addPayloadInto,
  type ControlMessage,
  DEFAULT_ROOM_CONFIG,
  expire,
  heard,
  isSupportedProtocol,
  join,
  leave,
  maxMessageBytes,
  medianStepMs,
  type PeerId,
  PROTOCOL_VERSION,
  progressed,
  type UpdateMessage,
} from '../core';
import { MAX_DEFERRED, weighUpdate } from './aggregation';
import { dropLink } from './exchange';
import type { KnowledgeTransfer } from './knowledge-transfer';
import { createLinkSession, type LinkMessage } from './link-session';
import type { PeerContext, Remote } from './peer-context';
import { paramsRequests, takeToken } from './rate-limit';
import { screenUpdate } from './refusals';
import { effectiveCapBps, siteLinkShape } from './shaper';

export interface PeerLinks {
  /** Opens the link to `id` unless there is one (or no trainer yet, or we are closing). */
  connectTo(id: PeerId, initiator: boolean): void;
  /** Closes the link to `id` and drops it from the live set. */
  dropRemote(id: PeerId, reason: string): void;
  /** Tells every ready peer with a drained link our step, capacity and batch size. */
  heartbeat(): void;
  /** Drops the peers silent for longer than membership allows. */
  expireSilent(): void;
}

export function createPeerLinks(
  ctx: PeerContext,
  dkt: Pick<KnowledgeTransfer, 'serveParams' | 'onParams' | 'onReport'>,
): PeerLinks {
  const { o, s, clock, log, emit, refuse, notify } = ctx;

  const connectTo = (id: PeerId, initiator: boolean) => {
    if (s.trainer === undefined || s.remotes.has(id) || id === s.selfId || s.closing) return;
    const session = createLinkSession({
      remote: id,
      clock,
      log,
      maxMessageBytes: maxMessageBytes(s.trainer.info.paramCount),
      connect: (handlers) => o.rtc({ initiator, iceServers: s.iceServers, handlers }),
      onSignal: (data) => {
        ctx.signaling.send({ type: 'sig/signal', to: id, data });
      },
      shaping: () => {
        const e = s.emulation;
        const site = siteLinkShape(e.sites, o.site, s.remotes.get(id)?.site);
        return {
          capBps: effectiveCapBps(e.uplinkBps, e.linkBps?.[id], site?.bps),
          latencyMs: (e.latencyMs ?? 0) + (site?.latencyMs ?? 0),
        };
      },
      onOpen: () => sendHello(id),
      onMessage: (m) => onLinkMessage(id, m),
      onRefused: (kind, message) => refuse(kind, message, id),
      onClose: (reason) => dropRemote(id, reason),
      // The gate of the queueing strategies waits on the send backlog (gate-policy.ts).
      onDequeued: notify,
      onActivity: () => {
        if (s.remotes.get(id)?.ready) heard(s.membership, id, clock.now());
      },
    });
    s.remotes.set(id, {
      id,
      name: s.knownNames.get(id) ?? id,
      session,
      ready: false,
      capacity: 0,
      batchSize: 0,
      helloStep: 0,
      updated: false,
      lastUpdateStep: -1,
      paramsRequests: { tokens: 2, atMs: clock.now() },
      site: undefined,
    });
    const buffered = s.bufferedSignals.get(id);
    s.bufferedSignals.delete(id);
    for (const data of buffered ?? []) session.signal(data as never);
  };

  const dropRemote = (id: PeerId, reason: string) => {
    const r = s.remotes.get(id);
    if (r === undefined) return;
    s.remotes.delete(id);
    r.session.close(reason);
    const wasLive = leave(s.membership, id);
    if (s.exchange) dropLink(s.exchange, id);
    s.norms.delete(id);
    s.histories.delete(id);
    if (s.request?.to === id) s.request = undefined;
    const ask = s.joinAsked.get(id);
    if (ask?.state === 'waiting') ask.state = 'gave-up';
    if (wasLive || r.ready) {
      emit({ type: 'peer-left', peerId: id, reason });
      log('info', 'peer left', { peer: id, reason });
    }
    notify();
  };

  const sendHello = (id: PeerId) => {
    const r = s.remotes.get(id);
    if (!r || !s.trainer || s.selfId === undefined) return;
    r.session.sendControl({
      type: 'mesh/hello',
      protocol: PROTOCOL_VERSION,
      peerId: s.selfId,
      step: s.stepIndex,
      capacity: Math.max(0, s.capacity),
      batchSize: s.batchSize,
      ...(o.site === undefined ? {} : { site: o.site }),
      modelFingerprint: s.trainer.info.fingerprint,
    });
  };

  const onLinkMessage = (from: PeerId, m: LinkMessage) => {
    const r = s.remotes.get(from);
    if (r === undefined || s.closing) return;
    if (m.kind === 'control') {
      onControl(r, m.message);
      return;
    }
    if (!r.ready) {
      refuse('bad-message', `${m.kind} before hello`, from);
      return;
    }
    if (m.kind === 'update') onUpdate(r, m.message);
    else dkt.onParams(r, m.message);
  };

  const onControl = (r: Remote, c: ControlMessage) => {
    const now = clock.now();
    switch (c.type) {
      case 'mesh/hello': {
        if (!isSupportedProtocol(c.protocol) || c.peerId !== r.id) {
          refuse(
            'bad-control',
            `hello from ${r.id} claims ${c.peerId} / protocol ${c.protocol}`,
            r.id,
          );
          dropRemote(r.id, 'bad hello');
          return;
        }
        if (s.trainer && c.modelFingerprint !== s.trainer.info.fingerprint) {
          refuse('wrong-model', `peer ${r.id} trains another model`, r.id);
          dropRemote(r.id, 'another model');
          return;
        }
        r.ready = true;
        r.site = c.site;
        r.capacity = c.capacity;
        r.batchSize = c.batchSize;
        r.helloStep = c.step;
        join(s.membership, r.id, now);
        heard(s.membership, r.id, now, c.step - 1);
        log('info', 'link up', { peer: r.id, step: c.step });
        notify();
        return;
      }
      case 'mesh/heartbeat':
        if (!r.ready) return;
        r.capacity = c.capacity;
        r.batchSize = c.batchSize;
        heard(s.membership, r.id, now, c.step);
        notify();
        return;
      case 'mesh/report':
        if (!r.ready) return;
        heard(s.membership, r.id, now);
        s.reports.set(r.id, {
          peer: r.id,
          loss: c.loss,
          accuracy: c.accuracy,
          step: c.step,
          atMs: now,
        });
        dkt.onReport();
        return;
      case 'mesh/dkt-request': {
        if (!r.ready) {
          log('warn', 'parameters asked for before hello: ignored', { from: r.id });
          return;
        }
        // Each answer is our whole parameter vector: a few per requester, and none while two
        // of its messages still wait in our queue (a flood of requests must not fill memory).
        const limit = paramsRequests(s.config?.dktPeriodSec ?? DEFAULT_ROOM_CONFIG.dktPeriodSec);
        if (r.session.queuedMessages() >= 2 || !takeToken(r.paramsRequests, now, limit)) {
          refuse('too-many-requests', `parameters asked for again by ${r.id}`, r.id);
          return;
        }
        log('info', 'parameters asked for', { from: r.id, purpose: c.purpose ?? 'dkt' });
        void dkt.serveParams(r, c.purpose ?? 'dkt');
        return;
      }
      case 'mesh/dkt-outcome':
        log('info', 'dkt outcome', {
          from: r.id,
          kept: c.kept,
          lossBefore: c.lossBefore,
          lossAfter: c.lossAfter,
        });
        return;
      case 'mesh/bye':
        dropRemote(r.id, `said bye${c.reason ? `: ${c.reason}` : ''}`);
        return;
      default:
        return;
    }
  };

  const onUpdate = (r: Remote, u: UpdateMessage) => {
    if (!s.trainer || !s.pending) return;
    const refused = screenUpdate(u, r.id, s.trainer.info.paramCount);
    if (refused !== undefined) {
      refuse(refused.kind, refused.message, r.id);
      return;
    }
    // One update per peer per step: a second one for a step already taken (a replay, or a
    // peer sending many per step to outweigh the others) is refused and counted.
    if (u.meta.step <= r.lastUpdateStep) {
      refuse(
        'duplicate-update',
        `update for step ${u.meta.step} from ${r.id}, which already sent step ${r.lastUpdateStep}`,
        r.id,
      );
      return;
    }
    if (!heard(s.membership, r.id, clock.now(), u.meta.step) && !s.membership.members.has(r.id))
      return;
    r.lastUpdateStep = u.meta.step;
    progressed(s.membership, r.id, clock.now());
    r.updated = true;
    r.capacity = u.meta.capacity;
    r.batchSize = u.meta.batchSize;
    const weighed = weighUpdate(s, r.id, u.payload, s.trainer.info.paramCount);
    if (weighed.deferred) {
      if (s.deferred.length < MAX_DEFERRED) s.deferred.push({ from: r.id, payload: u.payload });
      else
        refuse(
          'clipped-update',
          `update from ${r.id} dropped: too many before our first step`,
          r.id,
        );
      return;
    }
    if (weighed.clipped !== undefined) refuse('clipped-update', weighed.clipped, r.id);
    if (weighed.scale > 0) addPayloadInto(s.pending, u.payload, weighed.scale);
    s.pendingHasData = true;
    notify();
  };

  // ---- periodic work ----------------------------------------------------------------------

  const heartbeat = () => {
    for (const r of s.remotes.values()) {
      if (r.ready && r.session.drained()) {
        r.session.sendControl({
          type: 'mesh/heartbeat',
          step: Math.max(0, s.stepIndex - 1),
          capacity: Math.max(0, s.capacity),
          batchSize: s.batchSize,
        });
      }
    }
  };

  const expireSilent = () => {
    const dropped = expire(s.membership, clock.now(), medianStepMs(s.stepTimes));
    for (const id of dropped) dropRemote(id, 'silent for too long');
  };

  return { connectTo, dropRemote, heartbeat, expireSilent };
}
