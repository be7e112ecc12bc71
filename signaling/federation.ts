/**
 * Federation of edge signaling servers through Redis (DESIGN.md 8): one server per
 * micro-cloud, one room across them. Redis holds each room's config (created once, atomically),
 * its members (one key per peer with a TTL that its server refreshes, so a dead server's peers
 * expire) and their shard slots; a channel per room carries joins, leaves and relayed SDP/ICE
 * between servers. Redis carries only signaling: gradients stay on the peers' data channels.
 *
 * Nothing read from Redis is trusted: every value and every channel message is size-capped,
 * parsed and checked against the same schemas as a socket's input, and what fails is counted
 * and dropped. While Redis is unreachable every call answers `undefined` (the server then
 * serves its own peers alone) and the federation reports itself down; on reconnect the
 * server's own peers are registered again and announced.
 *
 * Keys (prefix dlion:v1:): rooms (set), room:R:config, room:R:ids (set), room:R:slots (hash
 * slot -> id), room:R:peer:ID (JSON, PX ttl); channel room:R.
 */

import { Redis } from 'ioredis';
import * as v from 'valibot';
import {
  PEER_LEFT_REASONS,
  type PeerId,
  type PeerInfo,
  PeerInfoSchema,
  type PeerLeftReason,
  type PeerStatus,
  PeerStatusSchema,
  parseRoomConfig,
  type RoomConfig,
  type SignalData,
  SignalDataSchema,
} from '../core';

const PREFIX = 'dlion:v1:';
/** A channel message or stored value larger than this is refused unread. */
/** Above a socket's largest message (256 KiB by default) with room for JSON escaping. */
export const MAX_FEDERATION_BYTES = 1024 * 1024;

const ServerIdSchema = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.:-]{1,128}$/));
const SlotSchema = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(4096));

/** One member as stored under room:R:peer:ID. */
const MemberSchema = v.strictObject({
  v: v.literal(1),
  server: ServerIdSchema,
  info: PeerInfoSchema,
  slot: SlotSchema,
  status: v.optional(PeerStatusSchema),
});

/** What servers tell each other on a room's channel. */
const EnvelopeSchema = v.variant('kind', [
  v.strictObject({
    v: v.literal(1),
    kind: v.literal('joined'),
    server: ServerIdSchema,
    peer: PeerInfoSchema,
    slot: SlotSchema,
  }),
  v.strictObject({
    v: v.literal(1),
    kind: v.literal('left'),
    server: ServerIdSchema,
    peerId: PeerInfoSchema.entries.id,
    reason: v.picklist(PEER_LEFT_REASONS),
  }),
  v.strictObject({
    v: v.literal(1),
    kind: v.literal('signal'),
    server: ServerIdSchema,
    room: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,64}$/)),
    from: PeerInfoSchema.entries.id,
    to: PeerInfoSchema.entries.id,
    data: SignalDataSchema,
  }),
]);

export type FederationEnvelope = v.InferOutput<typeof EnvelopeSchema>;

/** A peer of the room attached to some server of the federation. */
export interface FederatedMember {
  readonly server: string;
  readonly info: PeerInfo;
  readonly slot: number;
  readonly status?: PeerStatus | undefined;
}

/** What the federation tells its server. */
export interface FederationEvents {
  /** A valid envelope from another server, for a room this server subscribed to. */
  onEnvelope(room: string, envelope: FederationEnvelope): void;
  /** Redis came back (or came up for the first time): re-register and resync. */
  onReady(): void;
  /** Something read from Redis was refused; counted by the server. */
  onRejected(what: string): void;
}

export interface FederationOptions {
  readonly url: string;
  readonly serverId: string;
  /** Members expire this long after their server's last refresh. */
  readonly memberTtlMs: number;
  readonly log: (line: string) => void;
  readonly events: FederationEvents;
}

export type JoinOutcome =
  | { readonly kind: 'joined'; readonly slot: number }
  | { readonly kind: 'full' }
  /** The id is live on another server (a resume must not hijack it). */
  | { readonly kind: 'taken' };

