/**
 * bench:estimator: the bandwidth estimator's table (issue: estimates that hold on real links).
 * For every cap x one-way latency x message size, DLion-like traffic runs 10 s on a virtual
 * clock over an in-memory link (runBandwidthTrial), and the sender's estimate is printed as a
 * share of the cap. `--where shaper|link|both` picks where the cap and latency sit.
 *
 *   npm run bench:estimator -- --where both --out docs/bench/estimator-table.json
 */

import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type BandwidthTrialResult, runBandwidthTrial } from '../mesh/node';

const TABLE_CAPS_MBPS = [0.5, 2, 5, 20, 100] as const;
const TABLE_ONE_WAY_MS = [0, 10, 40, 100] as const;
const TABLE_MESSAGE_BYTES = [1_000, 10_000, 100_000, 1_000_000] as const;

const { values } = parseArgs({
  options: {
    where: { type: 'string', default: 'both' },
    out: { type: 'string' },
    'step-ms': { type: 'string', default: '50' },
  },
});
const wheres = values.where === 'both' ? (['shaper', 'link'] as const) : [values.where];
const stepMs = Number(values['step-ms']);

const results: BandwidthTrialResult[] = [];
for (const where of wheres) {
  if (where !== 'shaper' && where !== 'link') throw new Error(`--where ${where}?`);
  console.log(`\ncap and latency in the ${where}; estimate / cap after 10 s (step ${stepMs} ms)`);
  console.log(
    `${'cap Mbit/s'.padEnd(11)}${'one-way'.padEnd(9)}${TABLE_MESSAGE_BYTES.map((m) => `${m / 1000} kB`.padStart(9)).join('')}`,
  );
  for (const capMbps of TABLE_CAPS_MBPS) {
    for (const oneWayMs of TABLE_ONE_WAY_MS) {
      const row: string[] = [];
      for (const messageBytes of TABLE_MESSAGE_BYTES) {
        const r = await runBandwidthTrial({ capMbps, oneWayMs, messageBytes, where, stepMs });
        results.push(r);
        row.push(r.ratio.toFixed(2).padStart(9));
      }
      console.log(`${String(capMbps).padEnd(11)}${`${oneWayMs} ms`.padEnd(9)}${row.join('')}`);
    }
  }
}
const within = results.filter((r) => Math.abs(r.ratio - 1) <= 0.15).length;
console.log(`\n${within} of ${results.length} cells within 15% of the cap`);
if (values.out !== undefined) writeFileSync(values.out, `${JSON.stringify(results, null, 2)}\n`);
