/**
 * A kiosk's stable identity: the peer id the server gave it, kept in its state directory, so
 * that a restarted kiosk asks for the same id and comes back as the same peer. Written
 * atomically (temp file + rename); read like any outside input.
 */

import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as v from 'valibot';
import { PeerIdSchema, ResumeKeySchema } from '../core';

export const IDENTITY_FILE = 'identity.json';

/** A state directory that cannot be used as it is; the kiosk exits 5 and touches nothing. */
export class KioskStateError extends Error {
  override name = 'KioskStateError';
}

const IdentitySchema = v.strictObject({
  version: v.literal(1),
  room: v.pipe(v.string(), v.maxLength(64)),
  name: v.pipe(v.string(), v.maxLength(64)),
  peerId: PeerIdSchema,
  /** The key that resumes the id (an identity written before keys existed has none). */
  resumeKey: v.exactOptional(ResumeKeySchema),
});

export type KioskIdentity = v.InferOutput<typeof IdentitySchema>;

/** The identity kept in `dir`, or undefined when there is none yet. */
export async function readIdentity(dir: string): Promise<KioskIdentity | undefined> {
  const file = join(dir, IDENTITY_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new KioskStateError(`cannot read ${file}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new KioskStateError(
      `${file} is not JSON (damaged?): move it away to start as a new peer`,
    );
  }
  const r = v.safeParse(IdentitySchema, json);
  if (!r.success) {
    throw new KioskStateError(
      `${file} is invalid (${r.issues.map((i) => `${v.getDotPath(i) ?? '$'}: ${i.message}`).join('; ')}): move it away to start as a new peer`,
    );
  }
  return r.output;
}

/** Writes the identity atomically: a crash mid-write leaves the previous file whole. */
export async function writeIdentity(dir: string, identity: KioskIdentity): Promise<void> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, IDENTITY_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  // Owner only: the resume key lets whoever reads it take this kiosk's place in the room.
  await writeFile(tmp, `${JSON.stringify(identity)}\n`, { mode: 0o600 });
  await rename(tmp, file);
}
