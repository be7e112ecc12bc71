/**
 * Every peer of the room in one table: what it is, what it computes on (and why not WebGPU),
 * how fast it is, its share of the global batch as bars, how far it got and how good its
 * model is. Raw numbers in data-value; shown numbers are formatted.
 */

import { For, Show } from 'solid-js';
import type { PeerData } from '../core';
import { DASH, fixed, percent } from './format';
import { groupBySite } from './mesh-model';
import { slotColour } from './palette';
import type { PeerRow } from './peer-rows';

/**
 * Steps behind worth a highlight. Reports are seconds apart, so a fast mesh shows gaps of a
 * few dozen steps that are only timing; a peer this far behind is really behind.
 */
const LAGGING_STEPS = 100;

/**
 * A peer's samples per label as small columns (the room's label order), and where it is
 * evaluated: why models of peers with different data differ, without any sample shown.
 */
function LabelBars(props: { readonly data: PeerData | undefined }) {
  const max = () => Math.max(1, ...(props.data?.perLabel ?? []));
  const title = () =>
    props.data === undefined
      ? ''
      : `${props.data.own ? 'own data' : 'room shard'}: ${props.data.perLabel.join(' / ')} per label; tested on ${props.data.test === 'own' ? 'its own held-out split' : "the room's test split"}, DKT on ${props.data.probe === 'own' ? 'its own held-out split' : "the room's probe"}`;
  return (
    <Show when={props.data} fallback={DASH}>
      {(d) => (
        <span class="label-bars" title={title()}>
          <For each={d().perLabel}>
            {(n) => (
              <span class="label-bar" style={{ height: `${Math.round((n / max()) * 100)}%` }} />
            )}
          </For>
          <span class="note">
            {` ${d().own ? 'own data' : 'shard'} · test: ${d().test === 'own' ? 'own held-out' : 'room'} · DKT: ${d().probe === 'own' ? 'own held-out' : 'room probe'}`}
          </span>
        </span>
      )}
    </Show>
  );
}

/** A value drawn as a bar with its number beside it; `fraction` in [0, 1]. */
function Bar(props: { readonly fraction: number | undefined; readonly shown: string }) {
  const width = () => `${Math.round(Math.min(1, Math.max(0, props.fraction ?? 0)) * 100)}%`;
  return (
    <span class="bar-cell">
      <span class="bar" aria-hidden="true">
        <span class="bar-fill" style={{ width: width() }} />
      </span>
      <span class="bar-num">{props.shown}</span>
    </span>
  );
}

