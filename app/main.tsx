/**
 * The page at `/`: without a room it asks for one; with `?room=...` it joins that room's
 * training mesh and shows how its peer is doing. The full dashboard (charts, controls) is
 * built on this page's store later; this page is the minimal, honest version of it.
 */

import { createStore, reconcile } from 'solid-js/store';
import { For, render } from 'solid-js/web';
import { Dashboard } from './dashboard';
import { JoinForm } from './join-form';
import { type JoinParams, parsePageParams } from './params';
import { initialView, nextView, type PeerView } from './peer-view';
import { startPeer } from './start-peer';
import { exposeForTests } from './test-handle';

function Invalid(props: { readonly errors: readonly string[] }) {
  return (
    <>
      <h1>DLion mesh: cannot join</h1>
      <ul data-testid="errors" class="error">
        <For each={props.errors}>{(e) => <li>{e}</li>}</For>
      </ul>
      <p>
        Fix the address, or <a href="/">start from the form</a>.
      </p>
    </>
  );
}

function Joined(props: { readonly params: JoinParams }) {
  const peer = startPeer(props.params);
  exposeForTests(peer);
  let current: PeerView = {
    ...initialView({
      slowdown: props.params.slowdown,
      uplinkBps: props.params.uplinkMbps === undefined ? undefined : props.params.uplinkMbps * 1e6,
    }),
    phase: peer.phase(),
  };
  const [view, setView] = createStore(current);
  // The view is folded outside the store (plain objects in, plain objects out); the store
  // diffs each new view into place, so only the numbers that changed re-render.
  peer.subscribe((event) => {
    current = nextView(current, event, peer);
    setView(reconcile(current));
  });
  // pagehide, not unload: it also fires when the page enters the back-forward cache. The
  // close is best effort (a page cannot wait on it), the checkpoint every N steps is the net.
  window.addEventListener('pagehide', () => void peer.close(), { once: true });
  return <Dashboard params={props.params} view={view} onLeave={() => void peer.close()} />;
}

function Page() {
  const parsed = parsePageParams(new URLSearchParams(location.search), Math.random);
  switch (parsed.kind) {
    case 'form':
      return (
        <>
          <h1>DLion mesh</h1>
          <JoinForm name={parsed.name} />
        </>
      );
    case 'invalid':
      return <Invalid errors={parsed.errors} />;
    case 'join':
      return <Joined params={parsed.params} />;
  }
}

const root = document.getElementById('root');
if (root) render(() => <Page />, root);
