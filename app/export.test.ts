import { describe, expect, it } from 'vitest';
import { asPeerId } from '../core';
import {
  CSV_COLUMNS,
  csvCell,
  exportCsv,
  exportFileName,
  exportJson,
  type RunExport,
} from './export';

const run: RunExport = {
  room: 'lab',
  peerId: 'p1',
  name: 'me, "quoted"',
  exportedAtMs: Date.UTC(2026, 0, 1),
  config: undefined,
  peers: [
    {
      id: 'p1',
      name: '=cmd()',
      points: [{ atMs: 1000, step: 3, loss: 0.5, accuracy: 0.9, batchSize: 32, weight: 0.5 }],
    },
  ],
  mesh: [{ atMs: 1000, loss: 0.5, accuracy: null, peers: 1 }],
  ownSteps: [
    { atMs: 900, step: 3, batchSize: 32, weight: 0.5, loss: 1.25, computeMs: 10, iterationMs: 12 },
  ],
  merges: [
    {
      from: asPeerId('p2'),
      to: asPeerId('p1'),
      beta: 0.5,
      lossBefore: 1,
      lossAfter: 0.75,
      rolledBack: false,
      atMs: 1100,
    },
  ],
};

describe('exportFileName', () => {
  it('names the file after the room and the peer, safely', () => {
    expect(exportFileName('lab', 'p1', 'csv')).toBe('dlion-lab-p1.csv');
    expect(exportFileName('lab', '../x y', 'json')).toBe('dlion-lab-___x_y.json');
  });
});

describe('exportJson', () => {
  it('holds every record and parses back', () => {
    const back = JSON.parse(exportJson(run)) as Record<string, unknown>;
    expect(back.format).toBe('dlion-run/1');
    expect(back.exportedAt).toBe('2026-01-01T00:00:00.000Z');
    expect(back.peers).toEqual(run.peers);
    expect(back.merges).toEqual(run.merges);
    expect(back.ownSteps).toEqual(run.ownSteps);
  });
});

describe('csvCell', () => {
  it('quotes separators and defuses formulas', () => {
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('=1+1')).toBe("'=1+1");
    expect(csvCell(-1.5)).toBe('-1.5');
    expect(csvCell(null)).toBe('');
    expect(csvCell(false)).toBe('false');
  });
});

describe('exportCsv', () => {
  it('writes a header and one row per record, every row as wide as the header', () => {
    const lines = exportCsv(run).trimEnd().split('\r\n');
    expect(lines[0]).toBe(CSV_COLUMNS.join(','));
    expect(lines.slice(1).map((l) => l.split(',')[0])).toEqual([
      'peer',
      'mesh',
      'own-step',
      'merge',
    ]);
    expect(lines[1]).toContain("'=cmd()");
    expect(lines[3]).toContain('"me, ""quoted"""');
    expect(lines[1]).toBe(
      "peer,1970-01-01T00:00:01.000Z,1000,p1,'=cmd(),3,0.5,0.9,32,0.5,,,,,,,,,",
    );
    expect(lines[4]).toBe('merge,1970-01-01T00:00:01.100Z,1100,,,,,,,,,,,p2,p1,0.5,1,0.75,false');
  });
});
