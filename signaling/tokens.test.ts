import { describe, expect, it } from 'vitest';
import { createToken, verifyToken } from './tokens';

const NOW = 1_700_000_000_000;

describe('join tokens', () => {
  it('accepts a fresh token for its room and secret', () => {
    const token = createToken('s3cret', 'lab', 60, NOW);
    expect(token).toMatch(/^v1\.\d+\.[A-Za-z0-9_-]{43}$/);
    const checked = verifyToken('s3cret', 'lab', token, NOW + 1000);
    expect(checked.ok).toBe(true);
    if (checked.ok) expect(checked.value.expiresAtSec).toBe(NOW / 1000 + 60);
  });

  it('refuses another room, another secret, expiry and tampering', () => {
    const token = createToken('s3cret', 'lab', 60, NOW);
    const problem = (secret: string, room: string, t: string, now = NOW) => {
      const r = verifyToken(secret, room, t, now);
      return r.ok ? 'ok' : r.error.problem;
    };
    expect(problem('s3cret', 'other', token)).toBe('bad-signature');
    expect(problem('other', 'lab', token)).toBe('bad-signature');
    expect(problem('s3cret', 'lab', token, NOW + 60_000)).toBe('expired');
    // Moving the expiry forward breaks the signature.
    const [, exp, mac] = token.split('.');
    expect(problem('s3cret', 'lab', `v1.${Number(exp) + 3600}.${mac}`)).toBe('bad-signature');
    expect(problem('s3cret', 'lab', `v2.${exp}.${mac}`)).toBe('malformed');
    expect(problem('s3cret', 'lab', '')).toBe('malformed');
    expect(problem('s3cret', 'lab', `${token}x`)).toBe('malformed');
  });

  it('refuses an empty secret and bad ttls when creating', () => {
    expect(() => createToken('', 'lab')).toThrow(RangeError);
    expect(() => createToken('s', 'lab', 0)).toThrow(RangeError);
    expect(() => createToken('s', 'lab', 1.5)).toThrow(RangeError);
  });
});