export function PeersTable(props: {
  readonly rows: readonly PeerRow[];
  readonly colours: Readonly<Record<string, number>>;
}) {
  const maxBatch = () => Math.max(1, ...props.rows.map((r) => r.batchSize ?? 0));
  // Group headers only when someone declared a site: a plain room stays one list.
  const sited = () => props.rows.some((r) => r.site !== undefined);
  return (
    // A focusable scroll box: on a phone the table scrolls sideways, with the keyboard too.
    <section class="table-scroll" tabindex="0" aria-label="Peers of the room">
      <table data-testid="peers-table" class="peers">
        <caption class="sr-only">
          Peers of the room: backend, capacity, batch share, progress and evaluation results (on the
          room's DKT probe)
        </caption>
        <thead>
          <tr>
            <th scope="col">peer</th>
            <th scope="col">kind</th>
            <th scope="col">backend</th>
            <th scope="col" title="samples per second of pure compute">
              capacity
            </th>
            <th scope="col" title="local batch size b_i">
              batch
            </th>
            <th scope="col" title="w_i = b_i / sum b">
              weight
            </th>
            <th scope="col">step</th>
            <th scope="col" title="steps behind the most advanced peer">
              behind
            </th>
            <th
              scope="col"
              title="loss on the DKT evaluation (the common probe, or the peer's validation split)"
            >
              loss
            </th>
            <th
              scope="col"
              title="accuracy on the DKT evaluation (the common probe, or the peer's validation split)"
            >
              accuracy
            </th>
            <th scope="col" title="training samples per label, and whose data">
              labels
            </th>
          </tr>
        </thead>
        <For each={groupBySite(props.rows)}>
          {(group) => (
            <tbody data-testid="site-group" data-site={group.site ?? ''}>
              <Show when={sited()}>
                <tr class="site-row">
                  <th scope="rowgroup" colSpan={11}>
                    {group.site === undefined ? 'no site' : `site ${group.site}`}
                    <span class="note">
                      {` · ${group.members.length} peer${group.members.length === 1 ? '' : 's'}`}
                    </span>
                  </th>
                </tr>
              </Show>
              <For each={group.members}>
                {(row) => (
                  <tr
                    data-testid="peer-row"
                    data-peer-id={row.id}
                    data-name={row.name}
                    data-self={row.self ? 'true' : 'false'}
                    classList={{ self: row.self, silent: !row.reported }}
                  >
                    <th scope="row">
                      <span
                        class="swatch"
                        style={{ background: slotColour(props.colours[row.id]) }}
                        aria-hidden="true"
                      />
                      {row.name}
                      <Show when={row.self}>
                        <span class="tag">you</span>
                      </Show>
                      <Show when={row.paused}>
                        <span class="tag tag-warn">paused</span>
                      </Show>
                      <Show when={row.site}>
                        {(site) => (
                          <span class="note" data-testid="row-site">
                            {' '}
                            @{site()}
                          </span>
                        )}
                      </Show>
                    </th>
                    <td data-testid="row-kind" data-value={row.kind}>
                      {row.kind}
                    </td>
                    <td
                      data-testid="row-backend"
                      data-value={row.backend ?? ''}
                      title={row.backendNote}
                      classList={{ noted: row.backendNote !== '' }}
                    >
                      {row.backend ?? DASH}
                      <Show when={row.backendNote !== ''}>
                        <span class="sr-only">: {row.backendNote}</span>
                      </Show>
                    </td>
                    <td data-testid="row-capacity" data-value={row.capacity ?? ''}>
                      {row.capacity === undefined ? DASH : `${fixed(row.capacity, 0)}/s`}
                    </td>
                    <td data-testid="row-batch" data-value={row.batchSize ?? ''}>
                      <Bar
                        fraction={
                          row.batchSize === undefined ? undefined : row.batchSize / maxBatch()
                        }
                        shown={String(row.batchSize ?? DASH)}
                      />
                    </td>
                    <td data-testid="row-weight" data-value={row.weight ?? ''}>
                      <Bar fraction={row.weight} shown={fixed(row.weight, 2)} />
                    </td>
                    <td data-testid="row-step" data-value={row.step ?? ''}>
                      {row.step ?? DASH}
                    </td>
                    <td
                      data-testid="row-staleness"
                      data-value={row.staleness ?? ''}
                      classList={{ lagging: (row.staleness ?? 0) > LAGGING_STEPS }}
                    >
                      {row.staleness ?? DASH}
                    </td>
                    <td data-testid="row-loss" data-value={row.loss ?? ''}>
                      {fixed(row.loss, 3)}
                    </td>
                    <td data-testid="row-accuracy" data-value={row.accuracy ?? ''}>
                      {percent(row.accuracy)}
                    </td>
                    <td
                      data-testid="row-labels"
                      data-value={row.data === undefined ? '' : row.data.perLabel.join(',')}
                      data-own={row.data?.own ? 'true' : 'false'}
                      data-test={row.data?.test ?? ''}
                    >
                      <LabelBars data={row.data} />
                    </td>
                  </tr>
                )}
              </For>
            </tbody>
          )}
        </For>
      </table>
      <Show when={props.rows.length === 0}>
        <p class="note">No peers listed yet: they appear once this peer has joined.</p>
      </Show>
    </section>
  );
}
