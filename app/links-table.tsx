/**
 * One row per outgoing link: measured rate (and, where an emulated cap is set, the cap beside
 * it), RTT, bytes sent and the share of the gradient sent.
 */

import { For, Show } from 'solid-js';
import type { LinkStatus } from '../core';
import { bytes, DASH, fixed, mbitPerSec, percent } from './format';

export function LinksTable(props: {
  readonly links: readonly LinkStatus[];
  /** A peer's name by id; the id is shown beside it either way. */
  readonly names: (id: string) => string | undefined;
}) {
  return (
    <Show when={props.links.length > 0} fallback={<p class="note">No open links yet.</p>}>
      <section class="table-scroll" tabindex="0" aria-label="Links of this peer">
        <table>
          <thead>
            <tr>
              <th>to</th>
              <th>Mbit/s measured</th>
              <th>RTT ms</th>
              <th>sent</th>
              <th>gradient sent</th>
            </tr>
          </thead>
          <tbody data-testid="links">
            <For each={props.links}>
              {(link) => (
                <tr data-testid="link" data-to={link.to}>
                  <td>
                    {props.names(link.to) ?? DASH} <span class="note">{link.to}</span>
                  </td>
                  <td data-testid="link-rate" data-value={link.bandwidthBps}>
                    {mbitPerSec(link.bandwidthBps)}
                    <Show when={link.capBps}>
                      {(cap) => (
                        <span class="note" data-testid="link-cap" data-value={cap()}>
                          {' '}
                          of {mbitPerSec(cap())} cap
                        </span>
                      )}
                    </Show>
                  </td>
                  <td data-testid="link-rtt" data-value={link.rttMs ?? ''}>
                    {fixed(link.rttMs, 1)}
                  </td>
                  <td data-testid="link-bytes" data-value={link.bytesSent}>
                    {bytes(link.bytesSent)}
                  </td>
                  <td data-testid="link-sent-fraction" data-value={link.sentFraction}>
                    {percent(link.sentFraction)}
                  </td>
                </tr>
              )}
            </For>
          </tbody>
        </table>
      </section>
    </Show>
  );
}
