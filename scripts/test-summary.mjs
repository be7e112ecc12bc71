// Prints one closing line, "tests: N passed, N failed[, N skipped]", from Vitest's JSON report
// (vitest.config.ts writes it), so CI logs end with a summary any reader can parse.
import { existsSync, readFileSync } from 'node:fs';

const file = 'test-results/vitest.json';
if (!existsSync(file)) {
  console.log('tests: 0 passed, 1 failed (no report: the suite did not run; see the errors above)');
  process.exit(1);
}
const report = JSON.parse(readFileSync(file, 'utf8'));
const passed = report.numPassedTests ?? 0;
const failed = (report.numFailedTests ?? 0) + (report.numRuntimeErrorTestSuites ?? 0);
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
console.log(`tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
