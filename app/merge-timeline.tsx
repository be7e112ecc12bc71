/**
 * Knowledge transfers (DESIGN.md 3.5) from every peer's status, newest first: who pulled
 * whose model, with which beta, its evaluation loss (DKT's split) before and after, and whether the guard
 * rolled the merge back.
 */

import { For, Show } from 'solid-js';
import type { MergeEvent } from '../core';

/** How many of the kept merges are listed; the export has them all. */
const SHOWN = 60;

const clock = (ms: number) =>
  new Date(ms).toLocaleTimeString(undefined, {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });

export function MergeTimeline(props: {
  readonly merges: readonly MergeEvent[];
  readonly names: (id: string) => string;
}) {
  const newest = () => props.merges.slice(-SHOWN).reverse();
  const rolledBack = () => props.merges.filter((m) => m.rolledBack).length;
  return (
    <>
      <p class="note">
        {props.merges.length === 0
          ? 'No transfers yet. A peer whose evaluation loss trails the best one pulls its model now and then.'
          : `${props.merges.length} transfer${props.merges.length === 1 ? '' : 's'}, ${rolledBack()} rolled back.`}
        <Show when={props.merges.length > SHOWN}> Newest {SHOWN} listed.</Show>
      </p>
      <ol
        class="timeline"
        data-testid="merge-timeline"
        aria-label="Knowledge transfers, newest first"
      >
        <For each={newest()}>
          {(m) => (
            <li
              class="merge-item"
              classList={{ 'rolled-back': m.rolledBack }}
              data-testid="merge-item"
              data-from={m.from}
              data-to={m.to}
              data-rolled-back={m.rolledBack ? 'true' : 'false'}
            >
              <time datetime={new Date(m.atMs).toISOString()}>{clock(m.atMs)}</time>
              <span class="merge-who">
                {props.names(m.to)} ← {props.names(m.from)}
              </span>
              <span class="merge-nums">
                β {m.beta.toFixed(2)}, loss {m.lossBefore.toFixed(3)} → {m.lossAfter.toFixed(3)}
              </span>
              <span class={m.rolledBack ? 'tag tag-warn' : 'tag tag-ok'}>
                {m.rolledBack ? 'rolled back' : 'kept'}
              </span>
            </li>
          )}
        </For>
      </ol>
    </>
  );
}
