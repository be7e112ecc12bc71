import { describe, expect, it } from 'vitest';
import { createPeerIdStore, peerIdKey } from './peer-id-store';

/** An in-memory Storage, optionally failing every call as a blocked localStorage does. */
function memoryStorage(blocked = false): Storage {
  const items = new Map<string, string>();
  const guard = () => {
    if (blocked) throw new DOMException('blocked', 'SecurityError');
  };
  return {
    get length() {
      return items.size;
    },
    clear: () => items.clear(),
    getItem(k) {
      guard();
      return items.get(k) ?? null;
    },
    key: (i) => [...items.keys()][i] ?? null,
    removeItem: (k) => void items.delete(k),
    setItem(k, v) {
      guard();
      items.set(k, v);
    },
  };
}

describe('createPeerIdStore', () => {
  it('remembers an id per room and name', () => {
    const storage = memoryStorage();
    createPeerIdStore(storage, 'lab', 'p1').save('abc_123');
    expect(storage.getItem(peerIdKey('lab', 'p1'))).toBe('abc_123');
    expect(createPeerIdStore(storage, 'lab', 'p1').load()).toEqual({ peerId: 'abc_123' });
    expect(createPeerIdStore(storage, 'lab', 'p2').load()).toBeUndefined();
    expect(createPeerIdStore(storage, 'other', 'p1').load()).toBeUndefined();
  });

  it('keeps the resume key with the id, and drops a key that is not one', () => {
    const storage = memoryStorage();
    const key = 'k'.repeat(43);
    createPeerIdStore(storage, 'lab', 'p1').save('abc', key);
    expect(createPeerIdStore(storage, 'lab', 'p1').load()).toEqual({
      peerId: 'abc',
      resumeKey: key,
    });
    storage.setItem(peerIdKey('lab', 'p1'), 'abc.short');
    expect(createPeerIdStore(storage, 'lab', 'p1').load()).toEqual({ peerId: 'abc' });
    storage.setItem(peerIdKey('lab', 'p1'), `abc.${key}.more`);
    expect(createPeerIdStore(storage, 'lab', 'p1').load()).toBeUndefined();
  });

  it('ignores a stored value that is not a peer id', () => {
    const storage = memoryStorage();
    storage.setItem(peerIdKey('lab', 'p1'), '../../etc');
    expect(createPeerIdStore(storage, 'lab', 'p1').load()).toBeUndefined();
  });

  it('treats blocked storage as empty and never throws', () => {
    const store = createPeerIdStore(memoryStorage(true), 'lab', 'p1');
    expect(() => store.save('abc')).not.toThrow();
    expect(store.load()).toBeUndefined();
  });
});
