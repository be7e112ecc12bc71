import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { formatIssues, MAX_ISSUE_LENGTH, MAX_ISSUES, validate } from './issues';

describe('formatIssues', () => {
  it('writes "path: message", with "$" for the whole value', () => {
    const schema = v.strictObject({ a: v.strictObject({ b: v.number() }) });
    const r = v.safeParse(schema, { a: { b: 'x' } });
    expect(formatIssues(r.issues ?? [])).toEqual([expect.stringMatching(/^a\.b: Invalid type/)]);
    const whole = v.safeParse(schema, 3);
    expect(formatIssues(whole.issues ?? [])).toEqual([expect.stringMatching(/^\$: /)]);
  });

  it('keeps at most MAX_ISSUES issues, each at most MAX_ISSUE_LENGTH long', () => {
    const many = v.safeParse(
      v.array(v.number()),
      Array.from({ length: 100 }, () => 'x'),
    );
    expect(many.issues).toHaveLength(100);
    expect(formatIssues(many.issues ?? [])).toHaveLength(MAX_ISSUES);

    // valibot quotes the received value in its message; a 10 kB value must not come back.
    const long = v.safeParse(v.pipe(v.string(), v.regex(/^a$/)), 'b'.repeat(10_000));
    const [line] = formatIssues(long.issues ?? []);
    expect(line?.length).toBe(MAX_ISSUE_LENGTH);
  });
});

describe('validate', () => {
  it('returns the parsed output or an invalid-message ProtocolError', () => {
    expect(validate(v.number(), 3, 'n')).toStrictEqual({ ok: true, value: 3 });
    const r = validate(v.number(), 'x', 'n');
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.name).toBe('ProtocolError');
      expect(r.error.code).toBe('invalid-message');
      expect(r.error.message).toMatch(/^invalid n: \$: /);
    }
  });

  it('turns an exception inside validation into an issue', () => {
    const throwing = v.pipe(
      v.number(),
      v.check(() => {
        throw new Error('kaboom');
      }),
    );
    const r = validate(throwing, 1, 'n');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.issues).toEqual(['$: kaboom']);
  });
});
