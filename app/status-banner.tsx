/**
 * The banner at the top: the peer's state in words a user can act on (describeBanner), the
 * raw phase and the runtime's own detail for tests and the curious, and a way back in once
 * the peer has stopped.
 */

import { Show } from 'solid-js';
import { describeBanner } from './banner';
import type { PeerView } from './peer-view';

export function StatusBanner(props: { readonly view: PeerView; readonly room: string }) {
  const banner = () =>
    describeBanner({
      phase: props.view.phase,
      detail: props.view.detail,
      code: props.view.code,
      room: props.room,
      links: props.view.links.length,
      step: props.view.step,
    });
  // A token or a full room will not change on a reload: those go back to the form instead.
  const rejoinHref = () =>
    banner().state === 'token-refused' || banner().state === 'room-full' ? '/' : location.href;
  return (
    <section
      class={`banner banner-${banner().state}`}
      data-testid="status-banner"
      data-state={banner().state}
      role={banner().role}
      aria-live={banner().role === 'alert' ? 'assertive' : 'polite'}
      aria-atomic="true"
    >
      <p class="banner-title">
        <strong>{banner().title}</strong>{' '}
        <span class="phase-chip" data-testid="phase" data-value={props.view.phase}>
          {props.view.phase}
        </span>
      </p>
      <p class="banner-text">{banner().text}</p>
      {/* The runtime's own words; hidden when they only repeat the phase (kept for tests). */}
      <p class="banner-detail" classList={{ same: props.view.detail === props.view.phase }}>
        <span data-testid="phase-detail">{props.view.detail}</span>
        <Show when={props.view.code}>{(code) => <span> (code {code()})</span>}</Show>
      </p>
      <Show when={banner().rejoin}>
        <p>
          <a class="button" href={rejoinHref()} data-testid="rejoin">
            {rejoinHref() === '/' ? 'Back to the join form' : 'Join again'}
          </a>
        </p>
      </Show>
    </section>
  );
}
