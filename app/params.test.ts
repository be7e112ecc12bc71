import { describe, expect, it } from 'vitest';
import {
  type PageParams,
  parsePageParams,
  ROOM_PATTERN,
  ROOM_PATTERN_ATTRIBUTE,
  randomName,
} from './params';

const parse = (query: string): PageParams => parsePageParams(new URLSearchParams(query), () => 0.5);

const joined = (query: string) => {
  const r = parse(query);
  if (r.kind !== 'join') throw new Error(`expected join, got ${JSON.stringify(r)}`);
  return r.params;
};

const errorsOf = (query: string): readonly string[] => {
  const r = parse(query);
  if (r.kind !== 'invalid') throw new Error(`expected invalid, got ${JSON.stringify(r)}`);
  return r.errors;
};

describe('parsePageParams', () => {
  it('shows the form without a room, with a made-up name', () => {
    expect(parse('')).toEqual({ kind: 'form', name: randomName(() => 0.5) });
    expect(parse('?name=alice')).toEqual({ kind: 'form', name: 'alice' });
  });

  it('joins with defaults: no slowdown, no cap, no config fields', () => {
    const p = joined('?room=lab-1');
    expect(p.room).toBe('lab-1');
    expect(p.name).toMatch(/^tab-[a-z0-9]{4}$/);
    expect(p.slowdown).toBe(1);
    expect(p.uplinkMbps).toBeUndefined();
    expect(p.token).toBeUndefined();
    expect(p.backend).toBeUndefined();
    expect(p.config).toEqual({});
  });

  it('takes every knob when valid', () => {
    const p = joined(
      '?room=r&name=p1&token=abc&site=north-1&slowdown=2.5&uplinkMbps=10&backend=cpu&strategy=bsp&model=cnn&dataset=fashion-mnist',
    );
    expect(p).toEqual({
      room: 'r',
      name: 'p1',
      token: 'abc',
      site: 'north-1',
      slowdown: 2.5,
      uplinkMbps: 10,
      backend: 'cpu',
      config: { strategy: 'bsp', model: 'cnn', dataset: 'fashion-mnist' },
    });
  });

  it.each([
    ['?room=has space', 'room'],
    ['?room=', 'room'],
    [`?room=${'a'.repeat(65)}`, 'room'],
    ['?room=r&slowdown=0.5', 'slowdown'],
    ['?room=r&slowdown=fast', 'slowdown'],
    ['?room=r&slowdown=', 'slowdown'],
    ['?room=r&uplinkMbps=0', 'uplinkMbps'],
    ['?room=r&uplinkMbps=-1', 'uplinkMbps'],
    ['?room=r&uplinkMbps=Infinity', 'uplinkMbps'],
    ['?room=r&strategy=sgd', 'strategy'],
    ['?room=r&model=resnet', 'model'],
    ['?room=r&dataset=cifar', 'dataset'],
    ['?room=r&backend=wasm', 'backend'],
    ['?room=r&token=', 'token'],
    ['?room=r&site=a%20b', 'site'],
    ['?room=r&name=%20%20', 'name'],
    ['?room=r&name=a%00b', 'name'],
  ])('refuses %s with a message about %s', (query, key) => {
    const errors = errorsOf(query);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(key);
  });

  it('takes room config fields as JSON in config, validated; strategy, model, dataset win', () => {
    const config = JSON.stringify({
      sharding: { kind: 'classes', classesPerPeer: 2 },
      maxPeers: 3,
      strategy: 'hop',
    });
    const p = joined(`?room=r&strategy=bsp&config=${encodeURIComponent(config)}`);
    expect(p.config).toEqual({
      strategy: 'bsp',
      sharding: { kind: 'classes', classesPerPeer: 2 },
      maxPeers: 3,
    });
  });

  it.each([
    ['not json', 'config must be a JSON object'],
    ['[1,2]', 'config must be a JSON object'],
    ['{"maxPeers":1}', 'maxPeers'],
    ['{"colour":"red"}', 'config is invalid'],
    [JSON.stringify({ seed: 'x'.repeat(5000) }), 'at most'],
  ])('refuses config %s', (raw, message) => {
    const errors = errorsOf(`?room=r&config=${encodeURIComponent(raw)}`);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(message);
  });

  it('takes testEverySec between 0.1 and 86400', () => {
    expect(joined('?room=r&testEverySec=5').testEverySec).toBe(5);
    expect(joined('?room=r').testEverySec).toBeUndefined();
    expect(errorsOf('?room=r&testEverySec=0')[0]).toContain('testEverySec');
    expect(errorsOf('?room=r&testEverySec=soon')[0]).toContain('testEverySec');
  });

  it('reports every bad parameter at once', () => {
    expect(errorsOf('?room=r&slowdown=0&model=x&dataset=y')).toHaveLength(3);
  });
});

describe('randomName', () => {
  it('draws four characters from the alphabet', () => {
    expect(randomName(() => 0)).toBe('tab-aaaa');
    expect(randomName(() => 0.999_999)).toBe('tab-9999');
  });
});

describe('ROOM_PATTERN_ATTRIBUTE', () => {
  it('compiles as a browser compiles a pattern attribute (v flag) and agrees with ROOM_PATTERN', () => {
    const attribute = new RegExp(`^(?:${ROOM_PATTERN_ATTRIBUTE})$`, 'v');
    for (const name of ['lab', 'a-b_c9', 'x'.repeat(64), '', 'a b', 'x'.repeat(65), 'é', 'a/b']) {
      expect(attribute.test(name), name).toBe(ROOM_PATTERN.test(name));
    }
  });
});
