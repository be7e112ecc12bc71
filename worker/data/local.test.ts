import { describe, expect, it } from 'vitest';
import {
  builtinTask,
  datasetLabels,
  labelIndex,
  parseTask,
  type Task,
  taskForOwnData,
} from '../../core';
import {
  gatherBatch,
  labelFolders,
  labelOfPath,
  rgbaToChannels,
  sampleCollector,
  samplesFitTask,
  sortLabels,
  splitSamples,
  tableColumns,
  tableRow,
} from '.';

const fashion = builtinTask('mlp', 'fashion-mnist');
const table: Task = taskForOwnData('tabular-mlp', 'mnist', ['a', 'b', 'c'], 3);

describe('labels', () => {
  it("matches folder names to labels exactly, then by letters and digits ('T-shirt_top')", () => {
    const labels = datasetLabels('fashion-mnist');
    expect(labelIndex(labels, 'Trouser')).toBe(1);
    expect(labelIndex(labels, 'T-shirt_top')).toBe(0);
    expect(labelIndex(labels, 'ankle boot')).toBe(9);
    expect(labelIndex(labels, 'Platypus')).toBeUndefined();
    expect(labelIndex(labels, '___')).toBeUndefined();
  });

  it('takes the label from the folder right under the chosen one, and refuses the rest', () => {
    expect(labelOfPath('Trouser/a/1.png', fashion.labels, false)).toEqual({ label: 1 });
    expect(labelOfPath('root/Bag/1.png', fashion.labels, true)).toEqual({ label: 8 });
    expect(labelOfPath('loose.png', fashion.labels, false)).toMatchObject({
      reason: 'no-label-folder',
    });
    expect(labelOfPath('Zebra/1.png', fashion.labels, false)).toMatchObject({
      reason: 'unknown-label',
    });
  });

  it('sorts new labels numerically when all are numbers', () => {
    expect(sortLabels(['10', '9', '2'])).toEqual(['2', '9', '10']);
    expect(labelFolders(['b/1.png', 'a/2.png', 'x.png', 'b/3.png'], false)).toEqual(['a', 'b']);
  });

  it("derives a new room's task: the dataset's when the labels are its, else the folders'", () => {
    expect(taskForOwnData('cnn', 'fashion-mnist', ['Trouser', 'T-shirt_top'])).toEqual(
      builtinTask('cnn', 'fashion-mnist'),
    );
    const own = taskForOwnData('cnn', 'mnist', ['cat', 'dog']);
    expect(own.labels).toEqual(['cat', 'dog']);
    expect(own.data).toEqual({ kind: 'local' });
    expect(parseTask(own).ok).toBe(true);
    expect(table.input).toEqual({ kind: 'features', count: 3 });
    expect(parseTask(table).ok).toBe(true);
  });

  it('refuses a probe whose labels are not the task', () => {
    const r = parseTask({ ...table, data: { kind: 'local', probe: 'mnist' } });
    expect(r.ok).toBe(false);
  });
});

describe('pixels', () => {
  it('converts RGBA to grey by luminance and composites alpha over black', () => {
    const out = [0, 0, 0];
    rgbaToChannels([255, 0, 0, 255, 0, 0, 255, 255, 255, 255, 255, 0], 1, out);
    expect(out).toEqual([76, 29, 0]);
    const rgb = new Uint8Array(3);
    rgbaToChannels([200, 100, 50, 128], 3, rgb);
    expect([...rgb]).toEqual([100, 50, 25]);
  });
});

describe('tables', () => {
  it('finds the label column by name (any case) or takes the last; names a missing one', () => {
    expect(tableColumns(['x', 'Label', 'y']).label).toBe(1);
    expect(tableColumns(['x', 'y', 'kind']).label).toBe(2);
    expect(() => tableColumns(['x', 'y'], 'class')).toThrow(/no label column 'class'/);
    expect(() => tableColumns(['x'])).toThrow(/at least one feature/);
  });

  it('parses a row or says why not: missing, non-numeric, wrong count, unknown label', () => {
    const cols = tableColumns(['f0', 'f1', 'f2', 'label']);
    const out = new Float32Array(3);
    expect(tableRow(['1', '-2.5', '3e2', 'b'], cols, table.labels, out)).toEqual({ label: 1 });
    expect([...out]).toEqual([1, -2.5, 300]);
    const reasons = [
      ['1', '', '3', 'a'],
      ['1', 'x', '3', 'a'],
      ['1', '2', 'a'],
      ['1', '2', '3', 'z'],
      ['1', 'Infinity', '3', 'a'],
    ].map((row) => {
      const r = tableRow(row, cols, table.labels, out);
      return 'reason' in r ? r.reason : 'kept';
    });
    expect(reasons).toEqual(['bad-row', 'bad-row', 'bad-row', 'unknown-label', 'bad-row']);
  });
});

describe('samples', () => {
  it('collects, counts refusals, splits without overlap, and gathers floats as they are', () => {
    const c = sampleCollector(table, 'table', 2);
    for (let i = 0; i < 40; i++) c.add(`t:${i}`, [i, i + 0.5, -i], i % 3);
    c.refuse('t:99', 'bad-row', 'a value is missing');
    const s = c.finish();
    expect(s.summary).toMatchObject({ samples: 40, perLabel: [14, 13, 13], refusedTotal: 1 });
    expect(s.summary.refused).toEqual({ 'bad-row': 1 });
    expect(samplesFitTask(s, table)).toBe(true);
    expect(samplesFitTask(s, { ...table, labels: ['a', 'b', 'd'] })).toBe(false);
    const split = splitSamples(s, { seed: 3, validationFraction: 0.1, testSamples: 1000 });
    expect(split.test.count).toBe(4);
    expect(split.validation.count).toBe(3);
    expect(split.train.count).toBe(33);
    const firsts = [split.train, split.validation, split.test].flatMap((d) =>
      Array.from({ length: d.count }, (_, i) => d.images[i * 3]!),
    );
    expect(new Set(firsts).size).toBe(40);
    const { x, y } = gatherBatch(split.test, [0]);
    const first = split.test.images[0]!;
    expect([...x]).toEqual([first, first + 0.5, -first]);
    expect(y[0]).toBe(first % 3);
  });

  it('refuses to finish with no sample, naming the first refusals', () => {
    const c = sampleCollector(fashion, 'images');
    c.refuse('a.png', 'empty', 'a zero-byte file');
    expect(() => c.finish()).toThrow(/no usable sample.*a\.png: a zero-byte file/);
  });
});
