// Prints one closing line, "tests: N passed, N failed[, N skipped]", from the JSON reports of
// Vitest (vitest.config.ts) and Playwright (playwright.config.ts), so CI logs end with a
// summary any reader can parse. A suite whose report is missing counts as one failure.
import { existsSync, readFileSync } from 'node:fs';

let passed = 0;
let failed = 0;
let skipped = 0;
const missing = [];

const vitest = 'test-results/vitest.json';
if (existsSync(vitest)) {
  const r = JSON.parse(readFileSync(vitest, 'utf8'));
  passed += r.numPassedTests ?? 0;
  failed += (r.numFailedTests ?? 0) + (r.numRuntimeErrorTestSuites ?? 0);
  skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
} else missing.push('unit');

const playwright = 'test-results/playwright.json';
if (existsSync(playwright)) {
  const report = JSON.parse(readFileSync(playwright, 'utf8'));
  const s = report.stats ?? {};
  passed += (s.expected ?? 0) + (s.flaky ?? 0);
  failed += s.unexpected ?? 0;
  skipped += s.skipped ?? 0;
  // Errors outside any test (global setup, a crashed worker) count as one failure.
  if ((report.errors ?? []).length) failed += 1;
} else missing.push('e2e');

failed += missing.length;
const note = missing.length ? ` (no report from: ${missing.join(', ')}; see the errors above)` : '';
console.log(
  `tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}${note}`,
);
process.exit(failed > 0 ? 1 : 0);
