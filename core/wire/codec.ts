/**
 * Wire codec: the bytes that cross a data channel. Updates (dense, sparse, range), parameter
 * transfers for knowledge transfer, and control text are encoded as one *message*; a message is
 * cut into *frames* of at most 64 KiB (frames.ts) and reassembled on the other side. Decoders
 * take bytes and return a Result; no exception but CodecError ever leaves this folder.
 *
 * Byte layout: frames version 2, messages version 1. All integers little-endian; floats
 * IEEE 754 little-endian.
 *
 * FRAME (one data-channel message, at most MAX_FRAME_BYTES = 65 536 bytes)
 *   off size field
 *   0   1    magic 0x44 ('D')
 *   1   1    magic 0x4C ('L')
 *   2   1    version = 2
 *   3   1    kind: 1 = chunk, 2 = ack
 *   chunk (28-byte header, then payload):
 *   4   4    msgId (u32, chosen by the sender, per link)
 *   8   4    seq (u32), 0 <= seq < count
 *   12  4    count (u32) = max(1, ceil(messageBytes / chunkBytes))
 *   16  4    messageBytes (u32): length of the whole message
 *   20  4    chunkBytes C (u32), 1 024 <= C <= 65 508: the sender's chunk size for this message
 *   24  4    check: checksum (checksum.ts) of bytes [0, 24)
 *   28  n    message bytes [seq * C, seq * C + n), n = min(C, messageBytes - seq * C)
 *   ack (24 bytes): sent by the receiver for every reassembled message; the sender's bandwidth
 *   estimator turns acks into delivery-rate samples.
 *   4   4    msgId acknowledged
 *   8   4    messageBytes
 *   12  4    status: 0 = accepted, 1 = refused (reassembled but failed to decode)
 *   16  4    span (u32, microseconds): receiver time from the first chunk to the last
 *   20  4    check: checksum of bytes [0, 20)
 *
 * MESSAGE (the reassembled bytes; its length is a multiple of 4 and every pad byte is 0)
 *   0   1    type: 1 = update, 2 = params, 3 = control, 4 = probe
 *   1   1    version = 1
 *   2   2    reserved = 0
 *   4   4    byteLength: total length, must equal the buffer's
 *   8   4    checksum of bytes [0, 8) followed by [12, byteLength)
 *
 *   UPDATE (type 1): a gradient contribution, in units of the sender's mean gradient (the
 *   receiver weighs it by its own batch assignment; the header's weight only informs).
 *   12  4    step (u32)
 *   16  4    batchSize (u32)
 *   20  4    capacity (f32, samples/s, finite, >= 0)
 *   24  4    weight (f32, finite, 0 <= weight <= 1)
 *   28  4    paramCount P (u32, >= 1)
 *   32  4    entries n (u32): P for dense, k for sparse, run length for range
 *   36  1    encoding: 0 = dense, 1 = sparse varint, 2 = sparse bitmap, 3 = range
 *   37  1    valueType: 0 = f32, 1 = f16
 *   38  2    reserved = 0
 *   40  4    indexBytes: length of the index section
 *   44  4    reserved = 0
 *   48  indexBytes, then zero padding to a multiple of 4:
 *            dense:  nothing (indexBytes = 0)
 *            varint: n unsigned LEB128 gaps (at most 5 bytes, value < 2^32); the first is the
 *                    index itself, each next one is index - previous - 1, so indices strictly
 *                    ascend; every index < P
 *            bitmap: ceil(P / 8) bytes; bit (i & 7) of byte (i >> 3) set when index i is present;
 *                    bits at or past P are 0; exactly n bits set
 *            range:  start (u32); the indices are start .. start + n - 1, start + n <= P
 *   ..  n values, 4 bytes (f32) or 2 bytes (f16) each, then zero padding to a multiple of 4.
 *       Every value is finite.
 *
 *   PARAMS (type 2): a whole parameter vector, for direct knowledge transfer.
 *   12  4    step (u32)
 *   16  4    paramCount P (u32, >= 1)
 *   20  4    modelFingerprint (u32): refuses parameters of another architecture
 *   24  4    loss (f32, finite): the sender's validation loss
 *   28  4    reserved = 0
 *   32  4P   values (f32, finite)
 *
 *   CONTROL (type 3): one JSON control message (validated afterwards by protocol/ schemas).
 *   12  4    textBytes (u32)
 *   16  ..   UTF-8 text, then zero padding to a multiple of 4
 *
 *   PROBE (type 4): filler that a sender puts on an otherwise idle link so that its bandwidth
 *   estimator can see the link's rate; acknowledged like any message, then dropped.
 *   12  ..   zero bytes, at most MAX_PROBE_BYTES in all
 *
 * The checksum catches every single-bit flip and random corruption; a single-bit flip in a
 * frame header is refused at that frame, one in a payload when the message is decoded.
 */

