/**
 * The run's metrics as files a person can keep: JSON (everything, nested) and CSV (one row
 * per record, for a spreadsheet or pandas). Pure builders; the download is the page's job.
 */

import type { MergeEvent, RoomConfig } from '../core';
import type { MeshPoint, PeerSeries } from './room-view';

/** One step of this tab's own peer, as its event stream told it. */
export interface OwnStep {
  /** Wall-clock ms when the page saw the step. */
  readonly atMs: number;
  readonly step: number;
  readonly batchSize: number;
  readonly weight: number;
  /** Training loss on the step's batch. */
  readonly loss: number;
  readonly computeMs: number;
  readonly iterationMs: number;
}

export interface RunExport {
  readonly room: string;
  readonly peerId: string | undefined;
  readonly name: string;
  readonly exportedAtMs: number;
  readonly config: RoomConfig | undefined;
  /** Every peer's polled progress (loss and accuracy of its DKT evaluation). */
  readonly peers: readonly PeerSeries[];
  readonly mesh: readonly MeshPoint[];
  readonly ownSteps: readonly OwnStep[];
  readonly merges: readonly MergeEvent[];
}

/** `dlion-<room>-<peer>.<ext>`, with anything unsafe in a file name replaced. */
export const exportFileName = (room: string, peer: string, ext: 'json' | 'csv'): string =>
  `dlion-${safe(room)}-${safe(peer)}.${ext}`;

const safe = (s: string): string => s.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64) || '_';

export function exportJson(run: RunExport): string {
  return JSON.stringify(
    { format: 'dlion-run/1', exportedAt: new Date(run.exportedAtMs).toISOString(), ...run },
    null,
    2,
  );
}

export const CSV_COLUMNS = [
  'record',
  'time',
  'time_ms',
  'peer_id',
  'peer_name',
  'step',
  'val_loss',
  'val_accuracy',
  'batch_size',
  'weight',
  'train_loss',
  'compute_ms',
  'iteration_ms',
  'from',
  'to',
  'beta',
  'loss_before',
  'loss_after',
  'rolled_back',
] as const;

type CsvRow = Partial<Record<(typeof CSV_COLUMNS)[number], string | number | boolean | null>>;

/**
 * A CSV cell. Quoted where it holds a separator, quote or line break; text that a spreadsheet
 * would run as a formula (peer names come from other people) is defused with a leading quote.
 */
export function csvCell(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return '';
  if (typeof value !== 'string') return String(value);
  const text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function exportCsv(run: RunExport): string {
  const rows: CsvRow[] = [];
  const time = (ms: number) => ({ time: new Date(ms).toISOString(), time_ms: ms });
  for (const s of run.peers) {
    for (const p of s.points) {
      rows.push({
        record: 'peer',
        ...time(p.atMs),
        peer_id: s.id,
        peer_name: s.name,
        step: p.step,
        val_loss: p.loss,
        val_accuracy: p.accuracy,
        batch_size: p.batchSize,
        weight: p.weight,
      });
    }
  }
  for (const p of run.mesh) {
    rows.push({ record: 'mesh', ...time(p.atMs), val_loss: p.loss, val_accuracy: p.accuracy });
  }
  for (const s of run.ownSteps) {
    rows.push({
      record: 'own-step',
      ...time(s.atMs),
      peer_id: run.peerId ?? '',
      peer_name: run.name,
      step: s.step,
      batch_size: s.batchSize,
      weight: s.weight,
      train_loss: s.loss,
      compute_ms: s.computeMs,
      iteration_ms: s.iterationMs,
    });
  }
  for (const m of run.merges) {
    rows.push({
      record: 'merge',
      ...time(m.atMs),
      from: m.from,
      to: m.to,
      beta: m.beta,
      loss_before: m.lossBefore,
      loss_after: m.lossAfter,
      rolled_back: m.rolledBack,
    });
  }
  const lines = [CSV_COLUMNS.join(',')];
  for (const r of rows) lines.push(CSV_COLUMNS.map((c) => csvCell(r[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}
