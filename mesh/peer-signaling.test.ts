/** The hello a peer joins with: first join, resume of a remembered id, and a reconnect. */

import { describe, expect, it } from 'vitest';
import { asPeerId, encodeMessage, PROTOCOL_VERSION, parseSignalingClientMessage } from '../core';
import { signalingHello } from './peer-signaling';

const options = { room: 'lab', name: 'tab-1', kind: 'browser' as const };

describe('signalingHello', () => {
  it('joins with the room, name and kind only when nothing else is set', () => {
    expect(signalingHello(options, undefined)).toEqual({
      type: 'sig/hello',
      protocol: PROTOCOL_VERSION,
      room: 'lab',
      name: 'tab-1',
      kind: 'browser',
    });
  });

  it('carries token, site and config when given', () => {
    const hello = signalingHello(
      { ...options, token: 't0k', site: 'north', config: { strategy: 'bsp' } },
      undefined,
    );
    expect(hello).toMatchObject({ token: 't0k', site: 'north', config: { strategy: 'bsp' } });
    // What the server's schema accepts: the client sends it as it is.
    expect(parseSignalingClientMessage(encodeMessage(hello)).ok).toBe(true);
  });

  it('asks for the remembered id, and after a welcome for the id the server gave', () => {
    const remembered = { ...options, resumePeerId: 'old-id' };
    expect(signalingHello(remembered, undefined).resume).toEqual({ peerId: 'old-id' });
    const keyed = { ...remembered, resumeKey: 'k'.repeat(43) };
    expect(signalingHello(keyed, undefined).resume).toEqual({
      peerId: 'old-id',
      key: 'k'.repeat(43),
    });
    expect(signalingHello(remembered, asPeerId('new-id')).resume).toEqual({ peerId: 'new-id' });
  });
});