import { CodecError } from '../errors';
import { err, ok, type Result } from '../result';
import { absorbWords, createChecksum, finishChecksum } from './checksum';
import { F16_MAX, f16ToF32Array, f32ToF16Array } from './fp16';
import {
  CONTROL_HEADER_BYTES,
  MAX_CONTROL_TEXT_BYTES,
  MAX_PROBE_BYTES,
  MIN_PROBE_BYTES,
  PARAMS_HEADER_BYTES,
  pad4,
  UPDATE_HEADER_BYTES,
  type UpdateEncoding,
  type ValueType,
  valueBytes,
  varintBytes,
} from './sizes';
import { utf8Decode, utf8Encode } from './utf8';

export const WIRE_VERSION = 1;
const TYPE_UPDATE = 1;
const TYPE_PARAMS = 2;
const TYPE_CONTROL = 3;
const TYPE_PROBE = 4;
const ENCODINGS: readonly UpdateEncoding[] = ['dense', 'sparse-varint', 'sparse-bitmap', 'range'];
const U32_MAX = 0xffff_ffff;

/** What travels with every update besides its values. */
export interface UpdateMeta {
  readonly step: number;
  readonly batchSize: number;
  readonly capacity: number;
  /** The sender's own batch share: informs; receivers weigh by their own assignment. */
  readonly weight: number;
  readonly paramCount: number;
  readonly valueType: ValueType;
}

/** The entries of an update; sparse indices strictly ascend. */
export type UpdatePayload =
  | { readonly encoding: 'dense'; readonly values: Float32Array }
  | { readonly encoding: 'sparse'; readonly indices: Uint32Array; readonly values: Float32Array }
  | { readonly encoding: 'range'; readonly start: number; readonly values: Float32Array };

export interface ParamsMessage {
  readonly type: 'params';
  readonly step: number;
  readonly modelFingerprint: number;
  readonly loss: number;
  readonly values: Float32Array;
}

export interface UpdateMessage {
  readonly type: 'update';
  readonly meta: UpdateMeta;
  readonly payload: UpdatePayload;
  /** How the update was coded on the wire (sparse payloads are varint or bitmap). */
  readonly wireEncoding: UpdateEncoding;
}

export interface ControlText {
  readonly type: 'control';
  readonly text: string;
}

/** Filler for the bandwidth estimator (type 4): only its length means anything. */
export interface ProbeMessage {
  readonly type: 'probe';
  readonly byteLength: number;
}

export type WireMessage = UpdateMessage | ParamsMessage | ControlText | ProbeMessage;

function fail(code: CodecError['code'], message: string): never {
  throw new CodecError(code, message);
}

const isU32 = (x: number): boolean => Number.isInteger(x) && x >= 0 && x <= U32_MAX;

// ---------------------------------------------------------------------------------------------
// Encoding. Encoders take our own data; they throw CodecError for values the format cannot carry
// (non-finite values, indices out of range, fp16 overflow), never anything else.

function writeMessageHeader(view: DataView, type: number, byteLength: number): void {
  view.setUint8(0, type);
  view.setUint8(1, WIRE_VERSION);
  view.setUint16(2, 0, true);
  view.setUint32(4, byteLength, true);
}

/**
 * Checksum of a message (bytes [0, 8) then [12, end)), checking on the way that the words in
 * [finiteFrom, finiteTo) are finite float32 values: one pass over a dense update, not two.
 */
function messageChecksum(
  bytes: Uint8Array,
  finiteFrom = 12,
  finiteTo = 12,
): { sum: number; finite: boolean } {
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2);
  const s = createChecksum();
  absorbWords(s, words, 0, 2);
  absorbWords(s, words, 3, finiteFrom >>> 2);
  const finite = absorbWords(s, words, finiteFrom >>> 2, finiteTo >>> 2, true);
  absorbWords(s, words, finiteTo >>> 2, words.length);
  return { sum: finishChecksum(s), finite };
}

