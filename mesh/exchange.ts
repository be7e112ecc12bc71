/**
 * What a peer sends after each step, per strategy (DESIGN.md 3.2 and 3.6): DLion's per-link
 * prioritized residuals, dense updates (bsp, hop, dlion-no-prio), Ako's partitions of the
 * sliding sum and Gaia's significant entries. Every payload is in units of the sender's mean
 * gradient (weight 1): the receiver scales what arrives from a peer by the weight that its own
 * batch assignment gives that peer (DESIGN.md 10), never by one the sender claims.
 */

import {
  type AkoState,
  accumulate,
  akoPartitionCount,
  akoSetPartitionCount,
  akoStep,
  createAkoState,
  createGaiaState,
  createLinkResidual,
  createTopKScratch,
  denseUpdateBytes,
  type Exchange,
  encodeUpdate,
  type GaiaState,
  gaiaAccumulate,
  gaiaSelect,
  gaiaThreshold,
  type LinkResidual,
  type PeerId,
  planSend,
  type TopKScratch,
  type UpdateMeta,
  type ValueType,
} from '../core';

/**
 * Ako's largest partition count. Partitions are balanced flat ranges (core partitionLayers cuts
 * inside layers), so p is not limited by the layer count: capped by the layer count, p could
 * not honour Ako's bandwidth bound on a model whose first layer is most of it (the MLP), and
 * every send to a slow link would be a quarter of the dense gradient. 256 partitions shrink
 * the MLP's 400 kB to about 1.6 kB per send; each entry is then refreshed every 256 steps.
 */
export const AKO_MAX_PARTITIONS = 256;

/** One outgoing link as the exchange sees it. */
export interface ExchangeLink {
  readonly id: PeerId;
  /** The previous message has left the link's queue. */
  readonly drained: boolean;
  /** Byte budget of this send (estimate x step time x probe gain). */
  readonly budgetBytes: number;
  /** The link's measured bandwidth, bytes/s (Ako sizes its partitions from the slowest). */
  readonly bandwidthBytesPerSec: number;
}

/** One message to one link; `undefined` message: nothing to send (a heartbeat goes instead). */
export interface OutgoingUpdate {
  readonly to: PeerId;
  readonly message: Uint8Array | undefined;
  /** Sent less than the budget allowed because there was no more to send. */
  readonly appLimited: boolean;
}

/** Per-link accounting for the status: gradient mass added and sent (L1). */
export interface LinkMass {
  addedL1: number;
  sentL1: number;
}

export interface ExchangeState {
  readonly exchange: Exchange;
  readonly paramCount: number;
  readonly valueType: ValueType;
  readonly layerSizes: readonly number[];
  readonly learningRate: number;
  readonly residuals: Map<PeerId, LinkResidual>;
  readonly mass: Map<PeerId, LinkMass>;
  readonly scratch: TopKScratch;
  ako: AkoState | undefined;
  gaia: GaiaState | undefined;
}

export function createExchangeState(o: {
  exchange: Exchange;
  paramCount: number;
  valueType: ValueType;
  layerSizes: readonly number[];
  learningRate: number;
}): ExchangeState {
  return {
    ...o,
    residuals: new Map(),
    mass: new Map(),
    scratch: createTopKScratch(),
    ako: o.exchange === 'ako' ? createAkoState(o.layerSizes, 1) : undefined,
    gaia: o.exchange === 'gaia' ? createGaiaState(o.paramCount) : undefined,
  };
}

/** Forgets a link's residual (the peer left; what it had not received is moot for it). */
export function dropLink(state: ExchangeState, id: PeerId): void {
  state.residuals.delete(id);
  state.mass.delete(id);
}

/** Share of the gradient mass that has gone out on the link to `id`, in [0, 1]. */
export function sentFraction(state: ExchangeState, id: PeerId): number {
  const m = state.mass.get(id);
  if (m === undefined || !(m.addedL1 > 0)) return 0;
  return Math.min(1, Math.max(0, m.sentL1 / m.addedL1));
}

const l1 = (v: Float32Array): number => {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += Math.abs(v[i]!);
  return s;
};

function massOf(state: ExchangeState, id: PeerId): LinkMass {
  let m = state.mass.get(id);
  if (m === undefined) {
    m = { addedL1: 0, sentL1: 0 };
    state.mass.set(id, m);
  }
  return m;
}

/**
 * Builds this step's messages. `gradient` is the mean gradient and goes out unscaled;
 * `meta.weight`, our batch share, only informs the receivers (and scales Gaia's significance
 * test); `params` is needed by Gaia only; `stepMs` sizes Ako's partitions.
 * Returns an Error (nothing sent, no state changed) for non-finite input.
 */
