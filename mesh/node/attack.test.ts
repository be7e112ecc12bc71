/**
 * A hostile peer against two honest Node peers, all over real WebRTC and the real signaling
 * server: garbage frames, non-finite and absurd updates, and a poisoned model that claims the
 * best loss. The honest peers refuse and count each, measure the poisoned model before merging
 * it and distrust its false claim at once, and their accuracy does not drop. The junk is
 * seeded; the attack goes on until every honest peer has refused each kind and caught the
 * false claim (a condition, not a duration).
 */

import { afterEach, describe, expect, it } from 'vitest';
import {
  absorbBytes,
  type ControlMessage,
  createChecksum,
  encodeParams,
  encodeUpdate,
  finishChecksum,
  mulberry32,
  type PeerId,
  PROTOCOL_VERSION,
} from '../../core';
import { modelSpec } from '../../worker/model';
import { createLinkSession, type LinkSession } from '../link-session';
import { createSignalingClient } from '../signaling-client';
import type { RtcLink } from '../types';
import { nodeClock } from './clock';
import { nodeRtcConnector } from './rtc';
import { type ApiPeer, startMesh, waitFor } from './test-peers';
import { NodeWebSocket } from './websocket';

type Mesh = Awaited<ReturnType<typeof startMesh>>;
let mesh: Mesh | undefined;
const cleanups: (() => void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) c();
  await mesh?.stopAll();
  mesh = undefined;
});

