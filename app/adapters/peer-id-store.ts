/**
 * Remembers the id the server gave this tab's peer, per room and name, in localStorage: a
 * reloaded tab asks for the same id (resumePeerId) and so keeps its slot, its shard and its
 * place in the other peers' view of the room, and its checkpoint matches.
 */

/** Same charset and length as the server's peer ids (core's PeerIdSchema). */
const PEER_ID = /^[A-Za-z0-9_-]{1,64}$/;

export interface PeerIdStore {
  /** The remembered id, or undefined (none, storage blocked, or a value that is not an id). */
  load(): string | undefined;
  save(peerId: string): void;
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
        // Storage is outside input too (another script, an older version): checked, not trusted.
        return value !== null && PEER_ID.test(value) ? value : undefined;
      } catch {
        // localStorage throws when blocked (privacy settings, sandboxed frames).
        return undefined;
      }
    },
    save(peerId) {
      try {
        storage.setItem(key, peerId);
      } catch {
        // Blocked or full: the tab still trains, a reload just joins as a new peer.
      }
    },
  };
}
