/**
 * Join tokens: a room-scoped HMAC-SHA256 with an expiry, so an operator can hand out a
 * link without running an account system. Format: `v1.<expiresAtSec>.<base64url mac>`,
 * the mac taken over "dlion-join\nv1\n<room>\n<expiresAtSec>".
 * Example: `createToken(secret, 'lab')`, checked by `verifyToken(secret, 'lab', token, Date.now())`.
 */

import { createHmac, timingSafeEqual } from 'node:crypto';
import { err, ok, type Result } from '../core';

export const TOKEN_VERSION = 'v1';
/** A day: long enough for a lab session, short enough that a leaked link goes stale. */
export const DEFAULT_TOKEN_TTL_SECONDS = 24 * 60 * 60;
/** Ten years; a larger ttl is almost certainly a typo. */
export const MAX_TOKEN_TTL_SECONDS = 10 * 365 * 24 * 60 * 60;

export type TokenProblem = 'malformed' | 'expired' | 'bad-signature';

/** Why a token was refused; `problem` is for logs, the client only ever sees 'bad-token'. */
export class TokenError extends Error {
  override readonly name = 'TokenError';
  constructor(
    readonly problem: TokenProblem,
    message: string,
  ) {
    super(message);
  }
}

const mac = (secret: string, room: string, expiresAtSec: number): Buffer =>
  createHmac('sha256', secret)
    .update(`dlion-join\n${TOKEN_VERSION}\n${room}\n${expiresAtSec}`)
    .digest();

/** A token for `room` valid for `ttlSeconds` from `nowMs`. Throws on an empty secret or a bad ttl. */
export function createToken(
  secret: string,
  room: string,
  ttlSeconds: number = DEFAULT_TOKEN_TTL_SECONDS,
  nowMs: number = Date.now(),
): string {
  if (secret.length === 0) throw new RangeError('the token secret must not be empty');
  if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0 || ttlSeconds > MAX_TOKEN_TTL_SECONDS) {
    throw new RangeError(`ttl must be an integer in 1..${MAX_TOKEN_TTL_SECONDS} seconds`);
  }
  const expiresAtSec = Math.floor(nowMs / 1000) + ttlSeconds;
  return `${TOKEN_VERSION}.${expiresAtSec}.${mac(secret, room, expiresAtSec).toString('base64url')}`;
}

const TOKEN_PATTERN = /^v1\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/;

/**
 * Checks a token for `room` at `nowMs`: the signature first (in constant time), then the
 * expiry, so a forged token learns nothing about the clock. Never throws.
 */
export function verifyToken(
  secret: string,
  room: string,
  token: string,
  nowMs: number,
): Result<{ expiresAtSec: number }, TokenError> {
  const match = TOKEN_PATTERN.exec(token);
  if (!match) return err(new TokenError('malformed', 'token is not a v1 join token'));
  const expiresAtSec = Number(match[1]);
  const given = Buffer.from(match[2] ?? '', 'base64url');
  const expected = mac(secret, room, expiresAtSec);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return err(new TokenError('bad-signature', 'token was not issued for this room and secret'));
  }
  if (nowMs >= expiresAtSec * 1000) return err(new TokenError('expired', 'token has expired'));
  return ok({ expiresAtSec });
}

/**
 * The key that resumes `peerId` in `room` (DESIGN.md 10): handed out in the welcome, kept by
 * the peer (a kiosk's identity file, a tab's localStorage), asked for with the id. A resume
 * without it gets a new id, so an id listed by /api/rooms cannot be taken over while its peer
 * is away. Stateless: any server holding `secret` checks it (federated servers share theirs).
 */
export const resumeKey = (secret: string, room: string, peerId: string): string =>
  createHmac('sha256', secret).update(`dlion-resume\n${room}\n${peerId}`).digest('base64url');

/** Whether `key` resumes `peerId` in `room`, in constant time. Never throws. */
export function checkResumeKey(
  secret: string,
  room: string,
  peerId: string,
  key: string | undefined,
): boolean {
  if (key === undefined) return false;
  const given = Buffer.from(key, 'base64url');
  const expected = Buffer.from(resumeKey(secret, room, peerId), 'base64url');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