/** Recomputes a message's checksum after a test changed its bytes (as a hostile peer would). */
function reseal(bytes: Uint8Array): Uint8Array {
  const s = createChecksum();
  absorbBytes(s, bytes, 0, 8);
  absorbBytes(s, bytes, 12, bytes.length);
  new DataView(bytes.buffer, bytes.byteOffset, bytes.length).setUint32(8, finishChecksum(s), true);
  return bytes;
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

describe('a hostile peer', () => {
  it('is refused, counted and rolled back; the honest peers keep their accuracy', async () => {
    const m = await startMesh();
    mesh = m;
    const config = { maxPeers: 4, dktPeriodSec: 2 };
    const honest = ['a', 'b'].map((name) => m.spawnPeer({ name, config, maxSteps: 100_000 }));
    const accuracy = async () => {
      const peers = ((await m.api())?.peers ?? []).filter((p) => p.name === 'a' || p.name === 'b');
      return peers.length === 2 && peers.every((p) => p.valAccuracy != null)
        ? mean(peers.map((p: ApiPeer) => p.valAccuracy ?? 0))
        : undefined;
    };
    const before = await waitFor(
      'the honest mesh trained',
      async () => {
        const a = await accuracy();
        return a !== undefined && a > 0.85 ? a : undefined;
      },
      90_000,
      1000,
    );

    // The attacker: a real signaling client and real WebRTC links, speaking the wire protocol.
    const clock = nodeClock();
    const P = modelSpec('mlp').paramCount;
    const fingerprint = modelSpec('mlp').fingerprint;
    const links = new Map<PeerId, { session: LinkSession; raw: RtcLink }>();
    let selfId: PeerId | undefined;
    let served = 0;
    const rtc = nodeRtcConnector();
    const signaling = createSignalingClient({
      url: `ws://127.0.0.1:${m.server.port}/ws`,
      WebSocket: NodeWebSocket,
      clock,
      random: Math.random,
      hello: () => ({
        type: 'sig/hello',
        protocol: PROTOCOL_VERSION,
        room: m.room as never,
        name: 'mallory',
        kind: 'kiosk',
      }),
    });
    cleanups.push(() => {
      for (const l of links.values()) l.session.close('test over');
      signaling.close();
    });
    const random = mulberry32(0xbad);
    const onControl = (from: PeerId, c: ControlMessage) => {
      if (c.type !== 'mesh/dkt-request') return;
      // The poisoned model: finite, the right shape, and useless.
      const values = new Float32Array(P);
      for (let i = 0; i < P; i++) values[i] = (random() - 0.5) * 6;
      links
        .get(from)
        ?.session.send(
          encodeParams({ step: 10_000, modelFingerprint: fingerprint, loss: 0.001, values }),
          true,
        );
      served++;
    };
    signaling.subscribe((event) => {
      if (event.type !== 'message') return;
      const msg = event.message;
      if (msg.type === 'sig/welcome') {
        selfId = msg.peerId;
        for (const p of msg.peers) {
          let raw: RtcLink | undefined;
          const session = createLinkSession({
            remote: p.id,
            clock,
            log: () => {},
            connect: (handlers) => {
              raw = rtc({ initiator: true, iceServers: [], handlers });
              return raw;
            },
            onSignal: (data) => signaling.send({ type: 'sig/signal', to: p.id, data }),
            shaping: () => ({ capBps: undefined, latencyMs: 0 }),
            onOpen: () =>
              session.sendControl({
                type: 'mesh/hello',
                protocol: PROTOCOL_VERSION,
                peerId: selfId!,
                step: 0,
                capacity: 100,
                batchSize: 10,
                modelFingerprint: fingerprint,
              }),
            onMessage: (lm) => {
              if (lm.kind === 'control') onControl(p.id, lm.message);
            },
            onRefused: () => {},
            onClose: () => links.delete(p.id),
          });
          links.set(p.id, { session, raw: raw! });
        }
      } else if (msg.type === 'sig/signal') {
        links.get(msg.from)?.session.signal(msg.data);
      }
    });
    await waitFor(
      'the attacker linked to both honest peers',
      () =>
        links.size === 2 && [...links.values()].every((l) => l.session.isOpen()) ? true : undefined,
      30_000,
    );

    const meta = {
      step: 1,
      batchSize: 10,
      capacity: 100,
      weight: 0.5,
      paramCount: P,
      valueType: 'f32' as const,
    };
    const refused = (peer: (typeof honest)[number], kind: string) =>
      peer.events.filter((e) => e.type === 'refused' && e.kind === kind).length;
    const mergesFromMallory = (peer: (typeof honest)[number]) =>
      peer.events
        .filter((e) => e.type === 'merge')
        .map((e) => e.merge as { from: string; rolledBack: boolean })
        .filter((x) => x.from === selfId);
    const attackRound = () => {
      for (const { session, raw } of links.values()) {
        // Garbage frames.
        const junk = new Uint8Array(64 + Math.floor(random() * 2000));
        for (let i = 0; i < junk.length; i++) junk[i] = Math.floor(random() * 256);
        raw.send(junk);
        // A well-formed update with a NaN in it, checksum and all.
        const nan = encodeUpdate(meta, {
          encoding: 'dense',
          values: new Float32Array(P).fill(0.001),
        });
        new DataView(nan.buffer).setFloat32(48 + 4 * 7, Number.NaN, true);
        session.send(reseal(nan), false);
        // A finite update of absurd size.
        session.send(
          encodeUpdate(meta, { encoding: 'dense', values: new Float32Array(P).fill(1e6) }),
          false,
        );
        // The claim that makes it "best", and a heartbeat to stay in the live set.
        session.sendControl({
          type: 'mesh/report',
          step: 10_000,
          loss: 0.001,
          accuracy: 1,
          samples: 1000,
        });
        session.sendControl({ type: 'mesh/heartbeat', step: 0, capacity: 100, batchSize: 10 });
      }
    };
    // One round a second until every honest peer refused each kind and caught the false claim.
    await waitFor(
      'every honest peer refused each kind and caught the false claim',
      () => {
        attackRound();
        return honest.every(
          (peer) =>
            refused(peer, 'bad-frame') > 0 &&
            refused(peer, 'non-finite-update') > 0 &&
            refused(peer, 'absurd-update') > 0 &&
            refused(peer, 'false-claim') > 0,
        )
          ? true
          : undefined;
      },
      120_000,
      1000,
    );

    // No poisoned model was ever merged, kept or rolled back: it was measured first.
    for (const peer of honest) {
      expect({ peer: peer.name, merged: mergesFromMallory(peer) }).toEqual({
        peer: peer.name,
        merged: [],
      });
    }
    expect(served).toBeGreaterThan(0);
    const after = await accuracy();
    expect(after).toBeDefined();
    expect(after!).toBeGreaterThan(before - 0.03);
  }, 240_000);
});