/** Sets the checksum field of a finished message; refuses non-finite f32 values in the range. */
function sealMessage(bytes: Uint8Array, finiteFrom?: number, finiteTo?: number): void {
  const { sum, finite } = messageChecksum(bytes, finiteFrom, finiteTo);
  if (!finite) fail('non-finite', 'a value is not finite');
  new DataView(bytes.buffer, bytes.byteOffset, bytes.length).setUint32(8, sum, true);
}

/** Writes `values` at byte `offset` of `bytes` as f32 or f16; refuses non-finite values. */
function writeValues(
  bytes: Uint8Array,
  offset: number,
  values: Float32Array,
  valueType: ValueType,
): void {
  if (valueType === 'f32') {
    // Finiteness is checked by sealMessage while it sums these words.
    new Float32Array(bytes.buffer, bytes.byteOffset + offset, values.length).set(values);
    return;
  }
  const out = new Uint16Array(bytes.buffer, bytes.byteOffset + offset, values.length);
  const bad = f32ToF16Array(values, out);
  if (bad >= 0) {
    const v = values[bad]!;
    if (!Number.isFinite(v)) fail('non-finite', `value ${bad} is not finite`);
    fail('fp16-overflow', `value ${bad} (${v}) exceeds the fp16 range ±${F16_MAX}`);
  }
}

function checkMeta(meta: UpdateMeta): void {
  if (!isU32(meta.step)) fail('bad-field', 'step must be a u32');
  if (!isU32(meta.batchSize)) fail('bad-field', 'batchSize must be a u32');
  if (!(Number.isFinite(meta.capacity) && meta.capacity >= 0))
    fail('bad-field', 'capacity must be finite and >= 0');
  if (!(Number.isFinite(meta.weight) && meta.weight >= 0 && meta.weight <= 1)) {
    fail('bad-field', 'weight must be in [0, 1]');
  }
  if (!(isU32(meta.paramCount) && meta.paramCount >= 1))
    fail('bad-field', 'paramCount must be a u32 >= 1');
}

/** Exact byte length of the varint index section for strictly ascending `indices`. */
function varintSectionBytes(indices: Uint32Array, paramCount: number): number {
  let bytes = 0;
  let prev = -1;
  for (let i = 0; i < indices.length; i++) {
    const idx = indices[i]!;
    if (idx <= prev) fail('bad-index', `indices must strictly ascend (index ${i})`);
    if (idx >= paramCount)
      fail('bad-index', `index ${idx} is out of range for ${paramCount} parameters`);
    bytes += varintBytes(idx - prev - 1);
    prev = idx;
  }
  return bytes;
}

/**
 * The buffer a message is written to: a prefix of the caller's `out` when it is large enough
 * and 4-byte aligned (a peer that sends every step reuses one buffer instead of faulting in
 * fresh pages each time; RTCDataChannel.send copies, so reuse after send is safe), else new.
 */
function outputBuffer(out: Uint8Array | undefined, byteLength: number): Uint8Array {
  if (out && out.length >= byteLength && (out.byteOffset & 3) === 0)
    return out.subarray(0, byteLength);
  return new Uint8Array(byteLength);
}

/**
 * Encodes an update message. Sparse payloads are coded as varint gaps or as a bitmap, whichever
 * is smaller.
 * @example encodeUpdate({ step: 3, batchSize: 32, capacity: 900, weight: 0.25, paramCount: P, valueType: 'f32' },
 *                       { encoding: 'sparse', indices, values })
 */
