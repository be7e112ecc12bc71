/**
 * Byte sizes of wire messages, without encoding anything: what the prioritizer and the
 * baselines use to turn a byte budget into a number of entries. The layouts are specified at
 * the top of codec.ts; these functions must agree with them (codec.test.ts checks it).
 */

/** Largest data-channel frame we send. 64 KiB is safe on every browser's SCTP stack. */
export const MAX_FRAME_BYTES = 65_536;
/** Fixed header of a chunk frame (see codec.ts). */
export const FRAME_HEADER_BYTES = 28;
/** Payload bytes a chunk frame can carry. */
export const MAX_CHUNK_BYTES = MAX_FRAME_BYTES - FRAME_HEADER_BYTES;
/**
 * The smallest chunk a sender may cut a message into (the last chunk of a message may be
 * shorter). Senders cut slow links' messages finer so that a message spans several frames,
 * whose spacing at the receiver is what the bandwidth estimator measures (see
 * bandwidth-estimator.ts); below 1 KiB the frame headers would cost more than 3%.
 */
export const MIN_CHUNK_BYTES = 1024;
/** Fixed header of every message (type, version, length, checksum). */
export const MESSAGE_HEADER_BYTES = 12;
/** A control message's JSON text, at most this many UTF-8 bytes: checked before decoding. */
export const MAX_CONTROL_TEXT_BYTES = 16 * 1024;
/** Fixed header of a control message, including the message header. */
export const CONTROL_HEADER_BYTES = 16;
/** The largest probe a receiver accepts (a probe is a few hundred ms of a fast link). */
export const MAX_PROBE_BYTES = 4 * 1024 * 1024;
/** The smallest probe: its message header. */
export const MIN_PROBE_BYTES = 12;
/** Fixed header of an update message, including the message header. */
export const UPDATE_HEADER_BYTES = 48;
/** Fixed header of a parameter message, including the message header. */
export const PARAMS_HEADER_BYTES = 32;

export type ValueType = 'f32' | 'f16';
export type UpdateEncoding = 'dense' | 'sparse-varint' | 'sparse-bitmap' | 'range';

export const valueBytes = (valueType: ValueType): number => (valueType === 'f32' ? 4 : 2);
/**
 * `n` rounded up to a multiple of 4. Not `(n + 3) & ~3`: bit operators work on int32, so that
 * wraps for n >= 2^31 - 3, and decoders call this with u32 lengths read from the wire.
 */
export const pad4 = (n: number): number => n + (-n & 3);

/** Bytes of an unsigned LEB128 varint holding `v` (v >= 0, v < 2^32). */
export function varintBytes(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  return 5;
}

/** Exact size of a dense update of P values. */
export const denseUpdateBytes = (paramCount: number, valueType: ValueType): number =>
  UPDATE_HEADER_BYTES + pad4(paramCount * valueBytes(valueType));

/** Exact size of a bitmap-coded sparse update with k entries out of P. */
export const bitmapUpdateBytes = (paramCount: number, k: number, valueType: ValueType): number =>
  UPDATE_HEADER_BYTES + pad4(Math.ceil(paramCount / 8)) + pad4(k * valueBytes(valueType));

/**
 * The largest message a peer of a P-parameter model ever needs to receive, by type: an update
 * (at most a bitmap-coded one with every entry, as encoders code varint only when it is not
 * larger, and dense and range are smaller still), a parameter vector, a probe, a control text.
 * A link refuses any longer message at its first chunk, so a peer that announces more can make
 * the receiver hold at most this per partial message (frames.ts allocates as chunks arrive).
 */
export const maxMessageBytes = (paramCount: number): number =>
  Math.max(
    bitmapUpdateBytes(paramCount, paramCount, 'f32'),
    PARAMS_HEADER_BYTES + 4 * paramCount,
    MAX_PROBE_BYTES,
    CONTROL_HEADER_BYTES + pad4(MAX_CONTROL_TEXT_BYTES),
  );

/** Exact size of a contiguous-range update of n values. */
export const rangeUpdateBytes = (n: number, valueType: ValueType): number =>
  UPDATE_HEADER_BYTES + 4 + pad4(n * valueBytes(valueType));

