/**
 * The peer's page once it has joined: the banner (state and what to do), the mesh diagram,
 * this peer's numbers and controls, every peer of the room, loss and accuracy over time, this
 * peer's links and the knowledge transfers. Every number the tests read carries a data-testid
 * and its raw value in data-value, so tests never parse formatted text.
 */

import { createMemo, Show } from 'solid-js';
import { type RoomConfig, roomTask } from '../core';
import { MetricChart } from './charts';
import { type ControlActions, Controls } from './controls';
import type { DashboardState } from './dashboard-state';
import { ExportButtons } from './export-buttons';
import { fixed, percent } from './format';
import { LinksTable } from './links-table';
import { MergeTimeline } from './merge-timeline';
import { MeshGraphView } from './mesh-graph';
import { OwnDataPanel } from './own-data-panel';
import type { JoinParams } from './params';
import { PeersTable } from './peers-table';
import { chartData } from './room-view';
import { StatusBanner } from './status-banner';

/** A built-in model's name, or a room's own model by its task's name. */
const modelName = (c: RoomConfig | undefined): string =>
  c === undefined ? '' : c.model === 'custom' ? `${c.task?.name ?? 'custom'} (own model)` : c.model;

/** The room's data: its dataset, or each peer's own. */
const dataName = (c: RoomConfig | undefined): string =>
  c?.task?.data.kind === 'local' ? "each peer's own data" : (c?.dataset ?? '');

/** One labelled value; `value` is the raw number (or text) behind the shown one. */
function Field(props: {
  readonly label: string;
  readonly testid: string;
  readonly value: string | number | null | undefined;
  readonly shown: string;
}) {
  return (
    <div class="field">
      <dt>{props.label}</dt>
      <dd data-testid={props.testid} data-value={props.value ?? ''}>
        {props.shown}
      </dd>
    </div>
  );
}

/** This tab's own peer: who it is, what it trains with, how far it got. */
function OwnPeerFields(props: { readonly params: JoinParams; readonly state: DashboardState }) {
  const view = () => props.state.view;
  const refusalTotal = () => Object.values(view().refusals).reduce((a, b) => a + (b ?? 0), 0);
  const refusalText = () =>
    Object.entries(view().refusals)
      .filter(([, n]) => (n ?? 0) > 0)
      .map(([kind, n]) => `${kind} ${n}`)
      .join(', ');
  const emulationText = () => {
    const e = view().emulation;
    if (e === undefined) return 'none';
    const parts = [e.slowdown > 1 ? `compute ${e.slowdown}x slower` : 'no compute slowdown'];
    if (e.uplinkBps !== undefined) parts.push(`uplink capped at ${e.uplinkBps / 1e6} Mbit/s`);
    if (e.latencyMs !== undefined) parts.push(`+${e.latencyMs} ms latency`);
    return parts.join(', ');
  };
  return (
    <dl class="fields">
      <Field
        label="peer"
        testid="peer-id"
        value={view().peerId}
        shown={`${props.params.name} (${view().peerId ?? 'not joined yet'})`}
      />
      <Field
        label="strategy / model"
        testid="strategy"
        value={view().config?.strategy}
        shown={
          view().config
            ? `${view().config?.strategy} / ${modelName(view().config)} on ${dataName(view().config)}`
            : '–'
        }
      />
      <Field
        label="backend"
        testid="backend"
        value={view().backend}
        shown={
          (view().backend ?? '–') + (view().backendNote === '' ? '' : ` (${view().backendNote})`)
        }
      />
      <Field label="emulation" testid="emulation" value={undefined} shown={emulationText()} />
      <Field label="step" testid="step" value={view().step} shown={String(view().step ?? '–')} />
      <Field
        label="batch size"
        testid="batch-size"
        value={view().batchSize}
        shown={String(view().batchSize ?? '–')}
      />
      <Field label="weight" testid="weight" value={view().weight} shown={fixed(view().weight, 3)} />
      <Field
        label="training loss"
        testid="loss"
        value={view().trainLoss}
        shown={fixed(view().trainLoss, 4)}
      />
      <Field
        label="evaluation"
        testid="val-accuracy"
        value={view().valAccuracy}
        shown={`${percent(view().valAccuracy)} acc., loss ${fixed(view().valLoss, 3)}`}
      />
      <Field
        label="capacity"
        testid="capacity"
        value={view().capacity}
        shown={`${fixed(view().capacity, 0)} samples/s`}
      />
      <Field
        label="links"
        testid="link-count"
        value={view().links.length}
        shown={String(view().links.length)}
      />
      <Field
        label="merges"
        testid="merges"
        value={view().merges}
        shown={`${view().merges} (${view().rolledBack} rolled back)`}
      />
      <Field
        label="refused input"
        testid="refusals"
        value={refusalTotal()}
        shown={refusalTotal() === 0 ? 'none' : refusalText()}
      />
    </dl>
  );
}

