/**
 * Frames: cutting a message into data-channel frames of at most 64 KiB, acknowledging it, and
 * reassembling it on the other side. The byte layout is specified at the top of codec.ts.
 * The reassembler is a plain state object; time comes in as an argument (core has no clock).
 * It also times each message from its first chunk to its last: the ack carries that span back
 * to the sender, whose bandwidth estimator divides the bytes after the first chunk by it
 * (`dispersionSpanMs` says how a burst of chunks handled together is taken out of the span).
 */

import { CodecError } from '../errors';
import { err, ok, type Result } from '../result';
import { checksum } from './checksum';
import { FRAME_HEADER_BYTES, MAX_CHUNK_BYTES, MAX_FRAME_BYTES, MIN_CHUNK_BYTES } from './sizes';

const MAGIC0 = 0x44;
const MAGIC1 = 0x4c;
const FRAME_VERSION = 2;
const KIND_CHUNK = 1;
const KIND_ACK = 2;
export const ACK_FRAME_BYTES = 24;
/** The longest span an ack can carry, ms (u32 microseconds). */
const MAX_SPAN_MS = 0xffff_ffff / 1000;

export interface ChunkFrame {
  readonly kind: 'chunk';
  readonly msgId: number;
  readonly seq: number;
  readonly count: number;
  readonly messageBytes: number;
  /** Payload bytes of every chunk of this message but the last (the sender's choice). */
  readonly chunkBytes: number;
  /** A view into the frame's bytes. */
  readonly payload: Uint8Array;
}

export interface AckFrame {
  readonly kind: 'ack';
  readonly msgId: number;
  readonly messageBytes: number;
  /** 'refused': the message arrived whole but failed to decode (counted by the receiver). */
  readonly status: 'accepted' | 'refused';
  /**
   * Receiver time from the message's first chunk to its last, ms (microsecond resolution;
   * 0 for a one-chunk message).
   */
  readonly spanMs: number;
}

export type Frame = ChunkFrame | AckFrame;

/** Number of frames a message of `messageBytes` needs in chunks of `chunkBytes`. */
export const chunkCount = (messageBytes: number, chunkBytes: number = MAX_CHUNK_BYTES): number =>
  Math.max(1, Math.ceil(messageBytes / chunkBytes));

/** Whether `n` is a chunk size a sender may use (MIN_CHUNK_BYTES to MAX_CHUNK_BYTES). */
const isChunkSize = (n: number): boolean =>
  Number.isInteger(n) && n >= MIN_CHUNK_BYTES && n <= MAX_CHUNK_BYTES;

function writeFrameStart(view: DataView, kind: number): void {
  view.setUint8(0, MAGIC0);
  view.setUint8(1, MAGIC1);
  view.setUint8(2, FRAME_VERSION);
  view.setUint8(3, kind);
}

/**
 * Cuts `message` into frames ready for `channel.send`, in chunks of `chunkBytes` (the largest
 * that fits a 64 KiB frame by default; at least MIN_CHUNK_BYTES).
 * @example for (const frame of chunkMessage(nextId++, encodeUpdate(meta, payload))) channel.send(frame);
 */
export function chunkMessage(
  msgId: number,
  message: Uint8Array,
  chunkBytes: number = MAX_CHUNK_BYTES,
): Uint8Array[] {
  if (!(Number.isInteger(msgId) && msgId >= 0 && msgId <= 0xffff_ffff)) {
    throw new CodecError('bad-field', 'msgId must be a u32');
  }
  if (!isChunkSize(chunkBytes)) {
    throw new CodecError('bad-field', `chunk size ${chunkBytes} is outside [1 KiB, 64 KiB)`);
  }
  if (message.length > 0xffff_ffff) throw new CodecError('too-large', 'message exceeds 4 GiB');
  const count = chunkCount(message.length, chunkBytes);
  const frames: Uint8Array[] = [];
  for (let seq = 0; seq < count; seq++) {
    const from = seq * chunkBytes;
    const to = Math.min(message.length, from + chunkBytes);
    const frame = new Uint8Array(FRAME_HEADER_BYTES + (to - from));
    const view = new DataView(frame.buffer);
    writeFrameStart(view, KIND_CHUNK);
    view.setUint32(4, msgId, true);
    view.setUint32(8, seq, true);
    view.setUint32(12, count, true);
    view.setUint32(16, message.length, true);
    view.setUint32(20, chunkBytes, true);
    view.setUint32(24, checksum(frame, 0, 24), true);
    frame.set(message.subarray(from, to), FRAME_HEADER_BYTES);
    frames.push(frame);
  }
  return frames;
}

