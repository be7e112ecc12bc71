/**
 * The form shown at `/` without a room: room, name and token; the training settings for a
 * room that does not exist yet; and the emulation knobs, set apart as experiments. It lands
 * on the join URL (the one to share with other tabs), carrying only the fields filled in.
 */

import { createSignal, For, Show } from 'solid-js';
import {
  BUILTIN_MODELS,
  type BuiltinModelName,
  DATASETS,
  DEFAULT_ROOM_CONFIG,
  datasetLabels,
  labelIndex,
  MAX_TOKEN_LENGTH,
  MODELS,
  STRATEGIES,
  type Task,
} from '../core';
import type { ChosenFile } from '../worker/browser';
import { labelFolders } from '../worker/data';
import { datasetOf, keepNewRoomModel, type NewRoomModel, readChosenModel } from './model-upload';
import { existingRoomTask, newRoomTaskForFolder } from './own-data';
import { OwnDataPanel } from './own-data-panel';
import { ROOM_PATTERN_ATTRIBUTE } from './params';

/** The join URL's query: non-empty fields only, in the form's order. */
export function joinQuery(form: HTMLFormElement): string {
  const query = new URLSearchParams();
  for (const [key, value] of new FormData(form)) {
    if (typeof value === 'string' && value.trim() !== '') query.append(key, value.trim());
  }
  return query.toString();
}

function Choice(props: {
  readonly label: string;
  readonly name: string;
  readonly options: readonly string[];
  readonly hint: string;
}) {
  return (
    <label>
      <span>{props.label}</span>
      <select name={props.name}>
        <option value="">{props.hint}</option>
        <For each={props.options}>{(o) => <option value={o}>{o}</option>}</For>
      </select>
    </label>
  );
}

/** URL parameters of the form's own page that the join URL keeps. */
const CARRIED = ['backend', 'testEverySec'] as const;

/** The built-in model the form names, or the default. */
const builtinOf = (value: FormDataEntryValue | null): BuiltinModelName =>
  (BUILTIN_MODELS as readonly string[]).includes(String(value))
    ? (value as BuiltinModelName)
    : (DEFAULT_ROOM_CONFIG.model as BuiltinModelName);

const modelFilesOf = (data: FormData): File[] =>
  data.getAll('modelFiles').filter((f): f is File => f instanceof File && f.size > 0);

