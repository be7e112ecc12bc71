/**
 * What the user can do to this tab's peer while it runs: pause and resume it, change its
 * emulated slowdown and uplink cap (declared as emulation: they are for experiments), leave.
 */

import { createSignal, Show } from 'solid-js';
import type { ModelExport } from '../mesh';
import { type EmulationChange, type EmulationErrors, parseEmulationInput } from './emulation-input';
import type { PeerView } from './peer-view';

export interface ControlActions {
  pause(): void;
  resume(): void;
  setEmulation(change: EmulationChange): void;
  leave(): void;
  /** The model now, as TF.js Layers files, with the step and test accuracy of those weights. */
  exportModel(): Promise<ModelExport | Error>;
}

const STOPPED = new Set(['closed', 'failed', 'finished']);

export function Controls(props: { readonly view: PeerView; readonly actions: ControlActions }) {
  const paused = () => props.view.phase === 'paused';
  const canPause = () => props.view.phase === 'training' || paused();
  const stopped = () => STOPPED.has(props.view.phase);
  // The fields start from the knobs the peer was started with; after that they are the
  // user's until applied (a live update must not overwrite what is being typed).
  const [slowdown, setSlowdown] = createSignal(String(props.view.emulation?.slowdown ?? 1));
  const uplink = props.view.emulation?.uplinkBps;
  const [uplinkMbps, setUplinkMbps] = createSignal(
    uplink === undefined ? '' : String(uplink / 1e6),
  );
  const [errors, setErrors] = createSignal<EmulationErrors>({});
  const [applied, setApplied] = createSignal(false);

  const apply = (e: SubmitEvent) => {
    e.preventDefault();
    const parsed = parseEmulationInput(slowdown(), uplinkMbps());
    if (!parsed.ok) {
      setErrors(parsed.error);
      setApplied(false);
      return;
    }
    setErrors({});
    props.actions.setEmulation(parsed.value);
    setApplied(true);
  };

  return (
    <div class="controls">
      <div class="control-row">
        <button
          type="button"
          data-testid="pause-toggle"
          aria-pressed={paused()}
          disabled={!canPause()}
          onClick={() => (paused() ? props.actions.resume() : props.actions.pause())}
        >
          {paused() ? 'Resume training' : 'Pause training'}
        </button>
        <Show when={!stopped()}>
          <button
            type="button"
            class="danger"
            data-testid="leave"
            onClick={() => props.actions.leave()}
          >
            Leave the room
          </button>
        </Show>
      </div>
      <form class="emulation" onSubmit={apply} novalidate>
        <fieldset disabled={stopped()}>
          <legend>Emulation (experiments only)</legend>
          <p class="note">
            Makes this peer slower or its uplink narrower on purpose, to watch the mesh adapt.
          </p>
          <label>
            <span>Slowdown (emulation)</span>
            <input
              data-testid="slowdown-input"
              name="slowdown"
              type="number"
              inputmode="decimal"
              min="1"
              step="any"
              value={slowdown()}
              onInput={(e) => setSlowdown(e.currentTarget.value)}
              aria-invalid={errors().slowdown !== undefined}
              aria-describedby="slowdown-help"
            />
          </label>
          <span id="slowdown-help" class={errors().slowdown ? 'field-error' : 'note'}>
            {errors().slowdown ?? '1 = full speed, 2 = half speed.'}
          </span>
          <label>
            <span>Uplink cap, Mbit/s (emulation)</span>
            <input
              data-testid="uplink-input"
              name="uplinkMbps"
              type="number"
              inputmode="decimal"
              min="0"
              step="any"
              placeholder="no cap"
              value={uplinkMbps()}
              onInput={(e) => setUplinkMbps(e.currentTarget.value)}
              aria-invalid={errors().uplink !== undefined}
              aria-describedby="uplink-help"
            />
          </label>
          <span id="uplink-help" class={errors().uplink ? 'field-error' : 'note'}>
            {errors().uplink ?? 'Per outgoing link; empty for no cap.'}
          </span>
          <div class="control-row">
            <button type="submit" data-testid="apply-emulation">
              Apply emulation
            </button>
            <span class="note" role="status">
              {applied() ? 'Applied: see "emulation" above.' : ''}
            </span>
          </div>
        </fieldset>
      </form>
    </div>
  );
}
