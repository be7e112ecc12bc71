import fc from 'fast-check';
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../errors';
import { STRATEGIES } from '../strategy-names';
import {
  DEFAULT_ROOM_CONFIG,
  MAX_GLOBAL_BATCH,
  parseRoomConfig,
  type RoomConfig,
  RoomConfigSchema,
} from './room-config';

const issuesOf = (input: unknown): readonly string[] => {
  const r = parseRoomConfig(input);
  if (r.ok) throw new Error(`expected ${JSON.stringify(input)} to be refused`);
  expect(r.error).toBeInstanceOf(ProtocolError);
  expect(r.error.code).toBe('invalid-message');
  return r.error.issues;
};

const parsedConfig = (input: unknown): RoomConfig => {
  const r = parseRoomConfig(input);
  if (!r.ok) throw new Error(`expected ok, got ${r.error.issues.join('; ')}`);
  return r.value;
};

describe('DEFAULT_ROOM_CONFIG', () => {
  it('passes its own schema and is what an empty config becomes', () => {
    expect(v.safeParse(RoomConfigSchema, DEFAULT_ROOM_CONFIG).success).toBe(true);
    expect(parsedConfig({})).toStrictEqual({ ...DEFAULT_ROOM_CONFIG });
  });

  it('is frozen, and parsed configs do not share objects with it', () => {
    expect(Object.isFrozen(DEFAULT_ROOM_CONFIG)).toBe(true);
    expect(Object.isFrozen(DEFAULT_ROOM_CONFIG.sharding)).toBe(true);
    const parsed = parsedConfig({});
    expect(parsed).not.toBe(DEFAULT_ROOM_CONFIG);
    expect(parsed.sharding).not.toBe(DEFAULT_ROOM_CONFIG.sharding);
  });

  it('is the DLion setup the design names', () => {
    expect(DEFAULT_ROOM_CONFIG).toMatchObject({
      strategy: 'dlion',
      dataset: 'mnist',
      staleness: 2,
      dktBeta: 0.5,
      dktEvaluateOn: 'probe',
      rebalanceEvery: 20,
      sharding: { kind: 'iid' },
    });
  });
});

describe('parseRoomConfig: partial input', () => {
  it('takes given fields and fills the rest from the defaults', () => {
    const c = parsedConfig({
      strategy: 'bsp',
      staleness: 0,
      sharding: { kind: 'classes', classesPerPeer: 2 },
    });
    expect(c).toStrictEqual({
      ...DEFAULT_ROOM_CONFIG,
      strategy: 'bsp',
      staleness: 0,
      sharding: { kind: 'classes', classesPerPeer: 2 },
    });
  });

  it('treats an undefined field as missing', () => {
    expect(parsedConfig({ learningRate: undefined, seed: 7 })).toStrictEqual({
      ...DEFAULT_ROOM_CONFIG,
      seed: 7,
    });
  });

  it('refuses unknown keys, naming them', () => {
    expect(issuesOf({ strategy: 'dlion', lr: 0.1 })).toEqual([expect.stringMatching(/^lr: /)]);
  });

  it('refuses a JSON "__proto__" key instead of merging it into the prototype', () => {
    const issues = issuesOf(JSON.parse('{"__proto__": {"staleness": 9}}'));
    expect(issues).toEqual([expect.stringMatching(/^__proto__: /)]);
    expect(({} as Record<string, unknown>).staleness).toBeUndefined();
  });

  it('refuses anything but an object with one issue', () => {
    for (const input of [null, [], 'dlion', 3, true, undefined]) {
      expect(issuesOf(input)).toEqual(['$: expected an object']);
    }
  });

  it('never throws, even on hostile objects', () => {
    const hostile = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error('boom');
        },
      },
    );
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    expect(issuesOf(hostile)).toEqual(['$: boom']);
    expect(issuesOf(proxy)).toHaveLength(1);
    fc.assert(
      fc.property(fc.anything(), (input) => {
        const r = parseRoomConfig(input);
        return r.ok || r.error instanceof ProtocolError;
      }),
      { seed: 42, numRuns: 300 },
    );
  });

  it('lists every invalid field, not only the first', () => {
    const issues = issuesOf({ model: 'resnet', staleness: -1, valueType: 'f64' });
    expect(issues.map((i) => i.split(':')[0]).sort()).toEqual(['model', 'staleness', 'valueType']);
  });
});

