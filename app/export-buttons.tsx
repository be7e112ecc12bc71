/**
 * Download the run's metrics (export.ts) as JSON or CSV: a Blob and a temporary link, so
 * nothing leaves the browser but the file the user asked for.
 */

import { exportCsv, exportFileName, exportJson, type RunExport } from './export';

function download(name: string, text: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
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

export function ExportButtons(props: {
  readonly room: string;
  readonly peer: string;
  readonly run: () => RunExport;
}) {
  return (
    <div class="export">
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
