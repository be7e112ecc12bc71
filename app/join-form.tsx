/**
 * The form shown at `/` without a room: room, name and token; the training settings for a
 * room that does not exist yet; and the emulation knobs, set apart as experiments. It lands
 * on the join URL (the one to share with other tabs), carrying only the fields filled in.
 */

import { createSignal, For, Show } from 'solid-js';
import { DATASETS, DEFAULT_ROOM_CONFIG, MAX_TOKEN_LENGTH, MODELS, STRATEGIES } from '../core';
import { datasetOf, keepNewRoomModel, readChosenModel } from './model-upload';
import { ROOM_PATTERN } from './params';

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

export function JoinForm(props: { readonly name: string }) {
  const [modelError, setModelError] = createSignal('');
  // Empty selects and fields stay out of the URL: the server's defaults apply.
  const submit = async (e: SubmitEvent) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    if (!form.reportValidity()) return;
    setModelError('');
    const data = new FormData(form);
    const files = data
      .getAll('modelFiles')
      .filter((f): f is File => f instanceof File && f.size > 0);
    let query = joinQuery(form);
    if (files.length > 0) {
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
    <form method="get" action="/" data-testid="join-form" class="join" onSubmit={submit}>
      <p>Open the same room in a few tabs (or on a few machines) to train one model together.</p>
      <label>
        <span>Room</span>
        <input
          name="room"
          required
          pattern={ROOM_PATTERN.source.slice(1, -1)}
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
          pattern={ROOM_PATTERN.source.slice(1, -1)}
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
      <button type="submit">Join</button>
    </form>
  );
}
