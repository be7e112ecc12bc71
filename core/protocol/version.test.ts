import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { isSupportedProtocol, PROTOCOL_VERSION, ProtocolVersionSchema } from './version';

describe('protocol version', () => {
  it('supports exactly the current version', () => {
    expect(isSupportedProtocol(PROTOCOL_VERSION)).toBe(true);
    expect(isSupportedProtocol(PROTOCOL_VERSION - 1)).toBe(false);
    expect(isSupportedProtocol(PROTOCOL_VERSION + 1)).toBe(false);
  });

  it('parses any sane version number, so a mismatch can be named as one', () => {
    expect(v.safeParse(ProtocolVersionSchema, PROTOCOL_VERSION + 1).success).toBe(true);
    for (const bad of ['1', 1.5, -1, 2 ** 16, null, Number.NaN]) {
      expect(v.safeParse(ProtocolVersionSchema, bad).success).toBe(false);
    }
  });
});
