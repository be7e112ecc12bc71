import { describe, expect, expectTypeOf, it } from 'vitest';
import type { PeerId, RoomName } from '../ids';
import { encodeMessage, parseSignalingClientMessage, parseSignalingServerMessage } from './parse';
import { DEFAULT_ROOM_CONFIG, MAX_ROOM_PEERS } from './room-config';
import {
  MAX_CONFIG_KEYS,
  MAX_SDP_LENGTH,
  SIGNALING_ERROR_CODES,
  type SignalingClientMessage,
  type SignalingClientMessageOf,
  type SignalingServerMessage,
  type SignalingServerMessageOf,
} from './signaling';
import { PROTOCOL_VERSION } from './version';

const status = {
  id: 'peer-a',
  name: 'Ada',
  kind: 'browser',
  backend: 'webgl',
  backendNote: 'no WebGPU adapter',
  strategy: 'dlion',
  step: 10,
  batchSize: 32,
  weight: 0.25,
  capacity: 120,
  loss: null,
  valAccuracy: null,
  links: [],
  merges: [],
};

const hello = {
  type: 'sig/hello',
  protocol: PROTOCOL_VERSION,
  room: 'demo-room_1',
  name: 'Ada',
  kind: 'browser',
};

const offer = { type: 'offer', sdp: 'v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n' };
const candidate = {
  type: 'candidate',
  candidate: {
    candidate: 'candidate:842163049 1 udp 1677729535 192.0.2.7 49203 typ srflx',
    sdpMLineIndex: 0,
    sdpMid: '0',
  },
};

const clientExamples = [
  hello,
  {
    ...hello,
    kind: 'kiosk',
    token: 's3cret',
    site: 'lab-3',
    config: { strategy: 'bsp', staleness: 0 },
    resume: { peerId: 'k-7f3a' },
  },
  { ...hello, resume: {} },
  { type: 'sig/signal', to: 'peer-b', data: offer },
  { type: 'sig/signal', to: 'peer-b', data: { ...offer, type: 'answer' } },
  { type: 'sig/signal', to: 'peer-b', data: candidate },
  {
    type: 'sig/signal',
    to: 'peer-b',
    data: { type: 'candidate', candidate: { candidate: '', sdpMLineIndex: null, sdpMid: null } },
  },
  { type: 'sig/signal', to: 'peer-b', data: { type: 'renegotiate', renegotiate: true } },
  {
    type: 'sig/signal',
    to: 'peer-b',
    data: { type: 'transceiverRequest', transceiverRequest: { kind: 'audio' } },
  },
  {
    type: 'sig/signal',
    to: 'peer-b',
    data: {
      type: 'transceiverRequest',
      transceiverRequest: { kind: 'video', init: { direction: 'recvonly' } },
    },
  },
  {
    type: 'sig/signal',
    to: 'peer-b',
    data: { type: 'candidate', candidate: { ...candidate.candidate, usernameFragment: 'abcd' } },
  },
  { type: 'sig/heartbeat' },
  { type: 'sig/heartbeat', atMs: 1_700_000_000_000 },
  { type: 'sig/status', status },
  { type: 'sig/leave' },
] as unknown as SignalingClientMessage[];

const peer = { id: 'peer-b', name: 'Bob', kind: 'kiosk', site: 'lab-3' };
const welcome = {
  type: 'sig/welcome',
  protocol: PROTOCOL_VERSION,
  peerId: 'peer-a',
  room: 'demo',
  config: DEFAULT_ROOM_CONFIG,
  slot: 2,
  peers: [peer, { id: 'peer-c', name: 'Cy', kind: 'browser' }],
  iceServers: [
    { urls: 'stun:stun.example.org:3478' },
    {
      urls: ['turn:turn.example.org:3478', 'turns:turn.example.org:5349'],
      username: 'u',
      credential: 'p',
    },
  ],
  heartbeatMs: 5000,
};

const serverExamples = [
  welcome,
  { ...welcome, peers: [], iceServers: [] },
  // The slot's edges: the first and the last of a room of MAX_ROOM_PEERS.
  { ...welcome, slot: 0 },
  { ...welcome, slot: MAX_ROOM_PEERS - 1 },
  { type: 'sig/peer-joined', peer },
  { type: 'sig/peer-left', peerId: 'peer-b', reason: 'timeout' },
  { type: 'sig/signal', from: 'peer-b', data: candidate },
  { type: 'sig/error', code: 'room-full', message: 'room demo is full', fatal: true },
  {
    type: 'sig/error',
    code: 'config-invalid',
    message: 'invalid room config',
    fatal: true,
    issues: ['minBatch: minBatch must not exceed maxBatch'],
  },
] as unknown as SignalingServerMessage[];