export function encodeUpdate(
  meta: UpdateMeta,
  payload: UpdatePayload,
  out?: Uint8Array,
): Uint8Array {
  checkMeta(meta);
  const P = meta.paramCount;
  const n = payload.values.length;
  let encoding: UpdateEncoding;
  let indexBytes: number;
  if (payload.encoding === 'dense') {
    if (n !== P) fail('bad-length', `dense update has ${n} values for ${P} parameters`);
    encoding = 'dense';
    indexBytes = 0;
  } else if (payload.encoding === 'range') {
    if (!isU32(payload.start) || payload.start + n > P)
      fail('bad-index', 'range exceeds the parameter count');
    encoding = 'range';
    indexBytes = 4;
  } else {
    if (payload.indices.length !== n) fail('bad-length', 'sparse update needs one index per value');
    const varint = varintSectionBytes(payload.indices, P);
    const bitmap = Math.ceil(P / 8);
    encoding = pad4(varint) <= pad4(bitmap) ? 'sparse-varint' : 'sparse-bitmap';
    indexBytes = encoding === 'sparse-varint' ? varint : bitmap;
  }
  const valuesOffset = UPDATE_HEADER_BYTES + pad4(indexBytes);
  const byteLength = valuesOffset + pad4(n * valueBytes(meta.valueType));
  if (byteLength > U32_MAX) fail('too-large', 'update does not fit in a message');
  const bytes = outputBuffer(out, byteLength);
  // A reused buffer holds an older message: clear what is not overwritten below.
  if (out !== undefined) {
    bytes.fill(0, 0, valuesOffset);
    bytes.fill(0, valuesOffset + n * valueBytes(meta.valueType));
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  writeMessageHeader(view, TYPE_UPDATE, byteLength);
  view.setUint32(12, meta.step, true);
  view.setUint32(16, meta.batchSize, true);
  view.setFloat32(20, meta.capacity, true);
  view.setFloat32(24, meta.weight, true);
  view.setUint32(28, P, true);
  view.setUint32(32, n, true);
  view.setUint8(36, ENCODINGS.indexOf(encoding));
  view.setUint8(37, meta.valueType === 'f32' ? 0 : 1);
  view.setUint32(40, indexBytes, true);
  if (payload.encoding === 'range') view.setUint32(UPDATE_HEADER_BYTES, payload.start, true);
  else if (payload.encoding === 'sparse') {
    const idx = payload.indices;
    if (encoding === 'sparse-varint') {
      let p = UPDATE_HEADER_BYTES;
      let prev = -1;
      for (let i = 0; i < idx.length; i++) {
        let gap = idx[i]! - prev - 1;
        prev = idx[i]!;
        while (gap >= 0x80) {
          bytes[p++] = (gap & 0x7f) | 0x80;
          gap >>>= 7;
        }
        bytes[p++] = gap;
      }
    } else {
      for (let i = 0; i < idx.length; i++) {
        const j = idx[i]!;
        bytes[UPDATE_HEADER_BYTES + (j >>> 3)]! |= 1 << (j & 7);
      }
    }
  }
  writeValues(bytes, valuesOffset, payload.values, meta.valueType);
  if (meta.valueType === 'f32') sealMessage(bytes, valuesOffset, valuesOffset + 4 * n);
  else sealMessage(bytes);
  return bytes;
}

/** Encodes a parameter vector for direct knowledge transfer. */
export function encodeParams(p: Omit<ParamsMessage, 'type'>, out?: Uint8Array): Uint8Array {
  const P = p.values.length;
  if (!isU32(p.step)) fail('bad-field', 'step must be a u32');
  if (!isU32(p.modelFingerprint)) fail('bad-field', 'modelFingerprint must be a u32');
  if (!Number.isFinite(p.loss)) fail('non-finite', 'loss must be finite');
  if (P < 1) fail('bad-length', 'parameter vector is empty');
  const byteLength = PARAMS_HEADER_BYTES + 4 * P;
  if (byteLength > U32_MAX) fail('too-large', 'parameters do not fit in a message');
  const bytes = outputBuffer(out, byteLength);
  if (out !== undefined) bytes.fill(0, 0, PARAMS_HEADER_BYTES);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  writeMessageHeader(view, TYPE_PARAMS, byteLength);
  view.setUint32(12, p.step, true);
  view.setUint32(16, P, true);
  view.setUint32(20, p.modelFingerprint, true);
  view.setFloat32(24, p.loss, true);
  writeValues(bytes, PARAMS_HEADER_BYTES, p.values, 'f32');
  sealMessage(bytes, PARAMS_HEADER_BYTES, byteLength);
  return bytes;
}

/** Encodes one control message's JSON text. */
export function encodeControl(text: string): Uint8Array {
  const utf8 = utf8Encode(text);
  const byteLength = CONTROL_HEADER_BYTES + pad4(utf8.length);
  const bytes = new Uint8Array(byteLength);
  const view = new DataView(bytes.buffer);
  writeMessageHeader(view, TYPE_CONTROL, byteLength);
  view.setUint32(12, utf8.length, true);
  bytes.set(utf8, CONTROL_HEADER_BYTES);
  sealMessage(bytes);
  return bytes;
}

/** A probe of `bytes` bytes (rounded up to a multiple of 4, within the probe limits). */
export function encodeProbe(bytes: number): Uint8Array {
  const byteLength = pad4(Math.min(MAX_PROBE_BYTES, Math.max(MIN_PROBE_BYTES, Math.ceil(bytes))));
  const out = new Uint8Array(byteLength);
  writeMessageHeader(new DataView(out.buffer), TYPE_PROBE, byteLength);
  sealMessage(out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Decoding. Everything is checked before anything is returned: lengths, checksum, fields,
// indices, padding and finiteness.

/** Pad bytes [from, to) must be zero, so that every accepted message has one encoding. */
function checkZero(bytes: Uint8Array, from: number, to: number, what: string): void {
  for (let p = from; p < to; p++) if (bytes[p] !== 0) fail('bad-field', `${what} must be zero`);
}

/**
 * Verifies the message checksum; f32 values in [finiteFrom, finiteTo) are checked for
 * finiteness in the same pass.
 */
function verify(bytes: Uint8Array, finiteFrom?: number, finiteTo?: number): void {
  const { sum, finite } = messageChecksum(bytes, finiteFrom, finiteTo);
  if (sum !== new DataView(bytes.buffer, bytes.byteOffset, bytes.length).getUint32(8, true)) {
    fail('checksum', 'message checksum mismatch');
  }
  if (!finite) fail('non-finite', 'a value is not finite');
}

/** The values region as f32: a view for f32 (checked by verify), a checked new array for f16. */
function readValues(
  bytes: Uint8Array,
  offset: number,
  n: number,
  valueType: ValueType,
): Float32Array {
  if (valueType === 'f32') return new Float32Array(bytes.buffer, bytes.byteOffset + offset, n);
  const out = new Float32Array(n);
  const bad = f16ToF32Array(new Uint16Array(bytes.buffer, bytes.byteOffset + offset, n), out);
  if (bad >= 0) fail('non-finite', `value ${bad} is not finite`);
  return out;
}

function decodeUpdateBody(bytes: Uint8Array, view: DataView): UpdateMessage {
  if (bytes.length < UPDATE_HEADER_BYTES) fail('truncated', 'update header is incomplete');
  const step = view.getUint32(12, true);
  const batchSize = view.getUint32(16, true);
  const capacity = view.getFloat32(20, true);
  const weight = view.getFloat32(24, true);
  const P = view.getUint32(28, true);
  const n = view.getUint32(32, true);
  const encodingCode = view.getUint8(36);
  const valueTypeCode = view.getUint8(37);
  const indexBytes = view.getUint32(40, true);
  if (!(Number.isFinite(capacity) && capacity >= 0))
    fail('bad-field', 'capacity must be finite and >= 0');
  if (!(Number.isFinite(weight) && weight >= 0 && weight <= 1))
    fail('bad-field', 'weight must be in [0, 1]');
  if (P < 1) fail('bad-field', 'paramCount must be >= 1');
  if (n > P) fail('bad-field', `${n} entries for ${P} parameters`);
  const encoding = ENCODINGS[encodingCode];
  if (encoding === undefined) fail('bad-field', `unknown encoding ${encodingCode}`);
  if (valueTypeCode > 1) fail('bad-field', `unknown value type ${valueTypeCode}`);
  if (view.getUint16(38, true) !== 0 || view.getUint32(44, true) !== 0)
    fail('bad-field', 'reserved fields must be 0');
  const valueType: ValueType = valueTypeCode === 0 ? 'f32' : 'f16';
  const expectedIndexBytes =
    encoding === 'dense'
      ? 0
      : encoding === 'range'
        ? 4
        : encoding === 'sparse-bitmap'
          ? Math.ceil(P / 8)
          : indexBytes;
  if (indexBytes !== expectedIndexBytes)
    fail('bad-length', `index section of ${indexBytes} bytes for ${encoding}`);
  if (encoding === 'dense' && n !== P) fail('bad-field', 'dense update must carry every parameter');
  const valuesOffset = UPDATE_HEADER_BYTES + pad4(indexBytes);
  const valuesBytes = n * valueBytes(valueType);
  const expected = valuesOffset + pad4(valuesBytes);
  if (bytes.length < expected)
    fail('truncated', `update needs ${expected} bytes, has ${bytes.length}`);
  if (bytes.length > expected)
    fail('extended', `update needs ${expected} bytes, has ${bytes.length}`);
  if (valueType === 'f32') verify(bytes, valuesOffset, valuesOffset + valuesBytes);
  else verify(bytes);
  checkZero(bytes, UPDATE_HEADER_BYTES + indexBytes, valuesOffset, 'index padding');
  checkZero(bytes, valuesOffset + valuesBytes, expected, 'value padding');
  const meta: UpdateMeta = { step, batchSize, capacity, weight, paramCount: P, valueType };
  const values = readValues(bytes, valuesOffset, n, valueType);
  let payload: UpdatePayload;
  if (encoding === 'dense') payload = { encoding: 'dense', values };
  else if (encoding === 'range') {
    const start = view.getUint32(UPDATE_HEADER_BYTES, true);
    if (start + n > P) fail('bad-index', `range ${start}+${n} exceeds ${P} parameters`);
    payload = { encoding: 'range', start, values };
  } else if (encoding === 'sparse-bitmap') {
    payload = { encoding: 'sparse', indices: readBitmap(bytes, P, n), values };
  } else {
    payload = { encoding: 'sparse', indices: readVarints(bytes, indexBytes, P, n), values };
  }
  return { type: 'update', meta, payload, wireEncoding: encoding };
}

function readBitmap(bytes: Uint8Array, P: number, n: number): Uint32Array {
  const indices = new Uint32Array(n);
  const mapBytes = Math.ceil(P / 8);
  let count = 0;
  for (let b = 0; b < mapBytes; b++) {
    let byte = bytes[UPDATE_HEADER_BYTES + b]!;
    while (byte !== 0) {
      const bit = 31 - Math.clz32(byte & -byte);
      const idx = b * 8 + bit;
      if (idx >= P) fail('bad-index', `bitmap bit ${idx} is past ${P} parameters`);
      if (count >= n) fail('bad-field', `bitmap has more than ${n} bits set`);
      indices[count++] = idx;
      byte &= byte - 1;
    }
  }
  if (count !== n) fail('bad-field', `bitmap has ${count} bits set, header says ${n}`);
  return indices;
}

function readVarints(bytes: Uint8Array, indexBytes: number, P: number, n: number): Uint32Array {
  const indices = new Uint32Array(n);
  const end = UPDATE_HEADER_BYTES + indexBytes;
  let p = UPDATE_HEADER_BYTES;
  let prev = -1;
  for (let i = 0; i < n; i++) {
    let gap = 0;
    let shift = 0;
    for (;;) {
      if (p >= end) fail('truncated', `index section ends inside index ${i}`);
      const b = bytes[p++]!;
      if (shift === 28 && b > 0x0f) fail('bad-index', 'varint exceeds 32 bits');
      gap += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) {
        // A zero final byte after others is an overlong encoding: refuse, one value = one encoding.
        if (b === 0 && shift > 0) fail('bad-index', 'overlong varint');
        break;
      }
      shift += 7;
    }
    const idx = prev + 1 + gap;
    if (idx >= P) fail('bad-index', `index ${idx} is out of range for ${P} parameters`);
    indices[i] = idx;
    prev = idx;
  }
  if (p !== end) fail('extended', 'index section has bytes after the last index');
  return indices;
}

function decodeParamsBody(bytes: Uint8Array, view: DataView): ParamsMessage {
  if (bytes.length < PARAMS_HEADER_BYTES) fail('truncated', 'params header is incomplete');
  const step = view.getUint32(12, true);
  const P = view.getUint32(16, true);
  const modelFingerprint = view.getUint32(20, true);
  const loss = view.getFloat32(24, true);
  if (view.getUint32(28, true) !== 0) fail('bad-field', 'reserved field must be 0');
  if (!Number.isFinite(loss)) fail('non-finite', 'loss is not finite');
  if (P < 1) fail('bad-field', 'paramCount must be >= 1');
  const expected = PARAMS_HEADER_BYTES + 4 * P;
  if (bytes.length < expected)
    fail('truncated', `params need ${expected} bytes, have ${bytes.length}`);
  if (bytes.length > expected)
    fail('extended', `params need ${expected} bytes, have ${bytes.length}`);
  verify(bytes, PARAMS_HEADER_BYTES, expected);
  return {
    type: 'params',
    step,
    modelFingerprint,
    loss,
    values: readValues(bytes, PARAMS_HEADER_BYTES, P, 'f32'),
  };
}

function decodeControlBody(bytes: Uint8Array, view: DataView): ControlText {
  if (bytes.length < CONTROL_HEADER_BYTES) fail('truncated', 'control header is incomplete');
  const textBytes = view.getUint32(12, true);
  // Before anything is decoded: a control message is a small JSON text.
  if (textBytes > MAX_CONTROL_TEXT_BYTES) {
    fail('too-large', `control text of ${textBytes} bytes, over ${MAX_CONTROL_TEXT_BYTES}`);
  }
  const expected = CONTROL_HEADER_BYTES + pad4(textBytes);
  if (bytes.length < expected)
    fail('truncated', `control needs ${expected} bytes, has ${bytes.length}`);
  if (bytes.length > expected)
    fail('extended', `control needs ${expected} bytes, has ${bytes.length}`);
  verify(bytes);
  checkZero(bytes, CONTROL_HEADER_BYTES + textBytes, expected, 'text padding');
  const text = utf8Decode(bytes.subarray(CONTROL_HEADER_BYTES, CONTROL_HEADER_BYTES + textBytes));
  if (text === undefined) fail('bad-json', 'control text is not valid UTF-8');
  return { type: 'control', text };
}

function decodeProbeBody(bytes: Uint8Array): ProbeMessage {
  if (bytes.length > MAX_PROBE_BYTES) fail('too-large', `probe of ${bytes.length} bytes`);
  verify(bytes);
  checkZero(bytes, MIN_PROBE_BYTES, bytes.length, 'probe filler');
  return { type: 'probe', byteLength: bytes.length };
}

/**
 * Decodes one reassembled message. Float32 values are views into `input` when it is 4-byte
 * aligned (no copy); the caller must not reuse the buffer while it holds them.
 */
export function decodeMessage(input: Uint8Array): Result<WireMessage, CodecError> {
  try {
    return ok(decodeChecked(input));
  } catch (e) {
    if (e instanceof CodecError) return err(e);
    // Should be unreachable: every path above checks before it reads. Kept so that a missed
    // case still surfaces as the codec's own error type.
    return err(new CodecError('bad-field', `malformed message: ${String(e)}`));
  }
}

function decodeChecked(input: Uint8Array): WireMessage {
  if (input.length < 12)
    fail('truncated', `message of ${input.length} bytes is shorter than its header`);
  // Typed-array views need 4-byte alignment; a misaligned input is copied once.
  const bytes = (input.byteOffset & 3) === 0 ? input : input.slice();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const byteLength = view.getUint32(4, true);
  if (bytes.length < byteLength)
    fail('truncated', `message says ${byteLength} bytes, has ${bytes.length}`);
  if (bytes.length > byteLength)
    fail('extended', `message says ${byteLength} bytes, has ${bytes.length}`);
  if ((byteLength & 3) !== 0) fail('bad-length', 'message length must be a multiple of 4');
  const type = view.getUint8(0);
  if (view.getUint8(1) !== WIRE_VERSION)
    fail('bad-version', `wire version ${view.getUint8(1)} is not ${WIRE_VERSION}`);
  if (view.getUint16(2, true) !== 0) fail('bad-field', 'reserved field must be 0');
  // Each body checks its layout, then the checksum (and the values' finiteness), then fields.
  if (type === TYPE_UPDATE) return decodeUpdateBody(bytes, view);
  if (type === TYPE_PARAMS) return decodeParamsBody(bytes, view);
  if (type === TYPE_CONTROL) return decodeControlBody(bytes, view);
  if (type === TYPE_PROBE) return decodeProbeBody(bytes);
  return fail('bad-kind', `unknown message type ${type}`);
}

/**
 * Adds an update's entries, times `scale`, into a dense accumulator: the receiver's weight for
 * the sender (payloads are in units of the sender's mean gradient). The target must have
 * paramCount entries.
 */
export function addPayloadInto(target: Float32Array, payload: UpdatePayload, scale = 1): void {
  if (payload.encoding === 'dense') {
    const v = payload.values;
    for (let i = 0; i < v.length; i++) target[i]! += scale * v[i]!;
  } else if (payload.encoding === 'range') {
    const v = payload.values;
    const s = payload.start;
    for (let i = 0; i < v.length; i++) target[s + i]! += scale * v[i]!;
  } else {
    const { indices, values } = payload;
    for (let i = 0; i < values.length; i++) target[indices[i]!]! += scale * values[i]!;
  }
}
