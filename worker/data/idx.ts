/**
 * IDX files, the format MNIST and Fashion-MNIST ship in: a strict parser (plain bytes) and
 * a loader that gunzips first when the bytes are gzip, through an injected gunzip.
 *
 * Layout (all multi-byte values big-endian):
 *   offset 0   u16   0x0000 (magic)
 *   offset 2   u8    element type: 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64
 *   offset 3   u8    d, the number of dimensions (1..MAX_IDX_DIMS here)
 *   offset 4   u32[d] dimension sizes, each >= 1
 *   offset 4+4d       prod(dims) elements, row-major
 * The file must end exactly there: shorter is 'truncated', longer is 'extended'.
 */

import { err, ok, type Result } from '../../core';
import { DataError } from './errors';

export type IdxType = 'u8' | 'i8' | 'i16' | 'i32' | 'f32' | 'f64';

/** The typed array each element type decodes into (host byte order). */
export type IdxData =
  | Uint8Array
  | Int8Array
  | Int16Array
  | Int32Array
  | Float32Array
  | Float64Array;

/** A parsed IDX file. `data.length` is the product of `dims`. */
export type IdxArray = {
  readonly type: IdxType;
  readonly dims: readonly number[];
  readonly data: IdxData;
};

/** At most this many dimensions: MNIST uses 1 (labels) and 3 (images); 4 leaves room for channels. */
export const MAX_IDX_DIMS = 4;
/** Element data larger than this is refused before anything is allocated. */
export const MAX_IDX_DATA_BYTES = 512 * 1024 * 1024;

const TYPES: ReadonlyMap<number, { readonly type: IdxType; readonly size: number }> = new Map([
  [0x08, { type: 'u8', size: 1 }],
  [0x09, { type: 'i8', size: 1 }],
  [0x0b, { type: 'i16', size: 2 }],
  [0x0c, { type: 'i32', size: 4 }],
  [0x0d, { type: 'f32', size: 4 }],
  [0x0e, { type: 'f64', size: 8 }],
]);

/** The type code of each element type, for writers (tests, fixtures). */
export const IDX_TYPE_CODES: Readonly<Record<IdxType, number>> = Object.freeze({
  u8: 0x08,
  i8: 0x09,
  i16: 0x0b,
  i32: 0x0c,
  f32: 0x0d,
  f64: 0x0e,
});

/**
 * Parses an IDX file held in memory. Never throws: anything malformed is a DataError.
 * u8 and i8 data are zero-copy views into `bytes` (keep `bytes` alive and unmodified);
 * wider types are copied out of big-endian order.
 */
export function parseIdx(bytes: Uint8Array): Result<IdxArray, DataError> {
  if (bytes.length < 4) {
    return err(new DataError('truncated', `IDX header needs 4 bytes, got ${bytes.length}`));
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    return err(new DataError('bad-magic', 'IDX files start with two zero bytes'));
  }
  const code = bytes[2]!;
  const kind = TYPES.get(code);
  if (kind === undefined) {
    return err(new DataError('bad-type', `unknown IDX element type 0x${hex(code)}`));
  }
  const rank = bytes[3]!;
  if (rank < 1 || rank > MAX_IDX_DIMS) {
    return err(
      new DataError('bad-dims', `IDX dimension count ${rank} is not in 1..${MAX_IDX_DIMS}`),
    );
  }
  const dataOffset = 4 + 4 * rank;
  if (bytes.length < dataOffset) {
    return err(
      new DataError('truncated', `IDX header needs ${dataOffset} bytes, got ${bytes.length}`),
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  // The running product is checked against the byte limit after every factor: it never
  // exceeds 2^29 * 2^32 before the check, far from Infinity, so no overflow can slip through.
  let count = 1;
  for (let i = 0; i < rank; i++) {
    const size = view.getUint32(4 + 4 * i, false);
    if (size === 0) {
      // An empty dataset is legal IDX but useless here, and it would let a header of
      // any other shape parse as "nothing", so it is refused.
      return err(new DataError('bad-dims', `IDX dimension ${i} is zero`));
    }
    dims.push(size);
    count *= size;
    if (count * kind.size > MAX_IDX_DATA_BYTES) {
      return err(
        new DataError(
          'too-large',
          `IDX data of shape [${describeDims(view, rank)}] exceeds ${MAX_IDX_DATA_BYTES} bytes`,
        ),
      );
    }
  }
  const expected = dataOffset + count * kind.size;
  if (bytes.length < expected) {
    return err(new DataError('truncated', `IDX file needs ${expected} bytes, got ${bytes.length}`));
  }
  if (bytes.length > expected) {
    return err(
      new DataError(
        'extended',
        `IDX file has ${bytes.length - expected} bytes after its ${expected}-byte end`,
      ),
    );
  }
  return ok({ type: kind.type, dims, data: decode(kind.type, bytes, view, dataOffset, count) });
}

/** True when the bytes start with the gzip magic (1f 8b); IDX files start with 00 00. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Decompresses a whole gzip stream; Node passes zlib's gunzip, browsers DecompressionStream. */
export type Gunzip = (bytes: Uint8Array) => Promise<Uint8Array>;

/**
 * Parses IDX bytes that may be gzipped (Fashion-MNIST ships .gz). A gunzip failure, thrown
 * or rejected, becomes DataError 'gzip'; the promise itself never rejects.
 * The injected gunzip should cap its output (zlib's maxOutputLength) against gzip bombs:
 * the size check here only runs on what it returns.
 * Example: `await loadIdx(bytes, (b) => promisify(gunzip)(b))`.
 */
export async function loadIdx(
  bytes: Uint8Array,
  gunzip: Gunzip,
): Promise<Result<IdxArray, DataError>> {
  if (!isGzip(bytes)) return parseIdx(bytes);
  let plain: Uint8Array;
  try {
    plain = await gunzip(bytes);
  } catch (cause) {
    return err(new DataError('gzip', `gunzip failed: ${describe(cause)}`));
  }
  if (!(plain instanceof Uint8Array)) {
    return err(new DataError('gzip', 'gunzip returned something other than bytes'));
  }
  return parseIdx(plain);
}

/** Copies the element data out of the file into a typed array in host byte order. */
function decode(
  type: IdxType,
  bytes: Uint8Array,
  view: DataView,
  offset: number,
  count: number,
): IdxData {
  switch (type) {
    case 'u8':
      return bytes.subarray(offset, offset + count);
    case 'i8':
      return new Int8Array(bytes.buffer, bytes.byteOffset + offset, count);
    case 'i16': {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(offset + 2 * i, false);
      return out;
    }
    case 'i32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(offset + 4 * i, false);
      return out;
    }
    case 'f32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(offset + 4 * i, false);
      return out;
    }
    case 'f64': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(offset + 8 * i, false);
      return out;
    }
  }
}

const describeDims = (view: DataView, rank: number): string => {
  const sizes: number[] = [];
  for (let i = 0; i < rank; i++) sizes.push(view.getUint32(4 + 4 * i, false));
  return sizes.join(', ');
};

const hex = (byte: number): string => byte.toString(16).padStart(2, '0');

const describe = (cause: unknown): string =>
  cause instanceof Error ? cause.message : String(cause);