const refusedClient = (msg: unknown): readonly string[] => {
  const r = parseSignalingClientMessage(JSON.stringify(msg));
  if (r.ok) throw new Error(`expected ${JSON.stringify(msg).slice(0, 200)} to be refused`);
  expect(r.error.code).toBe('invalid-message');
  return r.error.issues;
};

const refusedServer = (msg: unknown): readonly string[] => {
  const r = parseSignalingServerMessage(JSON.stringify(msg));
  if (r.ok) throw new Error(`expected ${JSON.stringify(msg).slice(0, 200)} to be refused`);
  expect(r.error.code).toBe('invalid-message');
  return r.error.issues;
};

describe('signaling messages round-trip', () => {
  it.each(clientExamples.map((m) => [m.type, m] as const))('client %s', (_, msg) => {
    expect(parseSignalingClientMessage(encodeMessage(msg))).toStrictEqual({ ok: true, value: msg });
  });

  it.each(serverExamples.map((m) => [m.type, m] as const))('server %s', (_, msg) => {
    expect(parseSignalingServerMessage(encodeMessage(msg))).toStrictEqual({ ok: true, value: msg });
  });

  it('accepts every listed error code', () => {
    for (const code of SIGNALING_ERROR_CODES) {
      const r = parseSignalingServerMessage(
        JSON.stringify({ type: 'sig/error', code, message: code, fatal: false }),
      );
      expect(r.ok).toBe(true);
    }
  });

  it('keeps the client and server unions apart', () => {
    expect(parseSignalingServerMessage(encodeMessage(hello as SignalingClientMessage)).ok).toBe(
      false,
    );
    expect(parseSignalingClientMessage(encodeMessage(welcome as SignalingServerMessage)).ok).toBe(
      false,
    );
  });

  it('types ids with their brands', () => {
    expectTypeOf<SignalingClientMessageOf<'sig/signal'>['to']>().toEqualTypeOf<PeerId>();
    expectTypeOf<SignalingClientMessageOf<'sig/hello'>['room']>().toEqualTypeOf<RoomName>();
    expectTypeOf<SignalingServerMessageOf<'sig/welcome'>['peerId']>().toEqualTypeOf<PeerId>();
    expectTypeOf<SignalingServerMessageOf<'sig/signal'>['from']>().toEqualTypeOf<PeerId>();
  });
});

