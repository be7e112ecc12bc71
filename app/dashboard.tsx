/**
 * The peer's page: where it is in its life cycle, what it trains with, how far it got, and
 * its links. Every number the tests read carries a data-testid and its raw value in
 * data-value, so tests never parse formatted text.
 */

import { Show } from 'solid-js';
import { fixed, percent } from './format';
import { LinksTable } from './links-table';
import type { JoinParams } from './params';
import type { PeerView } from './peer-view';

const STOPPED = new Set(['closed', 'failed', 'finished']);

/** One labelled value; `value` is the raw number (or text) behind the shown one. */
function Field(props: {
  readonly label: string;
  readonly testid: string;
  readonly value: string | number | null | undefined;
  readonly shown: string;
}) {
  return (
    <>
      <dt>{props.label}</dt>
      <dd data-testid={props.testid} data-value={props.value ?? ''}>
        {props.shown}
      </dd>
    </>
  );
}

export function Dashboard(props: {
  readonly params: JoinParams;
  readonly view: PeerView;
  readonly onLeave: () => void;
}) {
  const refusalTotal = () => Object.values(props.view.refusals).reduce((a, b) => a + (b ?? 0), 0);
  const refusalText = () =>
    Object.entries(props.view.refusals)
      .filter(([, n]) => (n ?? 0) > 0)
      .map(([kind, n]) => `${kind} ${n}`)
      .join(', ');
  const emulationText = () => {
    const e = props.view.emulation;
    if (e === undefined) return 'none';
    const parts = [e.slowdown > 1 ? `compute ${e.slowdown}x slower` : 'no compute slowdown'];
    if (e.uplinkBps !== undefined) parts.push(`uplink capped at ${e.uplinkBps / 1e6} Mbit/s`);
    if (e.latencyMs !== undefined) parts.push(`+${e.latencyMs} ms latency`);
    return parts.join(', ');
  };

  return (
    <>
      <h1>
        DLion mesh: room <span data-testid="room">{props.params.room}</span>
      </h1>
      <p>
        <strong
          data-testid="phase"
          data-value={props.view.phase}
          class={`phase-${props.view.phase}`}
        >
          {props.view.phase}
        </strong>{' '}
        <span data-testid="phase-detail">{props.view.detail}</span>
        <Show when={props.view.code}>{(code) => <span class="error"> (code {code()})</span>}</Show>
      </p>
      <dl>
        <Field
          label="peer"
          testid="peer-id"
          value={props.view.peerId}
          shown={`${props.params.name} (${props.view.peerId ?? 'not joined yet'})`}
        />
        <Field
          label="strategy / model"
          testid="strategy"
          value={props.view.config?.strategy}
          shown={
            props.view.config
              ? `${props.view.config.strategy} / ${props.view.config.model} on ${props.view.config.dataset}`
              : '–'
          }
        />
        <Field
          label="backend"
          testid="backend"
          value={props.view.backend}
          shown={
            (props.view.backend ?? '–') +
            (props.view.backendNote === '' ? '' : ` (${props.view.backendNote})`)
          }
        />
        <Field label="emulation" testid="emulation" value={undefined} shown={emulationText()} />
        <Field
          label="step"
          testid="step"
          value={props.view.step}
          shown={String(props.view.step ?? '–')}
        />
        <Field
          label="batch size"
          testid="batch-size"
          value={props.view.batchSize}
          shown={String(props.view.batchSize ?? '–')}
        />
        <Field
          label="weight"
          testid="weight"
          value={props.view.weight}
          shown={fixed(props.view.weight, 3)}
        />
        <Field
          label="training loss"
          testid="loss"
          value={props.view.trainLoss}
          shown={fixed(props.view.trainLoss, 4)}
        />
        <Field
          label="validation"
          testid="val-accuracy"
          value={props.view.valAccuracy}
          shown={`${percent(props.view.valAccuracy)} accuracy, loss ${fixed(props.view.valLoss, 4)}`}
        />
        <Field
          label="capacity"
          testid="capacity"
          value={props.view.capacity}
          shown={`${fixed(props.view.capacity, 0)} samples/s`}
        />
        <Field
          label="links"
          testid="link-count"
          value={props.view.links.length}
          shown={String(props.view.links.length)}
        />
        <Field
          label="merges"
          testid="merges"
          value={props.view.merges}
          shown={`${props.view.merges} (${props.view.rolledBack} rolled back)`}
        />
        <Field
          label="refused input"
          testid="refusals"
          value={refusalTotal()}
          shown={refusalTotal() === 0 ? 'none' : refusalText()}
        />
      </dl>
      <h2>Links</h2>
      <LinksTable links={props.view.links} names={props.view.names} />
      <Show
        when={!STOPPED.has(props.view.phase)}
        fallback={
          <p>
            <a href={location.href} data-testid="rejoin">
              Join again
            </a>
          </p>
        }
      >
        <button type="button" data-testid="leave" onClick={() => props.onLeave()}>
          Leave the room
        </button>
      </Show>
    </>
  );
}
