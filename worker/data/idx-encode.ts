/**
 * Writing IDX files (the layout is documented in idx.ts): the server cuts a peer's shard out
 * of the dataset and ships it in the same format the parser already validates.
 */

import { DataError } from './errors';
import { IDX_TYPE_CODES, type IdxArray, MAX_IDX_DATA_BYTES, MAX_IDX_DIMS } from './idx';

const ELEMENT_SIZE = { u8: 1, i8: 1, i16: 2, i32: 4, f32: 4, f64: 8 } as const;

/**
 * The IDX bytes of an array: header, then the elements big-endian. The output always parses
 * back with `parseIdx` to the same type, dims and values. Throws DataError for an array that
 * IDX (as parsed here) cannot hold: a wrong rank, a zero dimension, a data length that is not
 * the product of the dims, or a data array of another type. Those are the caller's bugs.
 * Example: `encodeIdx({ type: 'u8', dims: [n, 28, 28], data: images })`.
 */
export function encodeIdx(array: IdxArray): Uint8Array {
  const { type, dims, data } = array;
  if (dims.length < 1 || dims.length > MAX_IDX_DIMS) {
    throw new DataError('bad-dims', `IDX needs 1..${MAX_IDX_DIMS} dimensions, got ${dims.length}`);
  }
  let count = 1;
  for (const d of dims) {
    if (!(Number.isInteger(d) && d >= 1 && d <= 0xffff_ffff)) {
      throw new DataError('bad-dims', `IDX dimension ${d} is not an integer in 1..2^32-1`);
    }
    count *= d;
  }
  if (data.length !== count) {
    throw new DataError(
      'bad-dims',
      `dims [${dims.join(', ')}] need ${count} elements, got ${data.length}`,
    );
  }
  const size = ELEMENT_SIZE[type];
  if (!matchesType(type, data)) {
    throw new DataError('bad-type', `data is not a typed array of IDX type ${type}`);
  }
  if (count * size > MAX_IDX_DATA_BYTES) {
    throw new DataError(
      'too-large',
      `IDX data of ${count * size} bytes exceeds ${MAX_IDX_DATA_BYTES}`,
    );
  }
  const offset = 4 + 4 * dims.length;
  const out = new Uint8Array(offset + count * size);
  const view = new DataView(out.buffer);
  out[2] = IDX_TYPE_CODES[type];
  out[3] = dims.length;
  dims.forEach((d, i) => {
    view.setUint32(4 + 4 * i, d, false);
  });
  // Byte-wide types are copied as they are; wider ones are written big-endian one by one.
  switch (type) {
    case 'u8':
    case 'i8':
      out.set(new Uint8Array(data.buffer, data.byteOffset, count), offset);
      break;
    case 'i16':
      for (let i = 0; i < count; i++) view.setInt16(offset + 2 * i, data[i]!, false);
      break;
    case 'i32':
      for (let i = 0; i < count; i++) view.setInt32(offset + 4 * i, data[i]!, false);
      break;
    case 'f32':
      for (let i = 0; i < count; i++) view.setFloat32(offset + 4 * i, data[i]!, false);
      break;
    case 'f64':
      for (let i = 0; i < count; i++) view.setFloat64(offset + 8 * i, data[i]!, false);
      break;
  }
  return out;
}

function matchesType(type: IdxArray['type'], data: IdxArray['data']): boolean {
  switch (type) {
    case 'u8':
      return data instanceof Uint8Array;
    case 'i8':
      return data instanceof Int8Array;
    case 'i16':
      return data instanceof Int16Array;
    case 'i32':
      return data instanceof Int32Array;
    case 'f32':
      return data instanceof Float32Array;
    case 'f64':
      return data instanceof Float64Array;
  }
}