export interface Federation {
  readonly serverId: string;
  /** Whether Redis answers now. */
  up(): boolean;
  /** Resolves true once Redis answers, or false after `ms` (the server then starts degraded). */
  whenReady(ms: number): Promise<boolean>;
  /** The room's config for the whole federation: `proposed` if this call created it. */
  roomConfig(room: string, proposed: RoomConfig): Promise<RoomConfig | undefined>;
  /** The room's config as Redis holds it, without creating it; undefined when none or down. */
  readConfig(room: string): Promise<RoomConfig | undefined>;
  /** Claims the lowest free slot and registers the member, unless the room is full. */
  join(
    room: string,
    info: PeerInfo,
    capacity: number,
    slots: number,
  ): Promise<JoinOutcome | undefined>;
  /**
   * Registers a member again (Redis came back, or its key expired), keeping its slot where it
   * is free. False when another server holds that id now (or Redis is down).
   */
  reregister(room: string, member: FederatedMember, config: RoomConfig): Promise<boolean>;
  /** Removes the member and tells the other servers. */
  leave(room: string, id: PeerId, reason: PeerLeftReason): Promise<void>;
  /** Stores the member's last status (shown by /api/rooms on every server). */
  status(room: string, member: FederatedMember): Promise<void>;
  /**
   * Extends the TTL of this server's members and of the rooms they are in; the members whose
   * keys were gone (expired, evicted) are returned, for the server to register again.
   */
  refresh(rooms: ReadonlyMap<string, readonly PeerId[]>): Promise<{ room: string; id: PeerId }[]>;
  /** Every live member of the room, on any server; undefined while Redis is down. */
  members(room: string): Promise<FederatedMember[] | undefined>;
  /** Rooms with at least one live member somewhere, with their configs. */
  rooms(): Promise<{ room: string; config: RoomConfig; peers: number }[] | undefined>;
  /** Joins and leaves go to the room's channel, which every server of the room hears. */
  publish(room: string, envelope: FederationEnvelope): Promise<boolean>;
  /** A relayed signal goes to the channel of the server its target is attached to. */
  publishSignal(targetServer: string, envelope: FederationEnvelope): Promise<boolean>;
  /** Resolves once the room's channel is subscribed (false when that failed). */
  subscribe(room: string): Promise<boolean>;
  unsubscribe(room: string): void;
  close(): Promise<void>;
}

const roomKey = (room: string, part: string) => `${PREFIX}room:${room}:${part}`;
const peerPrefix = (room: string) => roomKey(room, 'peer:');
const channelOf = (room: string) => `${PREFIX}room:${room}`;
const serverChannel = (server: string) => `${PREFIX}server:${server}`;

// Atomic join: refuse an id that is live on another server (this server's own stale entry,
// left by a crash before a restart, may be taken back), count the live members (pruning
// expired ids), claim the lowest slot that is free or held by an expired member or by this
// id, store the member.
const JOIN_SCRIPT = `
local ids, slots, prefix = KEYS[1], KEYS[2], ARGV[1]
local id, capacity, nslots, ttl = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local member = cjson.decode(ARGV[6])
local existing = redis.call('GET', prefix .. id)
if existing then
  local ok, old = pcall(cjson.decode, existing)
  if not ok or type(old) ~= 'table' or old.server ~= member.server then return -2 end
  redis.call('DEL', prefix .. id)
end
local live = 0
for _, m in ipairs(redis.call('SMEMBERS', ids)) do
  if redis.call('EXISTS', prefix .. m) == 1 then live = live + 1 else redis.call('SREM', ids, m) end
end
if live >= capacity then return -1 end
for s = 0, nslots - 1 do
  local holder = redis.call('HGET', slots, s)
  if (not holder) or holder == id or redis.call('EXISTS', prefix .. holder) == 0 then
    redis.call('HSET', slots, s, id)
    member.slot = s
    redis.call('SET', prefix .. id, cjson.encode(member), 'PX', ttl)
    redis.call('SADD', ids, id)
    redis.call('PEXPIRE', ids, ttl * 4)
    redis.call('PEXPIRE', slots, ttl * 4)
    return s
  end
end
return -1
`;

// Registers a member again (Redis came back, or its key expired): never over another
// server's member of that id; its slot back where it is free, expired, or already its own.
const REREGISTER_SCRIPT = `
local ids, slots, prefix = KEYS[1], KEYS[2], ARGV[1]
local id, ttl = ARGV[2], tonumber(ARGV[3])
local member = cjson.decode(ARGV[4])
local existing = redis.call('GET', prefix .. id)
if existing then
  local ok, old = pcall(cjson.decode, existing)
  if not ok or type(old) ~= 'table' or old.server ~= member.server then return 0 end
end
redis.call('SET', prefix .. id, ARGV[4], 'PX', ttl)
redis.call('SADD', ids, id)
local holder = redis.call('HGET', slots, member.slot)
if (not holder) or holder == id or redis.call('EXISTS', prefix .. holder) == 0 then
  redis.call('HSET', slots, member.slot, id)
end
return 1
`;

