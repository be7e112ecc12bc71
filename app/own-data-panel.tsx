/**
 * "Your data": choose a folder of images (one subfolder per label) or a CSV/TSV table, by the
 * inputs or by dropping it here; watch it decode; read the summary (samples per label, the
 * held-out share, what was refused and why) before training; forget it with one button. The
 * samples stay in this browser (IndexedDB), for this room only.
 */

import { createSignal, For, onMount, Show } from 'solid-js';
import type { Task } from '../core';
import type { ChosenFile, DecodeProgress, KeptSummary } from '../worker/browser';
import { BROWSER_TEST_SAMPLES, forgetSamples, keptSummary } from '../worker/browser';
import { HELD_OUT_FRACTION, heldOutCount, type LocalDataSummary } from '../worker/data';
import { chosenFromDrop, chosenFromInput, decodeForRoom } from './own-data';

export interface OwnDataPanelProps {
  /** The room the samples are kept for (read when files are chosen). */
  readonly room: () => string;
  /** The task to decode for; throws with a message the panel shows. */
  readonly taskFor: (files: readonly ChosenFile[]) => Promise<Task>;
  /** Called once samples are kept, with the task they were decoded for. */
  readonly onKept?: (task: Task, summary: LocalDataSummary) => void;
  /** Called once they are forgotten. */
  readonly onForgotten?: () => void;
  /** Whether the room waits for this peer's data (a room on each peer's own data). */
  readonly needed?: () => boolean;
}

function Summary(props: { readonly kept: Pick<KeptSummary, 'labels' | 'summary'> }) {
  const s = () => props.kept.summary;
  const refused = () =>
    Object.entries(s().refused)
      .filter(([, n]) => (n ?? 0) > 0)
      .map(([reason, n]) => `${reason} ${n}`)
      .join(', ');
  return (
    <div data-testid="data-summary" data-samples={s().samples} data-refused={s().refusedTotal}>
      <p>
        <strong>{s().samples}</strong> samples ({s().format});{' '}
        <span data-testid="data-held-out">{heldOutCount(s().samples, BROWSER_TEST_SAMPLES)}</span>{' '}
        of them ({Math.round(HELD_OUT_FRACTION * 100)}%, at most {BROWSER_TEST_SAMPLES}) are held
        out to report this peer's accuracy on, the rest trains.
      </p>
      <table class="per-label">
        <thead>
          <tr>
            <th>label</th>
            <th>samples</th>
          </tr>
        </thead>
        <tbody>
          <For each={props.kept.labels}>
            {(label, i) => (
              <tr>
                <td>{label}</td>
                <td data-testid={`data-label-${i()}`} data-value={s().perLabel[i()] ?? 0}>
                  {s().perLabel[i()] ?? 0}
                </td>
              </tr>
            )}
          </For>
        </tbody>
      </table>
      <Show when={s().refusedTotal > 0}>
        <p data-testid="data-refused" data-value={s().refusedTotal}>
          {s().refusedTotal} refused: {refused()}
        </p>
        <ul>
          <For each={s().firstRefusals}>
            {(r) => (
              <li>
                <code>{r.item}</code>: {r.detail}
              </li>
            )}
          </For>
          <Show when={s().refusedTotal > s().firstRefusals.length}>
            <li>and {s().refusedTotal - s().firstRefusals.length} more</li>
          </Show>
        </ul>
      </Show>
    </div>
  );
}

export function OwnDataPanel(props: OwnDataPanelProps) {
  const [progress, setProgress] = createSignal<DecodeProgress | undefined>();
  const [kept, setKept] = createSignal<Pick<KeptSummary, 'labels' | 'summary'> | undefined>();
  const [error, setError] = createSignal('');
  const [busy, setBusy] = createSignal(false);
  const [over, setOver] = createSignal(false);

  const refresh = async () => {
    const room = props.room();
    setKept(room === '' ? undefined : await keptSummary(room).catch(() => undefined));
  };
  onMount(() => void refresh());

  const take = async (files: readonly ChosenFile[]) => {
    if (files.length === 0 || busy()) return;
    setError('');
    setBusy(true);
    setProgress({ done: 0, total: files.length });
    try {
      const room = props.room();
      if (room === '') throw new Error('name the room first: the data is kept for one room');
      const task = await props.taskFor(files);
      const summary = await decodeForRoom(room, files, task, (p) => setProgress(p));
      setKept({ labels: task.labels, summary });
      props.onKept?.(task, summary);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
      setProgress(undefined);
    }
  };
  const forget = async () => {
    await forgetSamples(props.room());
    setKept(undefined);
    props.onForgotten?.();
  };
  const drop = async (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    if (e.dataTransfer) await take(await chosenFromDrop(e.dataTransfer.items));
  };

  return (
    // A drop target; the inputs inside are the keyboard's way to the same thing.
    <section
      class="own-data"
      aria-label="Your data: choose or drop a folder or a table"
      classList={{ over: over() }}
      data-testid="data-drop"
      onDragOver={(e) => {
        e.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={(e) => void drop(e)}
    >
      <p class="note">
        A folder with one subfolder per label (PNG, JPEG, WebP), a CSV/TSV table with a header and a
        label column, or IDX files: choose them or drop them here. It is decoded in this browser and
        kept here for this room; nothing of it is uploaded or sent to other peers.
      </p>
      <label>
        <span>Folder of images</span>
        <input
          type="file"
          data-testid="data-folder"
          // @ts-expect-error: the directory input attribute is not in Solid's types.
          webkitdirectory
          multiple
          disabled={busy()}
          onChange={(e) => void take(chosenFromInput(e.currentTarget.files ?? []))}
        />
      </label>
      <label>
        <span>Or a table, or IDX files</span>
        <input
          type="file"
          multiple
          data-testid="data-table"
          disabled={busy()}
          onChange={(e) => void take(chosenFromInput(e.currentTarget.files ?? []))}
        />
      </label>
      <Show when={props.needed?.() && kept() === undefined && !busy()}>
        <p class="warn" role="status" data-testid="data-needed">
          This room trains on each peer's own data: choose yours to start training.
        </p>
      </Show>
      <Show when={progress()}>
        {(p) => (
          <p>
            decoding <progress data-testid="data-progress" max={p().total} value={p().done} />{' '}
            {p().done} / {p().total}
          </p>
        )}
      </Show>
      <Show when={error() !== ''}>
        <p class="error" role="alert" data-testid="data-error">
          {error()}
        </p>
      </Show>
      <Show when={kept()}>
        {(k) => (
          <>
            <Summary kept={k()} />
            <button type="button" data-testid="data-forget" onClick={() => void forget()}>
              Forget my data
            </button>
          </>
        )}
      </Show>
    </section>
  );
}
