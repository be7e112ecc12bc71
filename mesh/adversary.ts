/**
 * A hostile peer for the trust tests and the benchmark's `--attack` (DESIGN.md 10): a
 * signaling connection and link sessions speaking the wire protocol correctly, with lies in
 * what it says. It links to the peers the welcome lists and, every `everyMs`, "steps":
 *
 * - `scaled`: an in-bound update (every entry finite and within the refusal bound, alternating
 *   +magnitude / -magnitude) sent `repeat` times for each step;
 * - `noise`: an in-bound update of seeded uniform noise in [-magnitude, magnitude], once a step;
 * - `capacity-liar`: a harmless (zero) update per step, claiming 1e9 samples/s;
 * - `silent`: one update, then heartbeats only, with no step progress, while its link answers;
 * - `param-flood`: harmless updates, and `repeat` requests for the parameters every step;
 * - `loss-liar`: harmless updates, a DKT report of a loss of 0.001 every 10 steps, and a model
 *   of seeded noise (claiming that loss) to whoever asks for its parameters;
 * - `step-liar`: harmless updates and hellos that claim step 2^31 - 2, and the noise model to
 *   whoever asks (a joiner asks the peer furthest ahead first).
 *
 * The steps it claims follow the mesh (the highest step the honest peers sent, then one a
 * tick), so the honest peers count it and wait for it.
 */

import {
  type ControlMessage,
  encodeParams,
  encodeUpdate,
  MAX_STEP,
  mulberry32,
  type PeerId,
  PROTOCOL_VERSION,
  type SignalingClientMessageOf,
  type UpdateMeta,
} from '../core';
import { createLinkSession, type LinkSession } from './link-session';
import type { MeshClock, RtcConnector, SignalingConnection } from './types';

export const ATTACK_KINDS = [
  'scaled',
  'noise',
  'capacity-liar',
  'silent',
  'param-flood',
  'loss-liar',
  'step-liar',
] as const;
export type AttackKind = (typeof ATTACK_KINDS)[number];

export interface AdversaryOptions {
  /** Opens its signaling connection (as PeerOptions.signaling does). */
  readonly signaling: (hello: () => SignalingClientMessageOf<'sig/hello'>) => SignalingConnection;
  readonly room: string;
  readonly kind: AttackKind;
  readonly rtc: RtcConnector;
  readonly clock: MeshClock;
  /** The room model's parameter count and fingerprint (the hello must match them). */
  readonly paramCount: number;
  readonly modelFingerprint: number;
  /** Milliseconds between its steps (50 by default). */
  readonly everyMs?: number;
  /** `scaled`: copies of each step's update; `param-flood`: requests per step (10 by default). */
  readonly repeat?: number;
  /** `scaled`: the entries' magnitude (1000 by default, under the refusal bound of 1e4). */
  readonly magnitude?: number;
  readonly name?: string;
  /** Seeds `noise`. */
  readonly seed?: number;
}

export interface Adversary {
  /** Its peer id, once the welcome came. */
  id(): PeerId | undefined;
  /** Open links whose hello went out. */
  linked(): number;
  /** Updates sent so far. */
  sent(): number;
  /** Parameter vectors received (answers to its requests). */
  paramsReceived(): number;
  close(): void;
}

/** The capacity a `capacity-liar` claims, samples/s. */
export const LIAR_CAPACITY = 1e9;

/** The loss a `loss-liar` claims. */
export const LIAR_LOSS = 0.001;

