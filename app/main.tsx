/**
 * The page at `/`: without a room it asks for one; with `?room=...` it joins that room's
 * training mesh and shows the dashboard: this peer live from its event stream, the rest of
 * the room from the server's API.
 */

import './styles.css';
import { For, render } from 'solid-js/web';
import { Dashboard } from './dashboard';
import { createDashboardState } from './dashboard-state';
import { JoinForm } from './join-form';
import { type NewRoomModel, newRoomModel } from './model-upload';
import { type JoinParams, parsePageParams } from './params';
import { startPeer } from './start-peer';
import { exposeForTests } from './test-handle';

function Invalid(props: { readonly errors: readonly string[] }) {
  return (
    <div class="narrow">
      <h1>DLion mesh: cannot join</h1>
      <ul data-testid="errors" class="error" role="alert">
        <For each={props.errors}>{(e) => <li>{e}</li>}</For>
      </ul>
      <p>
        Fix the address, or <a href="/">start from the form</a>.
      </p>
    </div>
  );
}

function Joined(props: { readonly params: JoinParams; readonly model?: NewRoomModel }) {
  const peer = startPeer(props.params, props.model);
  exposeForTests(peer);
  const state = createDashboardState(peer, props.params);
  // pagehide, not unload: it also fires when the page enters the back-forward cache. The
  // close is best effort (a page cannot wait on it), the checkpoint every N steps is the net.
  window.addEventListener('pagehide', () => void peer.close(), { once: true });
  return (
    <Dashboard
      params={props.params}
      state={state}
      actions={{
        pause: () => peer.pause(),
        resume: () => peer.resume(),
        setEmulation: (change) => peer.setEmulation(change),
        leave: () => void peer.close(),
        exportModel: () => peer.exportModel(),
      }}
    />
  );
}

const parsed = parsePageParams(new URLSearchParams(location.search), Math.random);
// A room created from a model file or own data chosen in the form: its task joins the room's
// settings (used only if this tab creates the room).
const kept = parsed.kind === 'join' ? await newRoomModel(parsed.params.room) : undefined;
const chosenModel =
  parsed.kind === 'join' &&
  kept !== undefined &&
  parsed.params.config.model ===
    (kept.task.model.kind === 'builtin' ? kept.task.model.name : 'custom')
    ? kept
    : undefined;

function Page() {
  switch (parsed.kind) {
    case 'form':
      return (
        <div class="narrow">
          <h1>DLion mesh</h1>
          <JoinForm name={parsed.name} />
        </div>
      );
    case 'invalid':
      return <Invalid errors={parsed.errors} />;
    case 'join':
      return chosenModel === undefined ? (
        <Joined params={parsed.params} />
      ) : (
        <Joined
          params={{ ...parsed.params, config: { ...parsed.params.config, task: chosenModel.task } }}
          model={chosenModel}
        />
      );
  }
}

const root = document.getElementById('root');
if (root) render(() => <Page />, root);