describe('client messages are refused when', () => {
  it('the type is unknown or missing', () => {
    expect(refusedClient({ ...hello, type: 'sig/join' })).toEqual([
      expect.stringMatching(/^type: /),
    ]);
    const { type: _, ...untyped } = hello;
    expect(refusedClient(untyped)).toEqual([expect.stringMatching(/^type: /)]);
  });

  it('a field is missing or extra', () => {
    const { name: _, ...nameless } = hello;
    expect(refusedClient(nameless)).toEqual([expect.stringMatching(/^name: /)]);
    expect(refusedClient({ ...hello, admin: true })).toEqual([expect.stringMatching(/^admin: /)]);
    expect(refusedClient({ type: 'sig/leave', why: 'bored' })).toEqual([
      expect.stringMatching(/^why: /),
    ]);
  });

  it('the protocol version has the wrong type', () => {
    for (const protocol of ['1', 1.5, -1, null, true]) {
      expect(refusedClient({ ...hello, protocol })).toEqual([expect.stringMatching(/^protocol: /)]);
    }
  });

  it.each([
    ['room', 'x'.repeat(65)],
    ['room', ''],
    ['room', 'a b'],
    ['room', '../etc'],
    ['name', 'x'.repeat(65)],
    ['name', 'a\nb'],
    ['kind', 'phone'],
    ['token', 't'.repeat(513)],
    ['site', 'lab 3'],
    ['resume', { peerId: 'x'.repeat(65) }],
    ['resume', { peerId: 'k', extra: 1 }],
    ['resume', []],
    ['config', 'bsp'],
    ['config', ['bsp']],
  ])('hello.%s is %j', (field, value) => {
    const issues = refusedClient({ ...hello, [field]: value });
    for (const issue of issues) expect(issue.startsWith(field)).toBe(true);
  });

  it('limits at the edge are accepted', () => {
    const edge = { ...hello, room: 'r'.repeat(64), name: 'n'.repeat(64), token: 't'.repeat(512) };
    expect(parseSignalingClientMessage(JSON.stringify(edge)).ok).toBe(true);
  });

  it('a hello config is loose (checked later by parseRoomConfig) but bounded', () => {
    const loose = { ...hello, config: { strategy: 'nonsense', whatever: [1, 2] } };
    expect(parseSignalingClientMessage(JSON.stringify(loose)).ok).toBe(true);
    const big = Object.fromEntries(
      Array.from({ length: MAX_CONFIG_KEYS + 1 }, (_, i) => [`k${i}`, i]),
    );
    expect(refusedClient({ ...hello, config: big })).toEqual([expect.stringMatching(/^config: /)]);
  });

  it.each([
    ['to', { type: 'sig/signal', to: 'peer b', data: offer }],
    [
      'data.sdp',
      { type: 'sig/signal', to: 'b', data: { ...offer, sdp: 'x'.repeat(MAX_SDP_LENGTH + 1) } },
    ],
    ['data.extra', { type: 'sig/signal', to: 'b', data: { ...offer, extra: 1 } }],
    ['data.type', { type: 'sig/signal', to: 'b', data: { ...offer, type: 'pranswer' } }],
    ['data.type', { type: 'sig/signal', to: 'b', data: { sdp: { type: 'offer', sdp: 'v=0' } } }],
    [
      'data.candidate.candidate',
      {
        type: 'sig/signal',
        to: 'b',
        data: { type: 'candidate', candidate: { candidate: 'c'.repeat(2049) } },
      },
    ],
    [
      'data.candidate.sdpMLineIndex',
      {
        type: 'sig/signal',
        to: 'b',
        data: { type: 'candidate', candidate: { candidate: 'c', sdpMLineIndex: -1 } },
      },
    ],
    [
      'data.renegotiate',
      { type: 'sig/signal', to: 'b', data: { type: 'renegotiate', renegotiate: false } },
    ],
    ['atMs', { type: 'sig/heartbeat', atMs: 1e300 }],
    ['atMs', { type: 'sig/heartbeat', atMs: -1 }],
    ['status.weight', { type: 'sig/status', status: { ...status, weight: 2 } }],
  ])('%s is wrong', (path, msg) => {
    const issues = refusedClient(msg);
    expect(issues.length).toBeGreaterThan(0);
    for (const issue of issues) expect(issue.startsWith(`${path}: `)).toBe(true);
  });

  it('an SDP at the limit is accepted', () => {
    const big = {
      type: 'sig/signal',
      to: 'b',
      data: { ...offer, sdp: 'x'.repeat(MAX_SDP_LENGTH) },
    };
    expect(parseSignalingClientMessage(JSON.stringify(big)).ok).toBe(true);
  });
});

describe('server messages are refused when', () => {
  it.each([
    ['config.extra', { ...welcome, config: { ...DEFAULT_ROOM_CONFIG, extra: 1 } }],
    [
      'config.minBatch',
      { ...welcome, config: { ...DEFAULT_ROOM_CONFIG, minBatch: 600, globalBatch: 600 } },
    ],
    ['config.staleness', { ...welcome, config: { ...DEFAULT_ROOM_CONFIG, staleness: undefined } }],
    ['peers', { ...welcome, peers: Array.from({ length: MAX_ROOM_PEERS + 1 }, () => peer) }],
    ['peers.0.kind', { ...welcome, peers: [{ ...peer, kind: 'bot' }] }],
    ['iceServers.0.urls', { ...welcome, iceServers: [{ urls: 'http://example.org' }] }],
    ['iceServers.0.urls', { ...welcome, iceServers: [{ urls: 5 }] }],
    ['iceServers.0.urls', { ...welcome, iceServers: [{ urls: Array(9).fill('stun:a') }] }],
    ['heartbeatMs', { ...welcome, heartbeatMs: 0 }],
    ['slot', { ...welcome, slot: -1 }],
    ['slot', { ...welcome, slot: MAX_ROOM_PEERS }],
    ['slot', { ...welcome, slot: 1.5 }],
    ['slot', { ...welcome, slot: '1' }],
    ['slot', { ...welcome, slot: undefined }],
    ['protocol', { ...welcome, protocol: '1' }],
    ['reason', { type: 'sig/peer-left', peerId: 'b', reason: 'exploded' }],
    ['code', { type: 'sig/error', code: 'teapot', message: '', fatal: true }],
    ['fatal', { type: 'sig/error', code: 'internal', message: '' }],
    ['message', { type: 'sig/error', code: 'internal', message: 'm'.repeat(1025), fatal: true }],
  ])('%s is wrong', (path, msg) => {
    const issues = refusedServer(msg);
    expect(issues.length).toBeGreaterThan(0);
    for (const issue of issues) expect(issue.startsWith(`${path}`)).toBe(true);
  });
});