export function buildUpdates(
  state: ExchangeState,
  gradient: Float32Array,
  meta: UpdateMeta,
  links: readonly ExchangeLink[],
  extra: { readonly params?: Float32Array; readonly stepMs: number; readonly step: number },
): OutgoingUpdate[] | Error {
  const w = meta.weight > 0 ? meta.weight : 1;
  const addedMass = l1(gradient);
  if (!Number.isFinite(addedMass)) return new Error('non-finite gradient');
  switch (state.exchange) {
    case 'prioritized': {
      const out: OutgoingUpdate[] = [];
      for (const link of links) {
        let r = state.residuals.get(link.id);
        if (r === undefined) {
          r = createLinkResidual(state.paramCount);
          state.residuals.set(link.id, r);
        }
        const added = accumulate(r, gradient, 1);
        if (!added.ok) return added.error;
        const m = massOf(state, link.id);
        m.addedL1 += addedMass;
        const sentBefore = r.sentL1;
        const plan = planSend(
          r,
          { budgetBytes: link.budgetBytes, valueType: state.valueType, drained: link.drained },
          state.scratch,
        );
        m.sentL1 += r.sentL1 - sentBefore;
        if (plan.kind === 'skip') {
          out.push({ to: link.id, message: undefined, appLimited: true });
          continue;
        }
        const message =
          plan.kind === 'dense'
            ? encodeUpdate(meta, { encoding: 'dense', values: plan.values })
            : encodeUpdate(meta, {
                encoding: 'sparse',
                indices: plan.indices,
                values: plan.values,
              });
        out.push({
          to: link.id,
          message,
          appLimited: plan.kind === 'dense' || message.length < link.budgetBytes * 0.9,
        });
      }
      return out;
    }
    case 'dense': {
      const message = encodeUpdate(meta, { encoding: 'dense', values: gradient });
      return links.map((link) => {
        const m = massOf(state, link.id);
        m.addedL1 += addedMass;
        m.sentL1 += addedMass;
        return { to: link.id, message, appLimited: true };
      });
    }
    case 'ako': {
      const ako = state.ako!;
      // p from the slowest link: (N - 1) S / p must fit BW x T (DESIGN.md 3.6).
      let slowest = Number.POSITIVE_INFINITY;
      for (const l of links) slowest = Math.min(slowest, l.bandwidthBytesPerSec);
      const p = akoPartitionCount({
        peers: links.length + 1,
        denseBytes: denseUpdateBytes(state.paramCount, state.valueType),
        bandwidthBytesPerSec: Number.isFinite(slowest) ? slowest * Math.max(1, links.length) : 0,
        stepTimeMs: extra.stepMs,
        maxP: Math.max(1, Math.min(state.paramCount, AKO_MAX_PARTITIONS)),
      });
      akoSetPartitionCount(ako, p);
      const sent = akoStep(ako, gradient, 1, extra.step);
      if (!sent.ok) return sent.error;
      const s = sent.value;
      const message = encodeUpdate(meta, { encoding: 'range', start: s.start, values: s.values });
      const sentMass = l1(s.values);
      return links.map((link) => {
        const m = massOf(state, link.id);
        m.addedL1 += addedMass;
        m.sentL1 += sentMass;
        return { to: link.id, message, appLimited: true };
      });
    }
    case 'gaia': {
      const gaia = state.gaia!;
      const params = extra.params;
      if (params === undefined) return new Error('gaia needs the parameters');
      const lr = state.learningRate;
      const added = gaiaAccumulate(gaia, gradient, w, lr);
      if (!added.ok) return added.error;
      const picked = gaiaSelect(gaia, params, gaiaThreshold(lr, lr));
      if (!picked.ok) return picked.error;
      const g = picked.value;
      // Gaia's accumulator holds the parameter changes this peer makes (-lr w g), which its
      // significance test needs; receivers weigh gradients themselves and apply them through
      // the shared optimizer, so the entries go out as -change / (lr w).
      const toGradient = (v: Float32Array) => {
        const out = new Float32Array(v.length);
        for (let i = 0; i < v.length; i++) out[i] = -v[i]! / (lr * w);
        return out;
      };
      let message: Uint8Array | undefined;
      let sentMass = 0;
      if (g.kind === 'dense') {
        const values = toGradient(g.values);
        sentMass = l1(values);
        message = encodeUpdate(meta, { encoding: 'dense', values });
      } else if (g.kind === 'sparse') {
        const values = toGradient(g.values);
        sentMass = l1(values);
        message = encodeUpdate(meta, { encoding: 'sparse', indices: g.indices, values });
      }
      return links.map((link) => {
        const m = massOf(state, link.id);
        m.addedL1 += addedMass;
        m.sentL1 += sentMass;
        return { to: link.id, message, appLimited: true };
      });
    }
  }
}
