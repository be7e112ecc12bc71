/**
 * Download the run's metrics (export.ts) as JSON or CSV: a Blob and a temporary link, so
 * nothing leaves the browser but the file the user asked for.
 */

import { createSignal, Show } from 'solid-js';
import type { ModelExport } from '../mesh';
import { exportCsv, exportFileName, exportJson, type RunExport } from './export';

function download(name: string, text: string | Uint8Array, type: string): void {
  const url = URL.createObjectURL(new Blob([text as BlobPart], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  // Revoked on the next turn: the click has handed the URL to the download by then.
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

/**
 * The model in the TF.js Layers format: model.json and weights.bin (the name model.json's
 * manifest gives it), and task.json. `tf.loadLayersModel` loads the first two as they are.
 */
function downloadModel(files: ModelExport['files']): void {
  for (const [name, body] of Object.entries(files)) {
    download(name, body, name.endsWith('.json') ? 'application/json' : 'application/octet-stream');
  }
}

export function ExportButtons(props: {
  readonly room: string;
  readonly peer: string;
  readonly run: () => RunExport;
  readonly exportModel: () => Promise<ModelExport | Error>;
}) {
  const [note, setNote] = createSignal('');
  const [last, setLast] = createSignal<ModelExport | undefined>();
  const [busy, setBusy] = createSignal(false);
  const exportModel = async () => {
    setBusy(true);
    try {
      const r = await props.exportModel();
      if (r instanceof Error) {
        setNote(`model export failed: ${r.message}`);
        return;
      }
      downloadModel(r.files);
      setLast(r);
      setNote(
        `model of step ${r.step}: ${(r.test.accuracy * 100).toFixed(2)}% on ${r.test.samples} test images`,
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="export">
      <button
        type="button"
        data-testid="export-model"
        disabled={busy()}
        title="the trained model as TF.js Layers files (model.json, weights.bin) and its task.json"
        onClick={() => void exportModel()}
      >
        Export model
      </button>
      <Show when={note() !== ''}>
        <span
          class="note"
          data-testid="model-export-note"
          data-step={last()?.step ?? ''}
          data-accuracy={last()?.test.accuracy ?? ''}
          data-samples={last()?.test.samples ?? ''}
        >
          {note()}
        </span>
      </Show>
      <button
        type="button"
        data-testid="export-json"
        onClick={() =>
          download(
            exportFileName(props.room, props.peer, 'json'),
            exportJson(props.run()),
            'application/json',
          )
        }
      >
        Export JSON
      </button>
      <button
        type="button"
        data-testid="export-csv"
        onClick={() =>
          download(
            exportFileName(props.room, props.peer, 'csv'),
            exportCsv(props.run()),
            'text/csv',
          )
        }
      >
        Export CSV
      </button>
    </div>
  );
}