export function Dashboard(props: {
  readonly params: JoinParams;
  readonly state: DashboardState;
  readonly actions: ControlActions;
}) {
  const lossData = createMemo(() => chartData(props.state.history(), 'loss'));
  const accuracyData = createMemo(() => chartData(props.state.history(), 'accuracy'));
  const skipped = () => props.state.history().invalid;
  return (
    <div class="dashboard">
      <header class="top">
        <div>
          <h1>
            DLion mesh · room <span data-testid="room">{props.params.room}</span>
          </h1>
          <p class="note">
            You are <strong>{props.params.name}</strong>
            <Show when={props.state.view.config}>
              {(c) => ` · ${c().strategy} · ${modelName(c())} on ${dataName(c())}`}
            </Show>
          </p>
        </div>
        <ExportButtons
          room={props.params.room}
          peer={props.state.view.peerId ?? props.params.name}
          run={props.state.runExport}
          exportModel={props.actions.exportModel}
        />
      </header>
      <StatusBanner view={props.state.view} room={props.params.room} />
      <div class="grid">
        <section class="card area-graph" aria-labelledby="h-mesh">
          <h2 id="h-mesh">Mesh</h2>
          <MeshGraphView graph={props.state.graph} colours={props.state.colours()} />
        </section>
        <section class="card area-self" aria-labelledby="h-self">
          <h2 id="h-self">This peer</h2>
          <OwnPeerFields params={props.params} state={props.state} />
          <Controls view={props.state.view} actions={props.actions} />
          <details class="own-data-box" open>
            <summary>Your data</summary>
            <OwnDataPanel
              room={() => props.params.room}
              needed={() => props.state.view.config?.task?.data.kind === 'local'}
              taskFor={async () => {
                const c = props.state.view.config;
                if (c === undefined) throw new Error("the room's settings are not known yet");
                return roomTask(c);
              }}
              onKept={() => {
                // A peer already training on the room's shard restarts on the new data.
                const phase = props.state.view.phase;
                if (phase === 'training' || phase === 'paused') location.reload();
              }}
            />
          </details>
        </section>
        <section class="card area-peers" aria-labelledby="h-peers">
          <h2 id="h-peers">Peers</h2>
          <PeersTable rows={props.state.rows} colours={props.state.colours()} />
          <p class="note" role="status">
            <Show when={props.state.apiProblem()}>
              {(p) => <span>Room view not current: {p()}. </span>}
            </Show>
            <Show when={skipped() > 0}>
              {skipped()} malformed peer report{skipped() === 1 ? '' : 's'} skipped.
            </Show>
          </p>
        </section>
        <section class="card area-loss" aria-labelledby="h-loss">
          <h2 id="h-loss">Evaluation loss</h2>
          <MetricChart
            testid="loss-chart"
            title="Evaluation loss over time"
            kind="loss"
            data={lossData()}
            colours={props.state.colours()}
          />
        </section>
        <section class="card area-acc" aria-labelledby="h-acc">
          <h2 id="h-acc">Evaluation accuracy</h2>
          <MetricChart
            testid="accuracy-chart"
            title="Evaluation accuracy over time"
            kind="accuracy"
            data={accuracyData()}
            colours={props.state.colours()}
          />
        </section>
        <section class="card area-links" aria-labelledby="h-links">
          <h2 id="h-links">Links of this peer</h2>
          <LinksTable
            links={props.state.view.links}
            // The join events name the peers that came later; the room view names the rest.
            names={(id) => props.state.view.names[id] ?? props.state.knownName(id)}
          />
        </section>
        <section class="card area-merges" aria-labelledby="h-merges">
          <h2 id="h-merges">Knowledge transfers</h2>
          <MergeTimeline merges={props.state.merges} names={props.state.names} />
        </section>
      </div>
    </div>
  );
}