// Leaves: the member, its id, and the slots it holds (only those: a slot another peer has
// claimed since is left alone).
const LEAVE_SCRIPT = `
local ids, slots, prefix, id = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
redis.call('DEL', prefix .. id)
redis.call('SREM', ids, id)
local all = redis.call('HGETALL', slots)
for i = 1, #all, 2 do
  if all[i + 1] == id then redis.call('HDEL', slots, all[i]) end
end
return 1
`;

const ROOM_NAME = /^[A-Za-z0-9_-]{1,64}$/;
/** The most rooms /api/rooms lists from Redis at once. */
const MAX_LISTED_ROOMS = 1000;

/** Parses JSON read from Redis with a size cap; undefined (and `reject`) when it is not. */
function readJson(text: string, what: string, reject: (what: string) => void): unknown {
  if (text.length > MAX_FEDERATION_BYTES) {
    reject(`${what}: ${text.length} bytes`);
    return undefined;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    reject(`${what}: not JSON`);
    return undefined;
  }
}

/**
 * Connects to Redis (a command connection and a subscriber) and returns the federation.
 * Never throws for Redis being down: it keeps reconnecting and reports `up() === false`.
 *
 * @example const fed = createRedisFederation({ url: 'redis://127.0.0.1:6379', serverId: 'edge-1', memberTtlMs: 15000, log, events });
 */
