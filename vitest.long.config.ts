import { defineConfig } from 'vitest/config';

// `npm run test:long`: training runs too slow for every CI run (see README). Run before
// resolving work that touches training.
export default defineConfig({
  test: {
    include: ['**/*.long.test.ts'],
    exclude: ['node_modules/**', 'dist/**', 'playwright/**'],
    environment: 'node',
    testTimeout: 3_600_000,
  },
});
