/**
 * The estimator table (DESIGN.md 3.3): caps from 0.5 to 100 Mbit/s x one-way latency 0 to
 * 100 ms x the sender's update size from 1 kB to 1 MB, with the cap and latency in the
 * emulation shaper and in the in-memory link itself, 10 s of DLion-like traffic on a virtual
 * clock each: every cell's estimate within 15% of the cap. `npm run bench:estimator` prints it.
 */

import { describe, expect, it } from 'vitest';
import { type BandwidthTrialResult, runBandwidthTrial } from './bandwidth-trial';

const CAPS_MBPS = [0.5, 2, 5, 20, 100];
const ONE_WAY_MS = [0, 10, 40, 100];
const MESSAGE_BYTES = [1_000, 10_000, 100_000, 1_000_000];

describe('the bandwidth estimate after 10 s of DLion-like traffic', () => {
  for (const where of ['shaper', 'link'] as const) {
    it(`is within 15% of the cap in every cell, cap and latency in the ${where}`, async () => {
      const off: BandwidthTrialResult[] = [];
      for (const capMbps of CAPS_MBPS) {
        for (const oneWayMs of ONE_WAY_MS) {
          for (const messageBytes of MESSAGE_BYTES) {
            const r = await runBandwidthTrial({ capMbps, oneWayMs, messageBytes, where });
            if (Math.abs(r.ratio - 1) > 0.15) off.push(r);
            // The link carried traffic, and never more than the cap allows.
            expect(r.bytesSent).toBeGreaterThan(0);
            expect(r.bytesSent).toBeLessThanOrEqual(r.capacityBytes * 1.01 + 70_000);
          }
        }
      }
      expect(
        off.map(
          (r) =>
            `${r.trial.capMbps} Mbit/s, ${r.trial.oneWayMs} ms, ${r.trial.messageBytes} B: ${r.ratio.toFixed(2)}`,
        ),
      ).toEqual([]);
    });
  }

  it('a budget-limited sender fills most of a long fat link (20 Mbit/s, 100 ms one-way)', async () => {
    const r = await runBandwidthTrial({
      capMbps: 20,
      oneWayMs: 100,
      messageBytes: 10_000_000,
      where: 'link',
    });
    expect(r.bytesSent / r.capacityBytes).toBeGreaterThan(0.7);
  });
});
