// Runs verify-export.ts in a fresh Node process: an exported model's accuracy, loaded with
// plain tf.loadLayersModel, on `samples` test images of `dataset`.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

export async function verifyExport(
  dir: string,
  samples: number,
  dataset: 'mnist' | 'fashion-mnist' = 'mnist',
): Promise<{ accuracy: number; samples: number }> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', 'playwright/support/verify-export.ts', dir, String(samples), dataset],
    { timeout: 120_000 },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as { accuracy: number; samples: number };
}