/**
 * Size of a varint-coded sparse update with k entries spread over P, before the indices are
 * known: an upper bound, so a message sized by it always fits. The k gaps sum to at most
 * P - k, and a gap takes one byte plus one per power of 2^7 it reaches, so at most
 * floor((P - k) / 2^(7j)) of them (and at most k) reach 2^(7j). Not k x varintBytes(P / k):
 * evenly spread indices are not the worst case (a few gaps of 128 among gaps of 0 cost more),
 * and real top-k indices cluster; that figure ran 5-7% over the budget on random indices.
 */
export function varintUpdateBytesEstimate(
  paramCount: number,
  k: number,
  valueType: ValueType,
): number {
  if (k <= 0) return UPDATE_HEADER_BYTES;
  const spread = Math.max(0, paramCount - k);
  let indexBytes = k;
  for (let reach = 0x80; reach <= 0x1000_0000; reach *= 0x80) {
    indexBytes += Math.min(k, Math.floor(spread / reach));
  }
  return UPDATE_HEADER_BYTES + pad4(indexBytes) + pad4(k * valueBytes(valueType));
}

/** The smaller of the two sparse codings for k of P entries (estimate for varint). */
export const sparseUpdateBytesEstimate = (
  paramCount: number,
  k: number,
  valueType: ValueType,
): number =>
  Math.min(
    varintUpdateBytesEstimate(paramCount, k, valueType),
    bitmapUpdateBytes(paramCount, k, valueType),
  );

/**
 * Bytes on the data channel for a message of `messageBytes` cut into chunks of `chunkBytes`
 * (the largest by default): the message plus frame headers.
 */
export const wireBytes = (messageBytes: number, chunkBytes: number = MAX_CHUNK_BYTES): number =>
  messageBytes + FRAME_HEADER_BYTES * Math.max(1, Math.ceil(messageBytes / chunkBytes));

export type EntryBudget =
  | { readonly kind: 'dense' }
  | { readonly kind: 'sparse'; readonly k: number }
  | { readonly kind: 'none' };

/** Largest k in [lo, hi] with fits(k), for a predicate that is monotone on that interval; 0 if none. */
function largestFitting(lo: number, hi: number, fits: (k: number) => boolean): number {
  if (lo > hi || !fits(lo)) return 0;
  while (lo < hi) {
    const mid = lo + Math.ceil((hi - lo) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Largest delta a varint of v bytes holds. */
const VARINT_MAX = [0, 0x7f, 0x3fff, 0x1fffff, 0xfffffff, Number.POSITIVE_INFINITY];

/**
 * How many entries of a P-vector fit in `budgetBytes` of wire bytes (frame headers included).
 * Dense when the whole vector fits (sparse would then never be smaller for k = P); otherwise
 * the largest k whose sparse message fits; 'none' when not even one entry fits.
 */
export function entriesForBudget(
  paramCount: number,
  budgetBytes: number,
  valueType: ValueType,
): EntryBudget {
  if (!(budgetBytes > 0) || paramCount <= 0) return { kind: 'none' };
  if (wireBytes(denseUpdateBytes(paramCount, valueType)) <= budgetBytes) return { kind: 'dense' };
  const within = (bytes: number) => wireBytes(bytes) <= budgetBytes;
  // Bitmap size grows with k: one search over [1, P].
  let best = largestFitting(1, paramCount, (k) =>
    within(bitmapUpdateBytes(paramCount, k, valueType)),
  );
  // The varint bound is not monotone in k everywhere (per-index bytes drop as indices get
  // denser): search each range of k between the points where they drop. largestFitting only
  // returns a k it has seen fit, so the result fits even where a range is not quite monotone.
  let high = paramCount;
  for (let v = 1; v <= 5 && high >= 1; v++) {
    const low = Math.max(1, Math.ceil(paramCount / (VARINT_MAX[v] as number)));
    const k = largestFitting(low, high, (n) =>
      within(varintUpdateBytesEstimate(paramCount, n, valueType)),
    );
    if (k > best) best = k;
    high = low - 1;
  }
  if (best === 0) return { kind: 'none' };
  // Where sparse is as large as dense would be, dense carries more for the same bytes.
  if (
    sparseUpdateBytesEstimate(paramCount, best, valueType) >=
    denseUpdateBytes(paramCount, valueType)
  ) {
    return { kind: 'dense' };
  }
  return { kind: 'sparse', k: best };
}
