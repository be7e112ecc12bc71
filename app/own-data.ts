/**
 * A person's own data on the page: the files chosen in a directory input, a file input or
 * dropped on the page, as paths under the chosen folder; the task they are decoded for (the
 * room's, or a new room's derived from them); and the decoder Worker that keeps the samples
 * in IndexedDB (worker/browser/own-data.ts). The page never reads the files' bytes itself and
 * sends nothing of them anywhere.
 */

import * as Comlink from 'comlink';
import {
  type BuiltinModelName,
  parseRoomConfig,
  roomTask,
  type Task,
  type TaskDatasetName,
  taskForOwnData,
} from '../core';
import {
  type ChosenFile,
  type DecodeProgress,
  keptSummary,
  startDataWorker,
} from '../worker/browser';
import type { LocalDataSummary } from '../worker/data';
import { labelFolders } from '../worker/data';

/** Files from a directory input: paths under the chosen folder (its own name dropped). */
export function chosenFromInput(files: FileList | readonly File[]): ChosenFile[] {
  return [...files].map((file) => {
    const rel = file.webkitRelativePath || file.name;
    const parts = rel.split('/');
    return { file, path: parts.length > 1 ? parts.slice(1).join('/') : rel };
  });
}

/**
 * Files dropped on the page: a dropped folder is walked (its own name dropped from the paths,
 * as a directory input gives them); dropped files are taken as they are.
 */
export async function chosenFromDrop(items: DataTransferItemList): Promise<ChosenFile[]> {
  const files = [...items].filter((i) => i.kind === 'file');
  const entries = files
    .map((i) => i.webkitGetAsEntry())
    .filter((e): e is FileSystemEntry => e !== null);
  const out: ChosenFile[] = [];
  // Files without a file-system entry (put on the drag by a page, not the desktop) are
  // taken as they are: a table, or images without label folders (then refused as such).
  if (entries.length === 0) {
    for (const i of files) {
      const file = i.getAsFile();
      if (file) out.push({ file, path: file.name });
    }
    return out;
  }
  const walk = async (entry: FileSystemEntry, path: string): Promise<void> => {
    if (entry.isFile) {
      const file = await new Promise<File>((resolve, reject) =>
        (entry as FileSystemFileEntry).file(resolve, reject),
      );
      out.push({ file, path });
      return;
    }
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    for (;;) {
      const batch = await new Promise<FileSystemEntry[]>((resolve, reject) =>
        reader.readEntries(resolve, reject),
      );
      if (batch.length === 0) break;
      for (const e of batch) await walk(e, path === '' ? e.name : `${path}/${e.name}`);
    }
  };
  const single = entries.length === 1 && entries[0]!.isDirectory;
  for (const e of entries) await walk(e, single ? '' : e.name);
  return out;
}

/** The room's config from the server, when the room exists. */
export async function existingRoomTask(room: string): Promise<Task | undefined> {
  const res = await fetch(`/api/rooms/${encodeURIComponent(room)}`);
  if (res.status === 404) return undefined;
  if (!res.ok) throw new Error(`GET /api/rooms/${room} answered ${res.status}`);
  const body = (await res.json()) as { config?: unknown };
  const config = parseRoomConfig(body.config);
  if (!config.ok) throw new Error(`the room's settings do not parse: ${config.error.message}`);
  return roomTask(config.value);
}

/** The task of a new room on the chosen folder with a built-in model (core's taskForOwnData). */
export function newRoomTaskForFolder(
  files: readonly ChosenFile[],
  model: BuiltinModelName,
  dataset: TaskDatasetName,
): Task {
  const folders = labelFolders(
    files.map((f) => f.path),
    false,
  );
  if (folders.length < 2) {
    throw new Error('the folder needs at least two label subfolders, one per label');
  }
  return taskForOwnData(model, dataset, folders);
}

/** Decodes the files for the room's task in the decoder Worker and keeps them. */
export async function decodeForRoom(
  room: string,
  files: readonly ChosenFile[],
  task: Task,
  onProgress: (p: DecodeProgress) => void,
): Promise<LocalDataSummary> {
  const worker = startDataWorker();
  try {
    // A plain copy: the task may sit in a Solid store (a proxy, which structured clone refuses).
    const plain = JSON.parse(JSON.stringify(task)) as Task;
    const r = await worker.api.decodeAndKeep(room, files, plain, Comlink.proxy(onProgress));
    if (!r.ok) throw new Error(r.error.message);
    notifyKept(room);
    return r.value;
  } finally {
    worker.end();
  }
}

// ---- waiting for data ----------------------------------------------------------------------

const waiting = new Map<string, Array<() => void>>();

const notifyKept = (room: string) => {
  for (const resolve of waiting.get(room) ?? []) resolve();
  waiting.delete(room);
};

/** Resolves once samples are kept for the room (at once when they already are). */
export async function ownDataKept(room: string): Promise<void> {
  if ((await keptSummary(room)) !== undefined) return;
  await new Promise<void>((resolve) => {
    const list = waiting.get(room) ?? [];
    list.push(resolve);
    waiting.set(room, list);
  });
}
