/**
 * Everything the dashboard shows, kept up to date: the tab's own peer from its event stream,
 * the rest of the room from polling the server, folded by the pure functions of peer-view,
 * room-view and peer-rows into Solid stores (reconcile: only what changed re-renders). Must
 * be created inside a component (it owns effects and a poller that stop with it).
 */

import { type Accessor, createEffect, createMemo, createSignal, onCleanup } from 'solid-js';
import { createStore, reconcile } from 'solid-js/store';
import type { MergeEvent, RoomConfig } from '../core';
import type { MeshPeer } from '../mesh';
import { appendBounded } from './bounded-list';
import type { OwnStep, RunExport } from './export';
import { type MeshGraph, meshGraph } from './mesh-model';
import { assignColours } from './palette';
import type { JoinParams } from './params';
import { type PeerRow, peerRows } from './peer-rows';
import { initialView, nextView, type PeerView } from './peer-view';
import { browserFetchJson, startRoomPoller } from './room-poller';
import {
  addMerges,
  DEFAULT_LIMITS,
  emptyHistory,
  foldPoll,
  mergeKey,
  type RoomHistory,
  type RoomMember,
} from './room-view';

/** Own steps kept for the export; thinned like the rest of the history beyond this. */
const OWN_STEPS = 5000;

export interface DashboardState {
  readonly view: PeerView;
  readonly rows: readonly PeerRow[];
  readonly graph: MeshGraph;
  readonly merges: readonly MergeEvent[];
  readonly history: Accessor<RoomHistory>;
  readonly colours: Accessor<Readonly<Record<string, number>>>;
  /** Why the room view is not current, or undefined when it is. */
  readonly apiProblem: Accessor<string | undefined>;
  /** Name of a peer by id (an id when it is unknown). */
  names(id: string): string;
  /** Name of a peer by id, undefined when it is unknown. */
  knownName(id: string): string | undefined;
  runExport(): RunExport;
}

const STOPPED = new Set(['closed', 'failed']);

export function createDashboardState(peer: MeshPeer, params: JoinParams): DashboardState {
  let current: PeerView = {
    ...initialView({
      slowdown: params.slowdown,
      uplinkBps: params.uplinkMbps === undefined ? undefined : params.uplinkMbps * 1e6,
    }),
    phase: peer.phase(),
  };
  // reconcile diffs into the store's own objects and mutates them: the store gets a copy, so
  // the plain views (folded below, shared with the rows and the graph) are never changed
  // under their feet.
  const [view, setView] = createStore(structuredClone(current));
  const [own, setOwn] = createSignal(current);
  const [history, setHistory] = createSignal<RoomHistory>(emptyHistory());
  const [members, setMembers] = createSignal<readonly RoomMember[]>([]);
  const [config, setConfig] = createSignal<RoomConfig | undefined>(undefined);
  const [apiProblem, setApiProblem] = createSignal<string | undefined>(undefined);
  let ownSteps: OwnStep[] = [];

  const unsubscribe = peer.subscribe((event) => {
    current = nextView(current, event, peer);
    setView(reconcile(structuredClone(current)));
    setOwn(current);
    if (event.type === 'step') {
      ownSteps = appendBounded(
        ownSteps,
        {
          atMs: Date.now(),
          step: event.step,
          batchSize: event.batchSize,
          weight: event.weight,
          loss: event.loss,
          computeMs: event.computeMs,
          iterationMs: event.iterationMs,
        },
        OWN_STEPS,
      );
    } else if (event.type === 'merge') {
      // This tab's merges show at once; the poll brings everyone's (duplicates are dropped).
      setHistory((h) => ({
        ...h,
        merges: addMerges(h.merges, [event.merge], DEFAULT_LIMITS.merges),
      }));
    }
  });

  const startPolling = () =>
    startRoomPoller({
      room: params.room,
      fetchJson: browserFetchJson,
      setTimer: (ms, fn) => {
        const t = setTimeout(fn, ms);
        return () => clearTimeout(t);
      },
      now: () => Date.now(),
      onPoll: (room, atMs) => {
        setMembers(room.members);
        if (room.config) setConfig(room.config);
        setHistory((h) => foldPoll(h, room, atMs));
      },
      onProblem: setApiProblem,
    });
  // From the join on (before it the room may not exist: a 404 would only be noise), until the
  // peer has left or was refused: then there is nothing to watch, and what was seen stays.
  let poller: { stop(): void } | undefined;
  let polled = false;
  createEffect(() => {
    if (STOPPED.has(view.phase)) poller?.stop();
    else if (view.peerId !== undefined && !polled) {
      polled = true;
      poller = startPolling();
    }
  });
  onCleanup(() => {
    unsubscribe();
    poller?.stop();
  });

  const rowsMemo = createMemo(() => {
    const o = own();
    return peerRows(
      members(),
      o.peerId === undefined ? undefined : { id: o.peerId, name: params.name, view: o },
    );
  });
  const [rows, setRows] = createStore<PeerRow[]>([]);
  createEffect(() => setRows(reconcile(rowsMemo(), { key: 'id' })));

  const [colours, setColours] = createSignal<Readonly<Record<string, number>>>({});
  createEffect(() => {
    // The server's order (join order), not this tab's (itself first): all tabs agree.
    const ids = [...members().map((m) => m.id), ...history().series.map((s) => s.id)];
    setColours((c) => assignColours(c, ids));
  });

  const [graph, setGraph] = createStore<MeshGraph>({ nodes: [], edges: [] });
  createEffect(() => setGraph(reconcile(meshGraph(rowsMemo(), history().usage))));
  // Keyed copies: reconcile mutates the store's items in place, and the history's merges
  // must stay as they were (they are the export's and the dedup's source).
  const [merges, setMerges] = createStore<(MergeEvent & { readonly key: string })[]>([]);
  createEffect(() =>
    setMerges(
      reconcile(
        history().merges.map((m) => ({ ...m, key: mergeKey(m) })),
        { key: 'key' },
      ),
    ),
  );

  const knownName = (id: string): string | undefined =>
    rowsMemo().find((r) => r.id === id)?.name ?? history().series.find((s) => s.id === id)?.name;
  const names = (id: string): string => knownName(id) ?? id;

  return {
    view,
    rows,
    graph,
    merges,
    history,
    colours,
    apiProblem,
    names,
    knownName,
    runExport: () => {
      const h = history();
      return {
        room: params.room,
        peerId: current.peerId,
        name: params.name,
        exportedAtMs: Date.now(),
        config: current.config ?? config(),
        peers: h.series,
        mesh: h.mesh,
        ownSteps,
        merges: h.merges,
      };
    },
  };
}
