import { defineConfig } from 'vitest/config';

// Unit and property tests live beside the source as *.test.ts and run in Node.
// End-to-end browser tests (playwright/) have their own runner.
export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    // *.long.test.ts are the slow training runs of `npm run test:long` (vitest.long.config.ts).
    exclude: ['node_modules/**', 'dist/**', 'playwright/**', '**/*.long.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    // The JSON report feeds the closing summary line of .ci/run (scripts/test-summary.mjs).
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results/vitest.json' },
  },
});
