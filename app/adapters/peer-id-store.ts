/**
 * Remembers the id the server gave this tab's peer, and the key that resumes it, per room and
 * name, in localStorage: a reloaded tab asks for the same id (resumePeerId with resumeKey) and
 * so keeps its slot, its shard and its place in the other peers' view of the room, and its
 * checkpoint matches. Without the key the server gives a new id (DESIGN.md 10).
 */

/** Same charset and length as the server's peer ids (core's PeerIdSchema). */
const PEER_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** Same as core's ResumeKeySchema. */
const RESUME_KEY = /^[A-Za-z0-9_-]{43}$/;

export interface KeptPeerId {
  readonly peerId: string;
  /** Undefined for an id kept before keys existed: the server then gives a new id. */
  readonly resumeKey?: string;
}

export interface PeerIdStore {
  /** The remembered id, or undefined (none, storage blocked, or a value that is not an id). */
  load(): KeptPeerId | undefined;
  save(peerId: string, resumeKey?: string): void;
}

/** The localStorage key of one room and name. */
export const peerIdKey = (room: string, name: string): string => `dlion:peer:${room}:${name}`;

/** A store over `storage` (the page's localStorage); every failure is treated as "none". */
export function createPeerIdStore(storage: Storage, room: string, name: string): PeerIdStore {
  const key = peerIdKey(room, name);
  return {
    load() {
      try {
        const value = storage.getItem(key);
        if (value === null) return undefined;
        // "id" or "id.key". Storage is outside input too (another script, an older version):
        // checked, not trusted.
        const [peerId = '', resumeKey, ...rest] = value.split('.');
        if (!PEER_ID.test(peerId) || rest.length > 0) return undefined;
        return resumeKey !== undefined && RESUME_KEY.test(resumeKey)
          ? { peerId, resumeKey }
          : { peerId };
      } catch {
        // localStorage throws when blocked (privacy settings, sandboxed frames).
        return undefined;
      }
    },
    save(peerId, resumeKey) {
      try {
        storage.setItem(key, resumeKey === undefined ? peerId : `${peerId}.${resumeKey}`);
      } catch {
        // Blocked or full: the tab still trains, a reload just joins as a new peer.
      }
    },
  };
}