export function startAdversary(o: AdversaryOptions): Adversary {
  const { clock } = o;
  const everyMs = o.everyMs ?? 50;
  const capacity = o.kind === 'capacity-liar' ? LIAR_CAPACITY : 100;
  const links = new Map<PeerId, LinkSession>();
  const random = mulberry32(o.seed ?? 1);
  let selfId: PeerId | undefined;
  let step = o.kind === 'step-liar' ? MAX_STEP - 1 : 0;
  let sent = 0;
  let paramsReceived = 0;
  let closed = false;

  const signaling = o.signaling(() => ({
    type: 'sig/hello',
    protocol: PROTOCOL_VERSION,
    room: o.room as never,
    name: o.name ?? `mallory-${o.kind}`,
    kind: 'kiosk',
  }));

  // Keep up with the mesh: the steps its hellos, heartbeats and updates carry.
  const onControl = (from: PeerId, c: ControlMessage) => {
    if (c.type === 'mesh/hello' || c.type === 'mesh/heartbeat') step = Math.max(step, c.step);
    if (c.type === 'mesh/dkt-request' && (o.kind === 'loss-liar' || o.kind === 'step-liar')) {
      const poisoned = new Float32Array(o.paramCount);
      for (let i = 0; i < poisoned.length; i++) poisoned[i] = (2 * random() - 1) * 3;
      links.get(from)?.send(
        encodeParams({
          step,
          modelFingerprint: o.modelFingerprint,
          loss: LIAR_LOSS,
          values: poisoned,
        }),
        true,
      );
    }
  };

  const open = (id: PeerId, initiator: boolean) => {
    const session = createLinkSession({
      remote: id,
      clock,
      log: () => {},
      connect: (handlers) => o.rtc({ initiator, iceServers: [], handlers }),
      onSignal: (data) => signaling.send({ type: 'sig/signal', to: id, data }),
      shaping: () => ({ capBps: undefined, latencyMs: 0 }),
      onOpen: () =>
        session.sendControl({
          type: 'mesh/hello',
          protocol: PROTOCOL_VERSION,
          peerId: selfId!,
          step,
          capacity,
          batchSize: 16,
          modelFingerprint: o.modelFingerprint,
        }),
      onMessage: (m) => {
        if (m.kind === 'control') onControl(id, m.message);
        else if (m.kind === 'params') paramsReceived++;
        else if (m.kind === 'update' && o.kind !== 'silent')
          step = Math.max(step, m.message.meta.step);
      },
      onRefused: () => {},
      onClose: () => links.delete(id),
    });
    links.set(id, session);
  };

  const unsubscribe = signaling.subscribe((event) => {
    if (event.type !== 'message') return;
    const msg = event.message;
    if (msg.type === 'sig/welcome') {
      selfId = msg.peerId;
      for (const p of msg.peers) open(p.id, true);
    } else if (msg.type === 'sig/signal') {
      // A peer that joined after us opens the link: answer it.
      if (!links.has(msg.from) && selfId !== undefined) open(msg.from, false);
      links.get(msg.from)?.signal(msg.data as never);
    }
  });

  const values = new Float32Array(o.paramCount);
  const magnitude = o.magnitude ?? 1000;
  if (o.kind === 'scaled') {
    for (let i = 0; i < values.length; i++) values[i] = i % 2 === 0 ? magnitude : -magnitude;
  }

  let ticks = 0;
  const tick = () => {
    if (closed) return;
    ticks++;
    const open = [...links.values()].filter((l) => l.isOpen());
    const progress = o.kind !== 'silent' || sent === 0;
    if (open.length > 0 && progress) step++;
    const meta: UpdateMeta = {
      step,
      batchSize: 16,
      capacity,
      weight: 1,
      paramCount: o.paramCount,
      valueType: 'f32',
    };
    if (o.kind === 'noise' && progress) {
      for (let i = 0; i < values.length; i++) values[i] = (2 * random() - 1) * magnitude;
    }
    const message = progress ? encodeUpdate(meta, { encoding: 'dense', values }) : undefined;
    for (const session of open) {
      session.sendControlNow({ type: 'mesh/heartbeat', step, capacity, batchSize: 16 });
      if (o.kind === 'loss-liar' && ticks % 10 === 0) {
        session.sendControlNow({
          type: 'mesh/report',
          step,
          loss: LIAR_LOSS,
          accuracy: 1,
          samples: 1000,
        });
      }
      if (o.kind === 'param-flood') {
        for (let c = 0; c < (o.repeat ?? 10); c++) {
          session.sendControlNow({ type: 'mesh/dkt-request', step, purpose: 'dkt' });
        }
      }
      if (message === undefined) continue;
      const copies = o.kind === 'scaled' ? (o.repeat ?? 10) : 1;
      for (let c = 0; c < copies; c++) {
        session.send(message, true);
        sent++;
      }
    }
    clock.setTimer(everyMs, tick);
  };
  clock.setTimer(everyMs, tick);

  return {
    id: () => selfId,
    linked: () => [...links.values()].filter((l) => l.isOpen()).length,
    sent: () => sent,
    paramsReceived: () => paramsReceived,
    close() {
      closed = true;
      unsubscribe();
      for (const l of links.values()) l.close('adversary closed');
      links.clear();
      signaling.close();
    },
  };
}