describe('parseRoomConfig: cross-field rules', () => {
  it('refuses minBatch > maxBatch, on the minBatch path', () => {
    expect(issuesOf({ minBatch: 64, maxBatch: 32 })).toEqual([
      expect.stringMatching(/^minBatch: /),
    ]);
    expect(parsedConfig({ minBatch: 32, maxBatch: 32 }).maxBatch).toBe(32);
  });

  it('refuses globalBatch < minBatch, on the globalBatch path', () => {
    expect(issuesOf({ globalBatch: 16, minBatch: 32 })).toEqual([
      expect.stringMatching(/^globalBatch: /),
    ]);
    expect(parsedConfig({ globalBatch: 32, minBatch: 32 }).globalBatch).toBe(32);
  });

  it('accepts exactly the batch triples that satisfy both rules', () => {
    const batch = fc.integer({ min: 1, max: MAX_GLOBAL_BATCH });
    fc.assert(
      fc.property(batch, batch, fc.integer({ min: 8, max: MAX_GLOBAL_BATCH }), (lo, hi, b) => {
        const r = parseRoomConfig({ minBatch: lo, maxBatch: hi, globalBatch: b });
        return r.ok === (lo <= hi && b >= lo);
      }),
      { seed: 42, numRuns: 500 },
    );
  });
});

describe('parseRoomConfig: field ranges', () => {
  const cases: [Partial<Record<keyof RoomConfig, unknown>>, boolean][] = [
    [{ globalBatch: 7 }, false],
    [{ globalBatch: 8 }, true],
    [{ globalBatch: 4096 }, true],
    [{ globalBatch: 4097 }, false],
    [{ globalBatch: 128.5 }, false],
    [{ minBatch: 0 }, false],
    [{ maxBatch: 4097 }, false],
    [{ learningRate: 0 }, false],
    [{ learningRate: 10 }, true],
    [{ learningRate: 10.001 }, false],
    [{ learningRate: Number.NaN }, false],
    [{ learningRate: Number.POSITIVE_INFINITY }, false],
    [{ learningRate: '0.1' }, false],
    [{ optimizer: 'adam', learningRate: 0.001 }, true],
    [{ optimizer: 'rmsprop' }, false],
    [{ momentum: 0 }, true],
    [{ momentum: 0.999 }, true],
    [{ momentum: 1 }, false],
    [{ momentum: -0.1 }, false],
    [{ seed: 0 }, true],
    [{ seed: 2 ** 32 - 1 }, true],
    [{ seed: 2 ** 32 }, false],
    [{ seed: -1 }, false],
    [{ sharding: { kind: 'iid' } }, true],
    [{ sharding: { kind: 'iid', alpha: 1 } }, false],
    [{ sharding: { kind: 'classes', classesPerPeer: 1 } }, true],
    [{ sharding: { kind: 'classes', classesPerPeer: 10 } }, true],
    [{ sharding: { kind: 'classes', classesPerPeer: 0 } }, false],
    [{ sharding: { kind: 'classes', classesPerPeer: 11 } }, false],
    [{ sharding: { kind: 'classes' } }, false],
    [{ sharding: { kind: 'dirichlet', alpha: 0.1 } }, true],
    [{ sharding: { kind: 'dirichlet', alpha: 0 } }, false],
    [{ sharding: { kind: 'shuffled' } }, false],
    [{ staleness: 0 }, true],
    [{ staleness: 64 }, true],
    [{ staleness: 65 }, false],
    [{ dktPeriodSec: 1 }, true],
    [{ dktPeriodSec: 0.5 }, false],
    [{ dktBeta: 1 }, true],
    [{ dktBeta: 0 }, false],
    [{ dktBeta: 1.01 }, false],
    [{ dktEpsilon: 0 }, true],
    [{ dktEpsilon: -0.01 }, false],
    [{ dktDelta: 0 }, true],
    [{ dktDelta: -1 }, false],
    [{ dktEvaluateOn: 'probe' }, true],
    [{ dktEvaluateOn: 'validation' }, true],
    [{ dktEvaluateOn: 'test' }, false],
    [{ rebalanceEvery: 0 }, false],
    [{ rebalanceEvery: 1 }, true],
    [{ valueType: 'f16' }, true],
    [{ valueType: 'f64' }, false],
    [{ validationFraction: 0 }, false],
    [{ validationFraction: 0.5 }, true],
    [{ validationFraction: 0.51 }, false],
    [{ maxPeers: 1 }, false],
    [{ maxPeers: 2 }, true],
    [{ maxPeers: 64 }, true],
    [{ maxPeers: 65 }, false],
    [{ model: 'cnn-large', dataset: 'fashion-mnist' }, true],
    [{ model: 'resnet' }, false],
    [{ dataset: 'cifar10' }, false],
    [{ strategy: 'sgd' }, false],
  ];
  it.each(cases)('%j -> accepted: %s', (input, accepted) => {
    const r = parseRoomConfig(input);
    expect(r.ok).toBe(accepted);
    if (!r.ok) {
      const [key] = Object.keys(input);
      expect(r.error.issues.some((i) => i.startsWith(`${key}`))).toBe(true);
    }
  });

  it('accepts every strategy the runtime knows', () => {
    for (const strategy of STRATEGIES) expect(parsedConfig({ strategy }).strategy).toBe(strategy);
  });
});
