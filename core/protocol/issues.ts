/**
 * Turns valibot issues into the ProtocolError every parser in this folder returns, so that
 * all of them report problems the same way: "path: message", capped in number.
 */

import * as v from 'valibot';
import { ProtocolError } from '../errors';
import { err, ok, type Result } from '../result';

/** At most this many issues are kept: a hostile message must not produce a huge error. */
export const MAX_ISSUES = 20;

/** Each issue string is cut to this length: valibot quotes the received value, which may be long. */
export const MAX_ISSUE_LENGTH = 256;

/** Formats issues as "path: message" strings; issues about the whole value use "$". */
export const formatIssues = (issues: readonly v.BaseIssue<unknown>[]): string[] =>
  issues.slice(0, MAX_ISSUES).map((issue) => {
    const line = `${v.getDotPath(issue) ?? '$'}: ${issue.message}`;
    return line.length > MAX_ISSUE_LENGTH ? `${line.slice(0, MAX_ISSUE_LENGTH - 1)}…` : line;
  });

/** Validates `input` against `schema`; never throws (a throwing getter or proxy is an issue too). */
export const validate = <TSchema extends v.GenericSchema>(
  schema: TSchema,
  input: unknown,
  what: string,
): Result<v.InferOutput<TSchema>, ProtocolError> => {
  try {
    const parsed = v.safeParse(schema, input);
    if (parsed.success) return ok(parsed.output);
    const issues = formatIssues(parsed.issues);
    return err(new ProtocolError('invalid-message', `invalid ${what}: ${issues[0]}`, issues));
  } catch (cause) {
    const reason = describeThrown(cause);
    return err(
      new ProtocolError('invalid-message', `invalid ${what}: ${reason}`, [`$: ${reason}`]),
    );
  }
};

/** A message for anything thrown, even a value whose own `message` or `toString` throws. */
export const describeThrown = (cause: unknown): string => {
  try {
    return cause instanceof Error ? String(cause.message) : String(cause);
  } catch {
    return 'unreadable exception';
  }
};
