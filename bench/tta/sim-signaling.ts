/**
 * The sim mode's signaling: one room, in process, on the virtual clock. It plays the part of
 * the real server for peers that never leave the process (hello and welcome with a shard
 * slot, peers joining and leaving, SDP relay, status posts) so that no real socket makes
 * time pass. The real server is what the live mode and the tests run against; this hub only
 * speaks the same messages, validated by the same schemas.
 */

import {
  asPeerId,
  type PeerId,
  type PeerInfo,
  type PeerStatus,
  PROTOCOL_VERSION,
  parseRoomConfig,
  type RoomConfig,
  type SignalingClientMessage,
  type SignalingClientMessageOf,
  type SignalingServerMessage,
} from '../../core';
import type { MeshClock, SignalingConnection, SignalingEvent } from '../../mesh';

/** One-way delay of a signaling message, ms: a nearby edge server. */
const SIGNALING_DELAY_MS = 2;

interface Member {
  readonly info: PeerInfo;
  readonly slot: number;
  readonly deliver: (m: SignalingServerMessage) => void;
}

export interface SimSignaling {
  /** The PeerOptions.signaling of every peer of the room. */
  connect(hello: () => SignalingClientMessageOf<'sig/hello'>): SignalingConnection;
  /** The last status each peer posted, by id. */
  statuses(): ReadonlyMap<PeerId, PeerStatus>;
  config(): RoomConfig | undefined;
}

export class SimSignalingError extends Error {
  override name = 'SimSignalingError';
}

export function createSimSignaling(clock: MeshClock): SimSignaling {
  const members = new Map<PeerId, Member>();
  const statuses = new Map<PeerId, PeerStatus>();
  let roomConfig: RoomConfig | undefined;
  let nextId = 1;

  const later = (fn: () => void) => clock.setTimer(SIGNALING_DELAY_MS, fn);
  const broadcast = (from: PeerId, m: SignalingServerMessage) => {
    for (const [id, other] of members) if (id !== from) other.deliver(m);
  };
  const freeSlot = () => {
    const used = new Set([...members.values()].map((m) => m.slot));
    let slot = 0;
    while (used.has(slot)) slot++;
    return slot;
  };

  const onHello = (
    hello: SignalingClientMessageOf<'sig/hello'>,
    deliver: (m: SignalingServerMessage) => void,
  ): PeerId | undefined => {
    if (roomConfig === undefined) {
      const parsed = parseRoomConfig(hello.config ?? {});
      if (!parsed.ok) {
        deliver({
          type: 'sig/error',
          code: 'config-invalid',
          message: parsed.error.message.slice(0, 1000),
          fatal: true,
        });
        return undefined;
      }
      roomConfig = parsed.value;
    }
    if (members.size >= roomConfig.maxPeers) {
      deliver({ type: 'sig/error', code: 'room-full', message: 'room is full', fatal: true });
      return undefined;
    }
    const id = asPeerId(`sim-${nextId++}`);
    const info: PeerInfo = {
      id,
      name: hello.name,
      kind: hello.kind,
      ...(hello.site === undefined ? {} : { site: hello.site }),
    };
    const slot = freeSlot();
    deliver({
      type: 'sig/welcome',
      protocol: PROTOCOL_VERSION,
      peerId: id,
      room: hello.room,
      config: roomConfig,
      slot,
      peers: [...members.values()].map((m) => m.info),
      iceServers: [],
      heartbeatMs: 30_000,
    });
    broadcast(id, { type: 'sig/peer-joined', peer: info });
    members.set(id, { info, slot, deliver });
    return id;
  };

  const onLeave = (id: PeerId) => {
    if (!members.delete(id)) return;
    broadcast(id, { type: 'sig/peer-left', peerId: id, reason: 'left' });
  };

  return {
    connect(hello) {
      const listeners = new Set<(e: SignalingEvent) => void>();
      const emit = (e: SignalingEvent) => {
        for (const l of [...listeners]) l(e);
      };
      let self: PeerId | undefined;
      let closed = false;
      const deliver = (m: SignalingServerMessage) =>
        later(() => {
          if (!closed) emit({ type: 'message', message: m });
        });
      const receive = (m: SignalingClientMessage) => {
        if (closed) return;
        switch (m.type) {
          case 'sig/hello':
            self = onHello(m, deliver);
            return;
          case 'sig/signal': {
            const to = members.get(m.to);
            if (self !== undefined && to !== undefined) {
              to.deliver({ type: 'sig/signal', from: self, data: m.data });
            }
            return;
          }
          case 'sig/status':
            if (self !== undefined) statuses.set(self, m.status);
            return;
          case 'sig/leave':
            if (self !== undefined) onLeave(self);
            return;
          case 'sig/heartbeat':
            return;
        }
      };
      later(() => {
        emit({ type: 'open' });
        receive(hello());
      });
      return {
        send(m) {
          if (closed) return false;
          later(() => receive(m));
          return true;
        },
        subscribe(l) {
          listeners.add(l);
          return () => listeners.delete(l);
        },
        close() {
          if (closed) return;
          if (self !== undefined) onLeave(self);
          closed = true;
          later(() => emit({ type: 'closed', reason: 'closed by the peer' }));
        },
      };
    },
    statuses: () => statuses,
    config: () => roomConfig,
  };
}
