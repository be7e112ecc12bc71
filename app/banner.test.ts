import { describe, expect, it } from 'vitest';
import { type BannerInput, describeBanner } from './banner';

const input = (over: Partial<BannerInput>): BannerInput => ({
  phase: 'training',
  detail: '',
  code: undefined,
  room: 'lab',
  links: 2,
  step: 10,
  ...over,
});

describe('describeBanner', () => {
  it('tells the states a person meets apart', () => {
    const cases: [Partial<BannerInput>, string, 'status' | 'alert'][] = [
      [{ phase: 'connecting' }, 'connecting', 'status'],
      [{ phase: 'starting' }, 'starting', 'status'],
      [{ phase: 'reconnecting' }, 'reconnecting', 'status'],
      [{ phase: 'failed', code: 'bad-token' }, 'token-refused', 'alert'],
      [{ phase: 'failed', code: 'token-required' }, 'token-refused', 'alert'],
      [{ phase: 'failed', code: 'room-full' }, 'room-full', 'alert'],
      [{ phase: 'failed', code: 'trainer', detail: 'no backend' }, 'failed', 'alert'],
      [{ phase: 'training', links: 0 }, 'alone', 'status'],
      [{ phase: 'training', links: 1 }, 'training', 'status'],
      [{ phase: 'paused' }, 'paused', 'status'],
      [{ phase: 'finished' }, 'finished', 'status'],
      [{ phase: 'closed' }, 'closed', 'status'],
    ];
    for (const [over, state, role] of cases) {
      const b = describeBanner(input(over));
      expect([b.state, b.role], JSON.stringify(over)).toEqual([state, role]);
      expect(b.text.length).toBeGreaterThan(20);
    }
  });

  it('says what to do', () => {
    expect(describeBanner(input({ phase: 'training', links: 0 })).text).toContain('another tab');
    expect(describeBanner(input({ phase: 'failed', code: 'bad-token' })).text).toContain('token');
    expect(describeBanner(input({ phase: 'failed', detail: 'the trainer broke.' })).text).toContain(
      'the trainer broke.',
    );
    expect(describeBanner(input({ phase: 'finished', step: 500 })).text).toContain('500 steps');
    expect(describeBanner(input({ phase: 'closed' })).rejoin).toBe(true);
    expect(describeBanner(input({ phase: 'training' })).rejoin).toBe(false);
  });
});
