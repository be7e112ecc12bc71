/**
 * The join URL (DESIGN.md 7): `/?room=NAME&name=...&token=...&site=...&slowdown=2&uplinkMbps=10`,
 * plus `strategy`, `model` and `dataset` for a new room and `backend` to force one. For
 * benchmarks also `config` (a JSON object of any room config fields, for a new room) and
 * `testEverySec` (evaluate on the test split that often). Parsed and checked here, before
 * anything starts: a bad value is reported, never half-applied.
 */

import * as v from 'valibot';
import {
  DATASETS,
  MAX_TOKEN_LENGTH,
  MODELS,
  PeerNameSchema,
  parseRoomConfig,
  type RoomConfig,
  type RoomConfigInput,
  STRATEGIES,
} from '../core';
import type { BackendName } from '../worker/backend';

/** Room names as the server takes them (core's RoomNameSchema), spelled out for the form. */
export const ROOM_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** The same for an input's `pattern` attribute, which browsers compile with the `v` flag: there a
 *  hyphen in a class must be escaped, or the page logs a SyntaxError and checks nothing. */
export const ROOM_PATTERN_ATTRIBUTE = '[A-Za-z0-9_\\-]{1,64}';

/** Listed here, not imported: worker/backend's module loads tfjs, which the page must not. */
export const BACKEND_NAMES = ['webgpu', 'webgl', 'cpu'] as const satisfies readonly BackendName[];

/** Everything the page needs to join. */
export interface JoinParams {
  readonly room: string;
  readonly name: string;
  readonly token?: string;
  /** The micro-cloud (site) this tab is in (DESIGN.md 8). */
  readonly site?: string;
  /** Compute slowdown, >= 1 (1: none). */
  readonly slowdown: number;
  /** Cap on each outgoing link, Mbit/s; undefined: no cap. */
  readonly uplinkMbps?: number;
  readonly backend?: BackendName;
  /**
   * The room config fields the URL sets (`strategy`, `model`, `dataset`, and whatever
   * `config` holds); used only when this peer creates the room.
   */
  readonly config: RoomConfigInput;
  /** Benchmarks: seconds between test-split evaluations (PeerOptions.testEveryMs); off when undefined. */
  readonly testEverySec?: number;
}

/** The longest `config` value taken: a full room config is a few hundred characters. */
export const MAX_CONFIG_PARAM_LENGTH = 4000;

export type PageParams =
  /** No room yet: show the form (with the name, when one was given or made up). */
  | { readonly kind: 'form'; readonly name: string }
  | { readonly kind: 'join'; readonly params: JoinParams }
  /** One message per bad parameter: shown, and nothing joins. */
  | { readonly kind: 'invalid'; readonly errors: readonly string[] };

/** A short display name for a tab that did not choose one, e.g. `tab-k3f9`. */
export function randomName(random: () => number): string {
  const alphabet = 'abcdefghijkmnpqrstuvwxyz23456789';
  let s = 'tab-';
  for (let i = 0; i < 4; i++) s += alphabet[Math.floor(random() * alphabet.length)] ?? 'x';
  return s;
}

const oneOf = <T extends string>(
  list: readonly T[],
  key: string,
  value: string,
  errors: string[],
): T | undefined => {
  if ((list as readonly string[]).includes(value)) return value as T;
  errors.push(`${key} '${value}' is not one of ${list.join(', ')}`);
  return undefined;
};

/** A finite decimal number, or undefined (with a message) for anything else. */
const numberParam = (key: string, value: string, errors: string[]): number | undefined => {
  const n = value.trim() === '' ? Number.NaN : Number(value);
  if (Number.isFinite(n)) return n;
  errors.push(`${key} '${value}' is not a number`);
  return undefined;
};

/**
 * Reads the page's query string. Example:
 * `parsePageParams(new URLSearchParams('?room=lab&slowdown=2'), Math.random)`.
 */
