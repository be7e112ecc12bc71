import { defineConfig } from 'vitest/config';

// Unit and property tests live beside the source as *.test.ts and run in Node.
// End-to-end browser tests (playwright/) have their own runner.
// The tests that start whole meshes of Node peer processes (mesh/node/mesh*.test.ts,
// attack.test.ts) run in a second group, after the rest and one file at a time: on a 2-core
// machine two meshes at once (five tfjs processes) measure the CPU, not the mesh.
const meshProcesses = [
  'mesh/node/mesh.test.ts',
  'mesh/node/attack.test.ts',
  // Kiosk processes against a real server.
  'kiosk/kiosk.test.ts',
  'kiosk/model.test.ts',
  // Node peers in network namespaces behind kernel-shaped links (root only).
  'mesh/node/netns.test.ts',
  // The benchmark's smoke run trains real models for a few minutes.
  'bench/tta/quick.test.ts',
];
const excluded = ['node_modules/**', 'dist/**', 'playwright/**', '**/*.long.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    // The JSON report feeds the closing summary line of .ci/run (scripts/test-summary.mjs).
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results/vitest.json' },
    projects: [
      {
        test: {
          name: 'unit',
          include: ['**/*.test.ts'],
          // *.long.test.ts are the slow training runs of `npm run test:long` (vitest.long.config.ts).
          exclude: [...excluded, ...meshProcesses],
          environment: 'node',
          testTimeout: 60_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'mesh-processes',
          include: meshProcesses,
          exclude: excluded,
          environment: 'node',
          testTimeout: 60_000,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