export function JoinForm(props: { readonly name: string }) {
  const [modelError, setModelError] = createSignal('');
  let formRef: HTMLFormElement | undefined;
  const roomField = () => String(new FormData(formRef).get('room') ?? '').trim();
  /** The new room's task and model derived for the chosen data, with the room it is for. */
  let derived: { room: string; model: NewRoomModel } | undefined;
  /**
   * The task to decode the chosen data for: the room's when it exists; for a new room, the
   * model file's (labels from the folder when they are not the dataset's) or the built-in
   * model's on the folder.
   */
  const taskFor = async (files: readonly ChosenFile[]): Promise<Task> => {
    const room = roomField();
    const existing = await existingRoomTask(room);
    derived = undefined;
    if (existing) return existing;
    const data = new FormData(formRef);
    const dataset = datasetOf(data.get('dataset'));
    const models = modelFilesOf(data);
    let model: NewRoomModel;
    if (models.length > 0) {
      const folders = labelFolders(
        files.map((f) => f.path),
        false,
      );
      // The dataset's labels when the folders are all the dataset's, else the folders'.
      const known = datasetLabels(dataset);
      const own = !folders.every((f) => labelIndex(known, f) !== undefined);
      model = await readChosenModel(models, own ? { labels: folders } : dataset);
    } else {
      model = { task: newRoomTaskForFolder(files, builtinOf(data.get('model')), dataset) };
    }
    derived = { room, model };
    return model.task;
  };
  // Empty selects and fields stay out of the URL: the server's defaults apply.
  const submit = async (e: SubmitEvent) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    if (!form.reportValidity()) return;
    setModelError('');
    const data = new FormData(form);
    const files = modelFilesOf(data);
    let query = joinQuery(form);
    if (derived !== undefined) {
      // The chosen data made this new room's task: it joins the room's settings.
      if (derived.room !== String(data.get('room'))) {
        setModelError('the room changed after the data was chosen: choose the data again');
        return;
      }
      await keepNewRoomModel(derived.room, derived.model);
      const q = new URLSearchParams(query);
      const m = derived.model.task.model;
      q.set('model', m.kind === 'builtin' ? m.name : 'custom');
      query = q.toString();
    } else if (files.length > 0) {
      try {
        const model = await readChosenModel(files, datasetOf(data.get('dataset')));
        await keepNewRoomModel(String(data.get('room')), model);
      } catch (err) {
        setModelError(err instanceof Error ? err.message : String(err));
        return;
      }
      const q = new URLSearchParams(query);
      q.set('model', 'custom');
      query = q.toString();
    }
    location.assign(`/?${query}`);
  };
  return (
    <form
      method="get"
      action="/"
      data-testid="join-form"
      class="join"
      onSubmit={submit}
      ref={formRef}
    >
      <p>Open the same room in a few tabs (or on a few machines) to train one model together.</p>
      <label>
        <span>Room</span>
        <input
          name="room"
          required
          pattern={ROOM_PATTERN_ATTRIBUTE}
          maxLength={64}
          placeholder="e.g. lab-1"
          title="1 to 64 letters, digits, _ or -"
          autocomplete="off"
        />
      </label>
      <label>
        <span>Name</span>
        <input name="name" required maxLength={64} value={props.name} />
      </label>
      <label>
        <span>Site</span>
        <input
          name="site"
          pattern={ROOM_PATTERN_ATTRIBUTE}
          maxLength={64}
          placeholder="optional: the micro-cloud this machine is in"
          title="1 to 64 letters, digits, _ or -"
          autocomplete="off"
        />
      </label>
      <label>
        <span>Join token</span>
        <input
          name="token"
          type="password"
          maxLength={MAX_TOKEN_LENGTH}
          placeholder="only if the server asks for one"
          autocomplete="off"
        />
      </label>
      <fieldset>
        <legend>Training settings (used when this creates the room)</legend>
        <p class="note">A room keeps the settings of the peer that created it.</p>
        <Choice
          label="Strategy"
          name="strategy"
          options={STRATEGIES}
          hint={`default (${DEFAULT_ROOM_CONFIG.strategy})`}
        />
        <Choice
          label="Model"
          name="model"
          options={MODELS.filter((m) => m !== 'custom')}
          hint={`default (${DEFAULT_ROOM_CONFIG.model})`}
        />
        <Choice
          label="Dataset"
          name="dataset"
          options={DATASETS}
          hint={`default (${DEFAULT_ROOM_CONFIG.dataset})`}
        />
        <label>
          <span>Or your own model</span>
          <input
            name="modelFiles"
            type="file"
            multiple
            accept=".json,.bin"
            data-testid="model-files"
            title="a TF.js Layers model.json, with its weight files for a pretrained start"
          />
        </label>
        <p class="note">
          A TF.js Layers <code>model.json</code> (tf.LayersModel.save, or tfjs-converter from
          Keras). Choose its weight files too to start from them; without, every peer starts from
          the room's seed. Nothing is uploaded: the model's layout travels with the room's settings,
          its weights stay in this tab.
        </p>
        <Show when={modelError() !== ''}>
          <p class="error" role="alert" data-testid="model-error">
            {modelError()}
          </p>
        </Show>
      </fieldset>
      <fieldset>
        <legend>Your own data (optional)</legend>
        <OwnDataPanel room={roomField} taskFor={taskFor} />
      </fieldset>
      <fieldset>
        <legend>Emulation (experiments only)</legend>
        <p class="note">
          Deliberately slow this peer down or narrow its uplink, to see how the mesh adapts. Leave
          empty for a normal peer; both can be changed later on the dashboard.
        </p>
        <label>
          <span>Slowdown (emulation)</span>
          <input name="slowdown" type="number" min="1" step="any" placeholder="1 = none" />
        </label>
        <label>
          <span>Uplink cap, Mbit/s (emulation)</span>
          <input name="uplinkMbps" type="number" min="0.001" step="any" placeholder="no cap" />
        </label>
      </fieldset>
      {/* Parameters the form was opened with that it has no field for (a forced backend, the
      test cadence) travel on to the join URL. */}
      <For each={CARRIED.filter((k) => new URLSearchParams(location.search).has(k))}>
        {(k) => (
          <input type="hidden" name={k} value={new URLSearchParams(location.search).get(k) ?? ''} />
        )}
      </For>
      <button type="submit">Join</button>
    </form>
  );
}