export function parsePageParams(query: URLSearchParams, random: () => number): PageParams {
  const errors: string[] = [];
  const get = (key: string): string | undefined => query.get(key) ?? undefined;

  const rawName = get('name');
  let name = rawName ?? randomName(random);
  if (rawName !== undefined && !v.is(PeerNameSchema, rawName)) {
    errors.push('name must be 1 to 64 printable characters, not blank');
    name = randomName(random);
  }

  const room = get('room');
  if (room === undefined)
    return errors.length ? { kind: 'invalid', errors } : { kind: 'form', name };
  if (!ROOM_PATTERN.test(room)) {
    errors.push('room must be 1 to 64 letters, digits, "_" or "-"');
  }

  const token = get('token');
  if (token !== undefined && (token === '' || token.length > MAX_TOKEN_LENGTH)) {
    errors.push(`token must be 1 to ${MAX_TOKEN_LENGTH} characters`);
  }

  const site = get('site');
  if (site !== undefined && !ROOM_PATTERN.test(site)) {
    errors.push('site must be 1 to 64 letters, digits, "_" or "-"');
  }

  let slowdown = 1;
  const rawSlowdown = get('slowdown');
  if (rawSlowdown !== undefined) {
    const n = numberParam('slowdown', rawSlowdown, errors);
    if (n !== undefined && n < 1) errors.push(`slowdown must be at least 1, got ${n}`);
    else if (n !== undefined) slowdown = n;
  }

  let uplinkMbps: number | undefined;
  const rawUplink = get('uplinkMbps');
  if (rawUplink !== undefined) {
    const n = numberParam('uplinkMbps', rawUplink, errors);
    if (n !== undefined && n <= 0) errors.push(`uplinkMbps must be above 0, got ${n}`);
    else uplinkMbps = n;
  }

  const rawBackend = get('backend');
  const backend =
    rawBackend === undefined ? undefined : oneOf(BACKEND_NAMES, 'backend', rawBackend, errors);

  let testEverySec: number | undefined;
  const rawTestEvery = get('testEverySec');
  if (rawTestEvery !== undefined) {
    const n = numberParam('testEverySec', rawTestEvery, errors);
    if (n !== undefined && (n < 0.1 || n > 86_400)) {
      errors.push(`testEverySec must be between 0.1 and 86400, got ${n}`);
    } else testEverySec = n;
  }

  const config: { -readonly [K in keyof RoomConfig]?: RoomConfig[K] } = {};
  const strategy = get('strategy');
  if (strategy !== undefined) {
    const s = oneOf(STRATEGIES, 'strategy', strategy, errors);
    if (s) config.strategy = s;
  }
  const model = get('model');
  if (model !== undefined) {
    const m = oneOf(MODELS, 'model', model, errors);
    if (m) config.model = m;
  }
  const dataset = get('dataset');
  if (dataset !== undefined) {
    const d = oneOf(DATASETS, 'dataset', dataset, errors);
    if (d) config.dataset = d;
  }
  const rawConfig = get('config');
  if (rawConfig !== undefined) Object.assign(config, configParam(rawConfig, config, errors));

  if (errors.length) return { kind: 'invalid', errors };
  return {
    kind: 'join',
    params: {
      room,
      name,
      ...(token === undefined ? {} : { token }),
      ...(site === undefined ? {} : { site }),
      slowdown,
      ...(uplinkMbps === undefined ? {} : { uplinkMbps }),
      ...(backend === undefined ? {} : { backend }),
      config,
      ...(testEverySec === undefined ? {} : { testEverySec }),
    },
  };
}

/**
 * The `config` parameter: a JSON object of room config fields, checked with the server's own
 * validator (together with `strategy`, `model` and `dataset`, which win where both are given),
 * so a bad field is reported here rather than as a refused join. Returns the fields it set.
 */
function configParam(
  raw: string,
  explicit: Readonly<RoomConfigInput>,
  errors: string[],
): RoomConfigInput {
  if (raw.length > MAX_CONFIG_PARAM_LENGTH) {
    errors.push(`config must be at most ${MAX_CONFIG_PARAM_LENGTH} characters`);
    return {};
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    errors.push('config must be a JSON object');
    return {};
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    errors.push('config must be a JSON object');
    return {};
  }
  const parsed = parseRoomConfig({ ...json, ...explicit });
  if (!parsed.ok) {
    errors.push(`config is invalid: ${parsed.error.message}`);
    return {};
  }
  // The validated values of the fields the URL gave; the rest stay the room's defaults.
  const given = new Set(Object.keys(json));
  return Object.fromEntries(
    Object.entries(parsed.value).filter(([key]) => given.has(key) && !(key in explicit)),
  ) as RoomConfigInput;
}