/**
 * The acknowledgement a receiver sends for every reassembled message, with the time from its
 * first chunk to its last (`spanMs`, clamped to what the field holds).
 */
export function encodeAck(
  msgId: number,
  messageBytes: number,
  status: AckFrame['status'] = 'accepted',
  spanMs = 0,
): Uint8Array {
  const frame = new Uint8Array(ACK_FRAME_BYTES);
  const view = new DataView(frame.buffer);
  writeFrameStart(view, KIND_ACK);
  view.setUint32(4, msgId >>> 0, true);
  view.setUint32(8, messageBytes >>> 0, true);
  view.setUint32(12, status === 'accepted' ? 0 : 1, true);
  const span = Number.isFinite(spanMs) ? Math.min(MAX_SPAN_MS, Math.max(0, spanMs)) : 0;
  view.setUint32(16, Math.round(span * 1000), true);
  view.setUint32(20, checksum(frame, 0, 20), true);
  return frame;
}

/** Parses one frame as it came off the data channel. Never throws. */
export function decodeFrame(bytes: Uint8Array): Result<Frame, CodecError> {
  const bad = (code: CodecError['code'], message: string) => err(new CodecError(code, message));
  if (bytes.length < 4) return bad('truncated', `frame of ${bytes.length} bytes`);
  if (bytes.length > MAX_FRAME_BYTES)
    return bad('too-large', `frame of ${bytes.length} bytes exceeds 64 KiB`);
  if (bytes[0] !== MAGIC0 || bytes[1] !== MAGIC1) return bad('bad-magic', 'not a DLion frame');
  if (bytes[2] !== FRAME_VERSION)
    return bad('bad-version', `frame version ${bytes[2]} is not ${FRAME_VERSION}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const kind = bytes[3];
  if (kind === KIND_ACK) {
    if (bytes.length < ACK_FRAME_BYTES) return bad('truncated', 'ack frame is incomplete');
    if (bytes.length > ACK_FRAME_BYTES) return bad('extended', 'ack frame has trailing bytes');
    if (view.getUint32(20, true) !== checksum(bytes, 0, 20))
      return bad('checksum', 'ack checksum mismatch');
    const status = view.getUint32(12, true);
    if (status > 1) return bad('bad-field', `ack status ${status}`);
    return ok({
      kind: 'ack',
      msgId: view.getUint32(4, true),
      messageBytes: view.getUint32(8, true),
      status: status === 0 ? 'accepted' : 'refused',
      spanMs: view.getUint32(16, true) / 1000,
    });
  }
  if (kind !== KIND_CHUNK) return bad('bad-kind', `unknown frame kind ${kind}`);
  if (bytes.length < FRAME_HEADER_BYTES) return bad('truncated', 'chunk header is incomplete');
  if (view.getUint32(24, true) !== checksum(bytes, 0, 24))
    return bad('checksum', 'frame header checksum mismatch');
  const msgId = view.getUint32(4, true);
  const seq = view.getUint32(8, true);
  const count = view.getUint32(12, true);
  const messageBytes = view.getUint32(16, true);
  const chunkBytes = view.getUint32(20, true);
  if (!isChunkSize(chunkBytes)) return bad('bad-field', `chunk size ${chunkBytes}`);
  if (count !== chunkCount(messageBytes, chunkBytes))
    return bad('bad-field', `count ${count} for ${messageBytes} bytes`);
  if (seq >= count) return bad('bad-field', `seq ${seq} of ${count}`);
  const expected = Math.min(chunkBytes, messageBytes - seq * chunkBytes);
  const got = bytes.length - FRAME_HEADER_BYTES;
  if (got < expected) return bad('truncated', `chunk ${seq} carries ${got} of ${expected} bytes`);
  if (got > expected)
    return bad('extended', `chunk ${seq} carries ${got} bytes, expected ${expected}`);
  return ok({
    kind: 'chunk',
    msgId,
    seq,
    count,
    messageBytes,
    chunkBytes,
    payload: bytes.subarray(FRAME_HEADER_BYTES),
  });
}

/** A whole message and the time from its first chunk to its last at the receiver. */
export interface Reassembled {
  readonly bytes: Uint8Array;
  readonly spanMs: number;
}

/**
 * A partial message: the chunks received so far, held as they came (views of their frames),
 * so that memory follows the bytes a sender actually sent, never the total it claims. The
 * message is put together once its last chunk is in.
 */
interface Pending {
  readonly messageBytes: number;
  readonly chunkBytes: number;
  readonly chunks: Map<number, Uint8Array>;
  /** Payload bytes held. */
  held: number;
  /** When each chunk was handled, and its bytes on the wire, in the order they came. */
  readonly times: number[];
  readonly sizes: number[];
}

export interface ReassemblerOptions {
  /** Largest message accepted (default 64 MiB: a 16M-parameter vector). */
  readonly maxMessageBytes?: number;
  /** Partial messages kept at once; the oldest is dropped beyond it (default 16). */
  readonly maxPending?: number;
  /**
   * Bytes all partial messages may hold together; the oldest are dropped to make room (default
   * 2 x maxMessageBytes, never less than maxMessageBytes). Partial messages hold only the
   * chunks received: a one-byte last chunk that announces 64 MiB costs its byte, not 64 MiB.
   */
  readonly maxPendingBytes?: number;
}

/** Reassembly state for one link. */
export interface Reassembler {
  readonly maxMessageBytes: number;
  readonly maxPending: number;
  readonly maxPendingBytes: number;
  readonly pending: Map<number, Pending>;
  /** Payload bytes the partial messages in `pending` hold. */
  pendingBytes: number;
  /** Partial messages dropped (evicted or timed out), for the link's counters. */
  dropped: number;
}

export function createReassembler(opts: ReassemblerOptions = {}): Reassembler {
  const maxMessageBytes = opts.maxMessageBytes ?? 64 * 1024 * 1024;
  return {
    maxMessageBytes,
    maxPending: opts.maxPending ?? 16,
    maxPendingBytes: Math.max(maxMessageBytes, opts.maxPendingBytes ?? 2 * maxMessageBytes),
    pending: new Map(),
    pendingBytes: 0,
    dropped: 0,
  };
}

function dropPending(r: Reassembler, msgId: number): void {
  const entry = r.pending.get(msgId);
  if (entry === undefined) return;
  r.pending.delete(msgId);
  r.pendingBytes -= entry.held;
}

/**
 * Adds one chunk. Returns the whole message once its last chunk arrives, undefined while it is
 * incomplete, or an error for a chunk that contradicts the ones before it (the partial message
 * is then dropped: its other chunks will be refused or time out). The chunk's payload is kept
 * as a view until its message is whole: the caller hands over the frame's buffer (every
 * transport delivers each message in a buffer of its own).
 */
export function pushChunk(
  r: Reassembler,
  chunk: ChunkFrame,
  nowMs: number,
): Result<Reassembled | undefined, CodecError> {
  if (chunk.messageBytes > r.maxMessageBytes) {
    return err(
      new CodecError(
        'too-large',
        `message of ${chunk.messageBytes} bytes exceeds ${r.maxMessageBytes}`,
      ),
    );
  }
  if (chunk.count === 1) {
    // The common small message: no copy, no bookkeeping. Copied into its own buffer only when
    // the view is misaligned (decoders need 4-byte alignment for typed views).
    const p = chunk.payload;
    return ok({ bytes: (p.byteOffset & 3) === 0 ? p : p.slice(), spanMs: 0 });
  }
  let entry = r.pending.get(chunk.msgId);
  if (
    entry &&
    (entry.messageBytes !== chunk.messageBytes || entry.chunkBytes !== chunk.chunkBytes)
  ) {
    dropPending(r, chunk.msgId);
    r.dropped++;
    return err(
      new CodecError('bad-field', `chunk of message ${chunk.msgId} disagrees on its length`),
    );
  }
  if (entry?.chunks.has(chunk.seq)) {
    return err(
      new CodecError(
        'duplicate-chunk',
        `chunk ${chunk.seq} of message ${chunk.msgId} arrived twice`,
      ),
    );
  }
  const size = chunk.payload.length;
  // Room for this chunk: the oldest other partial messages go first.
  while (
    r.pending.size > 0 &&
    ((!entry && r.pending.size >= r.maxPending) || r.pendingBytes + size > r.maxPendingBytes)
  ) {
    // Maps iterate in insertion order: the first key is the oldest partial message.
    const oldest = r.pending.keys().next().value as number;
    if (oldest === chunk.msgId) break;
    dropPending(r, oldest);
    r.dropped++;
  }
  if (!entry) {
    entry = {
      messageBytes: chunk.messageBytes,
      chunkBytes: chunk.chunkBytes,
      chunks: new Map(),
      held: 0,
      times: [],
      sizes: [],
    };
    r.pending.set(chunk.msgId, entry);
  }
  entry.chunks.set(chunk.seq, chunk.payload);
  entry.held += size;
  entry.times.push(nowMs);
  entry.sizes.push(size + FRAME_HEADER_BYTES);
  r.pendingBytes += size;
  if (entry.chunks.size < chunk.count) return ok(undefined);
  dropPending(r, chunk.msgId);
  const bytes = new Uint8Array(entry.messageBytes);
  for (const [seq, payload] of entry.chunks) bytes.set(payload, seq * entry.chunkBytes);
  return ok({ bytes, spanMs: dispersionSpanMs(entry.times, entry.sizes) });
}

/**
 * The span a receiver reports for one message, from when each of its chunks was handled
 * (`times`, in arrival order) and their sizes on the wire. The sender divides the bytes after
 * the first chunk by it (core/bandwidth-estimator.ts).
 *
 * A receiver that is busy when a message's chunks arrive handles the chunks that queued
 * meanwhile in one burst. At the start of a message that is common (the receiver is still
 * decoding and applying the message before, which ended a moment ago): counted from the first
 * chunk of the burst, its bytes seem to have crossed in no time, and the rate read 40% over a
 * 4 Mbit/s cap between busy tabs. At the end, a burst stretches the span and the rate reads
 * low. So a burst at either end (chunks each handled within a quarter of the mean gap of the
 * one before) is taken out: the rate is the bytes after the leading burst, up to the chunk
 * before the trailing one, over the time between the two, and the span reported is the one
 * that gives that rate for the bytes the sender counts. Chunks that a paced sender hands over
 * in groups (a timer that fires every few ms) are cut the same way, without bias. A message
 * whose chunks arrive evenly spaced keeps its plain span.
 */
export function dispersionSpanMs(times: readonly number[], sizes: readonly number[]): number {
  const n = times.length;
  if (n < 2) return 0;
  const span = Math.max(0, times[n - 1]! - times[0]!);
  const burstGapMs = (0.25 * span) / (n - 1);
  const inBurst = (i: number) => times[i + 1]! - times[i]! <= burstGapMs;
  // first: the last chunk of the leading burst; last: the chunk before the trailing burst.
  let first = 0;
  while (first < n - 1 && inBurst(first)) first++;
  let last = n - 1;
  if (inBurst(n - 2)) {
    last = n - 2;
    while (last > first && inBurst(last - 1)) last--;
    last--;
  }
  if (first === 0 && last === n - 1) return span;
  if (last <= first) return span;
  let trailing = 0;
  let counted = 0;
  for (let i = 1; i < n; i++) {
    trailing += sizes[i]!;
    if (i > first && i <= last) counted += sizes[i]!;
  }
  const between = times[last]! - times[first]!;
  return counted > 0 && between > 0 ? (between * trailing) / counted : span;
}

/** Drops partial messages older than `timeoutMs`; returns how many. */
export function expirePending(r: Reassembler, nowMs: number, timeoutMs: number): number {
  let n = 0;
  for (const [id, entry] of r.pending) {
    if (nowMs - entry.times[0]! > timeoutMs) {
      dropPending(r, id);
      n++;
    }
  }
  r.dropped += n;
  return n;
}
