/**
 * Evaluation loss and accuracy over time (each peer's DKT evaluation: the room's common probe
 * by default, or its own validation split), one line per peer and a dashed one for the mesh's
 * mean, drawn by uPlot (canvas: thousands of points stay cheap). Redrawn at most once a
 * second; rebuilt only when the set of series changes (a peer joined).
 */

import 'uplot/dist/uPlot.min.css';
import { createEffect, createSignal, For, onCleanup, onMount, Show } from 'solid-js';
import uPlot from 'uplot';
import { DASH, fixed, percent } from './format';
import { MESH_COLOUR, slotColour } from './palette';
import { type ChartData, MESH_SERIES } from './room-view';

const HEIGHT = 220;
const REDRAW_MS = 1000;

export interface ChartProps {
  readonly testid: string;
  /** Names the chart for screen readers, e.g. "Validation loss over time". */
  readonly title: string;
  readonly data: ChartData;
  readonly colours: Readonly<Record<string, number>>;
  /** Accuracy: a fixed 0..100% axis; loss: from the data. */
  readonly kind: 'loss' | 'accuracy';
}

const colourOf = (id: string, colours: Readonly<Record<string, number>>) =>
  id === MESH_SERIES ? MESH_COLOUR : slotColour(colours[id]);

/** What identifies the chart's series: a change means a rebuild, not just new data. */
const seriesKey = (d: ChartData, colours: Readonly<Record<string, number>>) =>
  d.series.map((s) => `${s.id}=${s.label}=${colours[s.id] ?? ''}`).join('|');

const toAligned = (d: ChartData): uPlot.AlignedData => [
  Array.from(d.xs),
  ...d.series.map((s) => Array.from(s.values)),
];

const lastValue = (values: readonly (number | null)[]): number | null => {
  for (let i = values.length - 1; i >= 0; i--) {
    const v = values[i];
    if (v !== null && v !== undefined) return v;
  }
  return null;
};

export function MetricChart(props: ChartProps) {
  let host: HTMLDivElement | undefined;
  let chart: uPlot | undefined;
  let key = '';
  let lastDraw = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const [shown, setShown] = createSignal<ChartData>({ xs: [], series: [], points: 0 });
  const format = (v: number | null | undefined) =>
    props.kind === 'accuracy' ? percent(v) : fixed(v, 3);

  const options = (d: ChartData, width: number): uPlot.Options => ({
    width,
    height: HEIGHT,
    legend: { show: false },
    cursor: { drag: { x: false, y: false } },
    scales: {
      x: { time: true },
      y:
        props.kind === 'accuracy'
          ? { range: [0, 1] }
          : // Loss from zero: how far a line is from 0 is what a reader compares. Without data
            // uPlot passes nulls, hence the fallback.
            { range: (_u, _min, max) => [0, Number.isFinite(max) && max > 0 ? max * 1.05 : 1] },
    },
    axes: [
      {
        stroke: '#5b6475',
        grid: { stroke: '#eef0f4' },
        space: 80,
        // Clock time only: uPlot's default adds the date under the first tick, which
        // collides with the next one on a narrow chart.
        values: (_u, splits) =>
          splits.map((s) =>
            new Date(s * 1000).toLocaleTimeString(undefined, {
              hour: '2-digit',
              minute: '2-digit',
              second: '2-digit',
              hour12: false,
            }),
          ),
      },
      {
        stroke: '#5b6475',
        grid: { stroke: '#eef0f4' },
        size: 48,
        values: (_u, splits) =>
          splits.map((v) => (props.kind === 'accuracy' ? `${Math.round(v * 100)}%` : v.toFixed(2))),
      },
    ],
    series: [
      {},
      ...d.series.map(
        (s): uPlot.Series => ({
          label: s.label,
          stroke: colourOf(s.id, props.colours),
          width: s.id === MESH_SERIES ? 2.5 : 1.5,
          ...(s.id === MESH_SERIES ? { dash: [6, 4] } : {}),
          spanGaps: true,
          points: { show: false },
        }),
      ),
    ],
  });

  const draw = () => {
    timer = undefined;
    lastDraw = Date.now();
    const d = props.data;
    if (host === undefined) return;
    const nextKey = seriesKey(d, props.colours);
    if (chart === undefined || nextKey !== key) {
      chart?.destroy();
      chart = new uPlot(options(d, host.clientWidth || 300), toAligned(d), host);
      key = nextKey;
    } else chart.setData(toAligned(d));
    setShown(d);
  };

  onMount(() => {
    draw();
    const resize = new ResizeObserver(() => {
      if (chart && host && host.clientWidth > 0 && host.clientWidth !== chart.width) {
        chart.setSize({ width: host.clientWidth, height: HEIGHT });
      }
    });
    if (host) resize.observe(host);
    onCleanup(() => {
      resize.disconnect();
      if (timer !== undefined) clearTimeout(timer);
      chart?.destroy();
      chart = undefined;
    });
  });

  // Reading props.data here subscribes to it; the draw itself waits for the next slot, so
  // polls and step events never redraw more than once a second.
  createEffect(() => {
    void props.data;
    void props.colours;
    if (timer !== undefined || host === undefined) return;
    timer = setTimeout(draw, Math.max(0, lastDraw + REDRAW_MS - Date.now()));
  });

  return (
    <figure class="chart" data-testid={props.testid} data-points={shown().points}>
      <div class="chart-plot" ref={host} role="img" aria-label={`${props.title}: chart`} />
      <Show when={shown().xs.length === 0}>
        <p class="note chart-empty">
          No evaluations yet: each peer reports its loss and accuracy on the room's DKT probe every
          few seconds once it trains.
        </p>
      </Show>
      <figcaption>
        <ul class="legend" aria-label={`${props.title}: latest values`}>
          <For each={shown().series}>
            {(s) => (
              <li class="legend-item" classList={{ mean: s.id === MESH_SERIES }}>
                <span
                  class="legend-line"
                  classList={{ dashed: s.id === MESH_SERIES }}
                  style={{ 'border-color': colourOf(s.id, props.colours) }}
                  aria-hidden="true"
                />
                <span class="legend-label">{s.label}</span>{' '}
                <span class="legend-value">
                  {lastValue(s.values) === null ? DASH : format(lastValue(s.values))}
                </span>
              </li>
            )}
          </For>
        </ul>
      </figcaption>
    </figure>
  );
}