export function createRedisFederation(o: FederationOptions): Federation {
  const options = {
    // Fail fast while disconnected: the server then serves its own peers alone.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 2000,
    retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
    lazyConnect: false,
  };
  const redis = new Redis(o.url, options);
  const sub = new Redis(o.url, { ...options, enableOfflineQueue: true });
  const subscribed = new Set<string>();
  const ownChannel = serverChannel(o.serverId);
  let ready = false;
  let closed = false;
  let lastError = '';

  const reject = (what: string) => o.events.onRejected(what);
  const warn = (what: string, e: unknown) => {
    const message = e instanceof Error ? e.message : String(e);
    if (message !== lastError) o.log(`federation: ${what}: ${message}`);
    lastError = message;
  };
  /** Runs a Redis call; undefined when Redis is down or the call failed. */
  const attempt = async <T>(what: string, f: () => Promise<T>): Promise<T | undefined> => {
    if (!ready) return undefined;
    try {
      return await f();
    } catch (e) {
      warn(what, e);
      return undefined;
    }
  };

  // Up when both connections are: the subscriber must be listening before anyone is told.
  let mainReady = false;
  let subReady = false;
  const readyWaiters = new Set<() => void>();
  const update = async () => {
    const now = mainReady && subReady;
    if (now && !ready) {
      try {
        // Our own channel (relayed signals) first; ioredis re-subscribes the rooms by itself.
        await sub.subscribe(ownChannel);
      } catch (e) {
        warn('subscribe', e);
        // Both connections may stay up without another 'ready': try again on our own.
        if (!closed) setTimeout(() => void update(), 1000).unref();
        return;
      }
      if (!(mainReady && subReady) || ready || closed) return;
      ready = true;
      lastError = '';
      o.log(`federation: Redis ready (${o.serverId})`);
      for (const w of readyWaiters) w();
      readyWaiters.clear();
      o.events.onReady();
    } else if (!now && ready) {
      ready = false;
      if (!closed) o.log("federation: Redis connection lost; serving this server's peers alone");
    }
  };
  redis.on('ready', () => {
    mainReady = true;
    void update();
  });
  redis.on('close', () => {
    mainReady = false;
    void update();
  });
  sub.on('ready', () => {
    subReady = true;
    void update();
  });
  sub.on('close', () => {
    subReady = false;
    void update();
  });
  redis.on('error', (e: Error) => warn('redis', e));
  sub.on('error', (e: Error) => warn('subscriber', e));
  sub.on('message', (channel: string, message: string) => {
    const direct = channel === ownChannel;
    if (!direct && !channel.startsWith(`${PREFIX}room:`)) return;
    const room = direct ? undefined : channel.slice(`${PREFIX}room:`.length);
    if (room !== undefined && !subscribed.has(room)) return;
    const where = room === undefined ? 'this server' : room;
    const json = readJson(message, `message for ${where}`, reject);
    if (json === undefined) return;
    const r = v.safeParse(EnvelopeSchema, json);
    if (!r.success) {
      reject(`message for ${where}: ${r.issues[0]?.message ?? 'invalid'}`);
      return;
    }
    const env = r.output;
    // Our own messages come back to us: nothing to do with them.
    if (env.server === o.serverId) return;
    if (direct) {
      if (env.kind !== 'signal') {
        reject(`a ${env.kind} message on this server's own channel`);
        return;
      }
      o.events.onEnvelope(env.room, env);
    } else if (env.kind === 'signal') {
      reject(`a signal on the channel of room ${room}`);
    } else {
      o.events.onEnvelope(room!, env);
    }
  });

  /** A room config read from Redis, checked as a hello's is; undefined (counted) if bad. */
  const parseConfig = (text: string, room: string): RoomConfig | undefined => {
    const json = readJson(text, `config of ${room}`, reject);
    if (json === undefined) return undefined;
    const parsed = parseRoomConfig(json);
    if (parsed.ok) return parsed.value;
    reject(`config of ${room}: ${parsed.error.message}`);
    return undefined;
  };

  const parseMember = (text: string | null, room: string): FederatedMember | undefined => {
    if (text === null) return undefined;
    const json = readJson(text, `member of ${room}`, reject);
    if (json === undefined) return undefined;
    const r = v.safeParse(MemberSchema, json);
    if (!r.success) {
      reject(`member of ${room}: ${r.issues[0]?.message ?? 'invalid'}`);
      return undefined;
    }
    const { server, info, slot, status } = r.output;
    // A status that claims another id than its member's is someone else's: dropped.
    return { server, info, slot, ...(status && status.id === info.id ? { status } : {}) };
  };

  const memberValue = (m: FederatedMember) =>
    JSON.stringify({
      v: 1,
      server: m.server,
      info: m.info,
      slot: m.slot,
      ...(m.status === undefined ? {} : { status: m.status }),
    });

  const readMembers = async (room: string): Promise<FederatedMember[]> => {
    const ids = await redis.smembers(roomKey(room, 'ids'));
    if (ids.length === 0) return [];
    const values = await redis.mget(...ids.map((id) => `${peerPrefix(room)}${id}`));
    const members: FederatedMember[] = [];
    for (const [i, text] of values.entries()) {
      const m = parseMember(text, room);
      // A key under one id that holds another id's member is not believed.
      if (m !== undefined && m.info.id === ids[i]) members.push(m);
    }
    return members;
  };

  return {
    serverId: o.serverId,
    up: () => ready,

    whenReady: (ms) =>
      ready
        ? Promise.resolve(true)
        : new Promise<boolean>((resolve) => {
            const done = () => {
              clearTimeout(timer);
              resolve(true);
            };
            const timer = setTimeout(() => {
              readyWaiters.delete(done);
              resolve(false);
            }, ms);
            readyWaiters.add(done);
          }),

    roomConfig: (room, proposed) =>
      attempt('room config', async () => {
        const key = roomKey(room, 'config');
        const ttl = o.memberTtlMs * 4;
        await redis.set(key, JSON.stringify(proposed), 'PX', ttl, 'NX');
        await redis.sadd(`${PREFIX}rooms`, room);
        const text = await redis.get(key);
        if (text === null) return proposed;
        const stored = parseConfig(text, room);
        if (stored === undefined) {
          // A broken stored config is replaced by ours rather than served to peers.
          await redis.set(key, JSON.stringify(proposed), 'PX', ttl);
          return proposed;
        }
        return stored;
      }),

    readConfig: async (room) =>
      (await attempt('room config', async () => {
        const text = await redis.get(roomKey(room, 'config'));
        return text === null ? undefined : parseConfig(text, room);
      })) ?? undefined,

    join: (room, info, capacity, slots) =>
      attempt('join', async () => {
        const member = { v: 1, server: o.serverId, info, slot: 0 };
        const r = (await redis.eval(
          JOIN_SCRIPT,
          2,
          roomKey(room, 'ids'),
          roomKey(room, 'slots'),
          peerPrefix(room),
          info.id,
          String(capacity),
          String(slots),
          String(o.memberTtlMs),
          JSON.stringify(member),
        )) as number;
        if (r === -2) return { kind: 'taken' } as const;
        if (r < 0) return { kind: 'full' } as const;
        return { kind: 'joined', slot: r } as const;
      }),

    reregister: async (room, member, config) =>
      (await attempt('re-register', async () => {
        const ttl = o.memberTtlMs;
        await redis.set(roomKey(room, 'config'), JSON.stringify(config), 'PX', ttl * 4, 'NX');
        await redis.sadd(`${PREFIX}rooms`, room);
        const r = (await redis.eval(
          REREGISTER_SCRIPT,
          2,
          roomKey(room, 'ids'),
          roomKey(room, 'slots'),
          peerPrefix(room),
          member.info.id,
          String(ttl),
          memberValue(member),
        )) as number;
        return r === 1;
      })) ?? false,

    async leave(room, id, reason) {
      await attempt('leave', async () => {
        await redis.eval(
          LEAVE_SCRIPT,
          2,
          roomKey(room, 'ids'),
          roomKey(room, 'slots'),
          peerPrefix(room),
          id,
        );
        await redis.publish(
          channelOf(room),
          JSON.stringify({ v: 1, kind: 'left', server: o.serverId, peerId: id, reason }),
        );
      });
    },

    async status(room, member) {
      await attempt('status', () =>
        redis.set(
          `${peerPrefix(room)}${member.info.id}`,
          memberValue(member),
          'PX',
          o.memberTtlMs,
          'XX',
        ),
      );
    },

    refresh: async (rooms) =>
      (await attempt('refresh', async () => {
        const batch = redis.pipeline();
        // One entry per command: the member it refreshes, or undefined for the room's keys.
        const about: ({ room: string; id: PeerId } | undefined)[] = [];
        for (const [room, ids] of rooms) {
          for (const id of ids) {
            batch.pexpire(`${peerPrefix(room)}${id}`, o.memberTtlMs);
            about.push({ room, id });
          }
          // The room's own keys live as long as some server refreshes them.
          for (const part of ['config', 'ids', 'slots']) {
            batch.pexpire(roomKey(room, part), o.memberTtlMs * 4);
            about.push(undefined);
          }
          batch.sadd(`${PREFIX}rooms`, room);
          about.push(undefined);
        }
        const results = (await batch.exec()) ?? [];
        // PEXPIRE answers 0 for a key that is gone: those members must be registered again.
        return about.flatMap((member, i) => {
          const [error, value] = results[i] ?? [null, 1];
          return member !== undefined && error === null && value === 0 ? [member] : [];
        });
      })) ?? [],

    members: (room) => attempt('members', () => readMembers(room)),

    rooms: () =>
      attempt('rooms', async () => {
        const names = await redis.smembers(`${PREFIX}rooms`);
        const out: { room: string; config: RoomConfig; peers: number }[] = [];
        for (const room of names.slice(0, MAX_LISTED_ROOMS)) {
          if (!ROOM_NAME.test(room)) {
            reject(`a room name that is not one: ${JSON.stringify(room.slice(0, 80))}`);
            await redis.srem(`${PREFIX}rooms`, room);
            continue;
          }
          const text = await redis.get(roomKey(room, 'config'));
          const members = await readMembers(room);
          if (text === null || members.length === 0) {
            if (text === null) await redis.srem(`${PREFIX}rooms`, room);
            continue;
          }
          const config = parseConfig(text, room);
          if (config !== undefined) out.push({ room, config, peers: members.length });
        }
        return out;
      }),

    async publish(room, envelope) {
      const sent = await attempt('publish', () =>
        redis.publish(channelOf(room), JSON.stringify(envelope)),
      );
      return sent !== undefined;
    },

    async publishSignal(targetServer, envelope) {
      const sent = await attempt('publish', () =>
        redis.publish(serverChannel(targetServer), JSON.stringify(envelope)),
      );
      return sent !== undefined;
    },

    async subscribe(room) {
      subscribed.add(room);
      try {
        await sub.subscribe(channelOf(room));
        return true;
      } catch (e) {
        warn('subscribe', e);
        return false;
      }
    },

    unsubscribe(room) {
      if (!subscribed.delete(room)) return;
      sub.unsubscribe(channelOf(room)).catch((e: unknown) => warn('unsubscribe', e));
    },

    async close() {
      if (closed) return;
      closed = true;
      ready = false;
      redis.disconnect();
      sub.disconnect();
    },
  };
}

/** The envelope of a relayed signal, from a peer of this server to one of another. */
export const signalEnvelope = (
  serverId: string,
  room: string,
  from: PeerId,
  to: PeerId,
  data: SignalData,
): FederationEnvelope => ({ v: 1, kind: 'signal', server: serverId, room, from, to, data });
