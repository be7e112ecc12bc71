/**
 * The mesh as a diagram: peers as nodes (this tab at the top), each direction of each link as
 * an arrow labelled with its measured Mbit/s and the share of the gradient it carries, its
 * colour saying how busy it is and its width how much of the gradient it carries. A hidden
 * list says the same to screen readers.
 */

import { createSignal, For, onCleanup, onMount, Show } from 'solid-js';
import { arrowHead, circleLayout, edgeGeometry, nameSpot, type Point } from './graph-layout';
import { busyColour, describeGraph, type GraphEdge, type MeshGraph } from './mesh-model';
import { slotColour } from './palette';

const NODE_R = 22;
/** Beyond this many peers the labels would overlap: they move to tooltips and the list. */
const LABELLED_PEERS = 6;
/** The legend's gradient, drawn with the links' own colour function. */
const BUSY_GRADIENT = `linear-gradient(90deg, ${[0, 0.25, 0.5, 0.75, 1].map(busyColour).join(', ')})`;

const pct = (x: number) => `${Math.round(x * 100)}%`;
const betweenText = (e: GraphEdge) =>
  e.between === 'inter' ? ' (between sites)' : e.between === 'intra' ? ' (inside a site)' : '';

function Edge(props: {
  readonly edge: GraphEdge;
  readonly from: Point;
  readonly to: Point;
  readonly label: boolean;
  readonly names: (id: string) => string;
}) {
  const g = () => edgeGeometry(props.from, props.to, NODE_R + 4, 4, 9);
  const head = () => {
    const e = g();
    return arrowHead(e.x1, e.y1, e.x2, e.y2, 9)
      .map((p) => `${p.x.toFixed(1)},${p.y.toFixed(1)}`)
      .join(' ');
  };
  const colour = () => busyColour(props.edge.busy);
  return (
    <g
      class="mesh-link"
      data-testid="mesh-link"
      data-from={props.edge.from}
      data-to={props.edge.to}
      data-mbps={props.edge.mbps}
      data-share={props.edge.share}
      data-busy={props.edge.busy}
      data-between={props.edge.between ?? ''}
    >
      <title>
        {`${props.names(props.edge.from)} → ${props.names(props.edge.to)}${betweenText(props.edge)}: ${props.edge.mbps.toFixed(2)} Mbit/s measured, ${pct(props.edge.share)} of the gradient, ${pct(props.edge.busy)} busy`}
      </title>
      <line
        x1={g().x1}
        y1={g().y1}
        x2={g().x2}
        y2={g().y2}
        stroke={colour()}
        stroke-width={1.5 + 3.5 * props.edge.share}
        stroke-linecap="round"
        stroke-dasharray={props.edge.between === 'inter' ? '8 5' : undefined}
      />
      <polygon points={head()} fill={colour()} />
      <Show when={props.label}>
        <text
          class="link-label"
          x={g().label.x}
          y={g().label.y}
          transform={`rotate(${g().angle.toFixed(1)} ${g().label.x.toFixed(1)} ${g().label.y.toFixed(1)})`}
          text-anchor="middle"
          dominant-baseline="middle"
        >
          {`${props.edge.mbps.toFixed(1)} Mb/s · ${pct(props.edge.share)}`}
        </text>
      </Show>
    </g>
  );
}

export function MeshGraphView(props: {
  readonly graph: MeshGraph;
  readonly colours: Readonly<Record<string, number>>;
}) {
  let box: HTMLDivElement | undefined;
  // The drawing is as many units wide as the box is pixels, so its text keeps its size on a
  // phone instead of shrinking with the picture.
  const [width, setWidth] = createSignal(520);
  onMount(() => {
    const observer = new ResizeObserver(() => {
      if (box && box.clientWidth > 0) setWidth(box.clientWidth);
    });
    if (box) observer.observe(box);
    onCleanup(() => observer.disconnect());
  });
  const w = () => Math.max(300, width());
  const h = () => Math.round(Math.min(440, Math.max(300, w() * 0.72)));
  const centre = () => ({ x: w() / 2, y: h() / 2 });
  const positions = () =>
    circleLayout(
      props.graph.nodes.map((n) => n.id),
      w(),
      h(),
      NODE_R + 30,
    );
  const names = (id: string) => props.graph.nodes.find((n) => n.id === id)?.name ?? id;
  const labelled = () => props.graph.nodes.length <= LABELLED_PEERS;
  const at = (id: string): Point => positions().get(id) ?? centre();
  return (
    <figure class="mesh-figure">
      <div class="mesh-box" ref={box}>
        <svg
          data-testid="mesh-graph"
          viewBox={`0 0 ${w()} ${h()}`}
          width={w()}
          height={h()}
          role="img"
          aria-label={describeGraph(props.graph)}
          class="mesh-graph"
        >
          <For each={props.graph.edges}>
            {(edge) => (
              <Edge
                edge={edge}
                from={at(edge.from)}
                to={at(edge.to)}
                label={labelled()}
                names={names}
              />
            )}
          </For>
          <For each={props.graph.nodes}>
            {(node) => {
              const p = () => at(node.id);
              const nameAt = () => nameSpot(p(), centre(), NODE_R + 14);
              const colour = () => slotColour(props.colours[node.id]);
              return (
                <g class="mesh-node" data-testid="mesh-node" data-peer-id={node.id}>
                  <title>
                    {`${node.name}${node.self ? ' (this tab)' : ''}${node.site === undefined ? '' : ` at site ${node.site}`}: step ${node.step ?? '–'}${node.paused ? ', paused' : ''}`}
                  </title>
                  <Show when={node.self}>
                    <circle
                      cx={p().x}
                      cy={p().y}
                      r={NODE_R + 5}
                      fill="none"
                      stroke="#1d2330"
                      stroke-width={1.5}
                    />
                  </Show>
                  <circle
                    cx={p().x}
                    cy={p().y}
                    r={NODE_R}
                    fill="#fff"
                    stroke={colour()}
                    stroke-width={5}
                    stroke-dasharray={node.paused ? '6 4' : undefined}
                  />
                  <text
                    class="node-step"
                    x={p().x}
                    y={p().y}
                    text-anchor="middle"
                    dominant-baseline="central"
                  >
                    {node.step ?? '–'}
                  </text>
                  <text
                    class="node-name"
                    x={nameAt().x}
                    y={nameAt().y}
                    text-anchor="middle"
                    dominant-baseline="middle"
                  >
                    {(node.name.length > 16 ? `${node.name.slice(0, 15)}…` : node.name) +
                      (node.site === undefined ? '' : ` @${node.site}`) +
                      (node.self ? ' (you)' : '') +
                      (node.paused ? ' (paused)' : '')}
                  </text>
                </g>
              );
            }}
          </For>
        </svg>
      </div>
      <figcaption class="mesh-legend">
        <span class="legend-busy" aria-hidden="true">
          <span>idle</span>
          <span class="busy-scale" style={{ background: BUSY_GRADIENT }} />
          <span>saturated</span>
        </span>
        <span class="note">
          Arrow colour: bytes sent per second ÷ measured bandwidth. Width and %: share of the
          gradient sent on the link. Dashed: a link between two sites. In a node: its step.
        </span>
      </figcaption>
      <ul class="sr-only">
        <For each={props.graph.edges}>
          {(edge) => (
            <li>
              {`${names(edge.from)} to ${names(edge.to)}${betweenText(edge)}: ${edge.mbps.toFixed(1)} Mbit/s, carries ${pct(edge.share)} of the gradient, ${pct(edge.busy)} busy`}
            </li>
          )}
        </For>
      </ul>
    </figure>
  );
}
