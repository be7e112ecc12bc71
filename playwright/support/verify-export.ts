/**
 * Loads an exported model in a fresh process with plain tfjs (tf.loadLayersModel over an IO
 * handler from memory, no code of ours), and prints its accuracy on the test images a peer
 * reports on, as one JSON line: { accuracy, samples }.
 *
 *   node --import tsx playwright/support/verify-export.ts DIR SAMPLES [DATASET]
 *
 * The data loader is ours (the same test subset the peer used); the model is tfjs' alone.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadTestSubset } from '../../worker/node/data';

const [dir, samplesText, dataset = 'mnist'] = process.argv.slice(2);
if (!dir || !samplesText) throw new Error('usage: verify-export.ts DIR SAMPLES [DATASET]');
await tf.setBackend('cpu');
const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as tf.io.ModelJSON;
const group = json.weightsManifest[0]!;
const bytes = readFileSync(join(dir, group.paths[0]!));
const model = await tf.loadLayersModel(
  tf.io.fromMemory({
    modelTopology: json.modelTopology,
    weightSpecs: group.weights,
    weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
  }),
);
const task = JSON.parse(readFileSync(join(dir, 'task.json'), 'utf8')) as {
  input: { height: number; width: number; channels: number; scale: string };
};
const test = await loadTestSubset(dataset as 'mnist', Number(samplesText));
const { height, width, channels } = task.input;
// The input the task describes: pixels / 255 ('unit').
const x = tf.tidy(() =>
  tf.div(tf.tensor4d(Float32Array.from(test.images), [test.count, height, width, channels]), 255),
);
const predicted = tf.tidy(() => tf.argMax(model.predict(x) as tf.Tensor, 1));
const labels = predicted.dataSync();
let correct = 0;
for (let i = 0; i < test.count; i++) if (labels[i] === test.labels[i]) correct++;
console.log(JSON.stringify({ accuracy: correct / test.count, samples: test.count }));
