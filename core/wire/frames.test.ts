import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CodecError } from '../errors';
import { checksum } from './checksum';
import {
  ACK_FRAME_BYTES,
  type ChunkFrame,
  chunkMessage,
  createReassembler,
  decodeFrame,
  dispersionSpanMs,
  encodeAck,
  expirePending,
  pushChunk,
} from './frames';
import { FRAME_HEADER_BYTES, MAX_CHUNK_BYTES } from './sizes';
import { utf8Decode, utf8Encode } from './utf8';

function chunk(frame: Uint8Array): ChunkFrame {
  const d = decodeFrame(frame);
  if (!d.ok || d.value.kind !== 'chunk') throw new Error('not a chunk frame');
  return d.value;
}

describe('acks', () => {
  it('round-trip with both statuses and the span in microseconds', () => {
    for (const status of ['accepted', 'refused'] as const) {
      const frame = encodeAck(0xffff_fffe, 123_456, status, 12.3456);
      expect(frame.length).toBe(ACK_FRAME_BYTES);
      expect(decodeFrame(frame)).toEqual({
        ok: true,
        value: { kind: 'ack', msgId: 0xffff_fffe, messageBytes: 123_456, status, spanMs: 12.346 },
      });
    }
    // A span the field cannot hold is clamped, not wrapped; a bad one is 0.
    const spanOf = (ms: number) => {
      const d = decodeFrame(encodeAck(1, 1, 'accepted', ms));
      return d.ok && d.value.kind === 'ack' ? d.value.spanMs : undefined;
    };
    expect(spanOf(1e10)).toBeCloseTo(0xffff_ffff / 1000, 3);
    expect(spanOf(-5)).toBe(0);
    expect(spanOf(Number.NaN)).toBe(0);
  });

  it('refuses every bit flip, an unknown status and a wrong length', () => {
    const frame = encodeAck(7, 99);
    for (let bit = 0; bit < frame.length * 8; bit++) {
      const flipped = frame.slice();
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      expect(decodeFrame(flipped).ok).toBe(false);
    }
    const status = frame.slice();
    const view = new DataView(status.buffer);
    view.setUint32(12, 2, true);
    view.setUint32(20, checksum(status, 0, 20), true);
    const r = decodeFrame(status);
    expect(r.ok || r.error.code).toBe('bad-field');
    expect(decodeFrame(frame.subarray(0, ACK_FRAME_BYTES - 1)).ok).toBe(false);
    const longer = new Uint8Array(ACK_FRAME_BYTES + 1);
    longer.set(frame);
    expect(decodeFrame(longer).ok).toBe(false);
  });
});

describe('chunk frames', () => {
  it('refuses a sequence number at or past the count, even with a correct header checksum', () => {
    const frame = chunkMessage(1, new Uint8Array(100))[0]!;
    const view = new DataView(frame.buffer);
    view.setUint32(8, 1, true); // seq 1 of 1
    view.setUint32(24, checksum(frame, 0, 24), true);
    const r = decodeFrame(frame);
    expect(r.ok || r.error.code).toBe('bad-field');
  });

  it('cuts at the chunk size asked for, and refuses one outside [1 KiB, 64 KiB) on both ends', () => {
    const frames = chunkMessage(1, new Uint8Array(5000), 1024);
    expect(frames.map((f) => f.length - FRAME_HEADER_BYTES)).toEqual([1024, 1024, 1024, 1024, 904]);
    expect(() => chunkMessage(1, new Uint8Array(10), 1023)).toThrow(CodecError);
    expect(() => chunkMessage(1, new Uint8Array(10), MAX_CHUNK_BYTES + 1)).toThrow(CodecError);
    // A header that claims a chunk size below the minimum (checksum made right) is refused.
    const view = new DataView(frames[0]!.buffer);
    view.setUint32(20, 512, true);
    view.setUint32(12, 10, true);
    view.setUint32(24, checksum(frames[0]!, 0, 24), true);
    const r = decodeFrame(frames[0]!);
    expect(r.ok || r.error.code).toBe('bad-field');
  });

  it('times a message from its first chunk to its last', () => {
    const r = createReassembler();
    const frames = chunkMessage(3, new Uint8Array(3000), 1024).map(chunk);
    expect(pushChunk(r, frames[0]!, 100)).toEqual({ ok: true, value: undefined });
    expect(pushChunk(r, frames[1]!, 104)).toEqual({ ok: true, value: undefined });
    const done = pushChunk(r, frames[2]!, 109.5);
    expect(done.ok && done.value?.spanMs).toBe(9.5);
    const one = pushChunk(r, chunk(chunkMessage(4, new Uint8Array(10))[0]!), 200);
    expect(one.ok && one.value?.spanMs).toBe(0);
  });

  it('takes a burst of chunks handled together, at either end, out of the span', () => {
    // 20 chunks of 1000 wire bytes, one every 4 ms: 250 kB/s. The sender divides the 19 after
    // the first by the span.
    const sizes = new Array<number>(20).fill(1000);
    const rate = (times: number[]) => (19 * 1000) / dispersionSpanMs(times, sizes);
    expect(
      dispersionSpanMs(
        sizes.map((_, i) => i * 4),
        sizes,
      ),
    ).toBe(76);
    // The receiver was busy when the first came, and handled the first five in one burst:
    // the plain span (60.04 ms) would read the link 27% high.
    const early = sizes.map((_, i) => (i < 5 ? i * 0.01 : 0.04 + (i - 4) * 4));
    expect((19 * 1000) / (early[19]! - early[0]!)).toBeGreaterThan(1.25 * 250);
    expect(rate(early)).toBeCloseTo(250, 6);
    // Busy at the end: the last five in one burst, 24% low if left in.
    const late = sizes.map((_, i) => (i < 15 ? i * 4 : 100 + i * 0.01));
    expect((19 * 1000) / (late[19]! - late[0]!)).toBeLessThan(0.8 * 250);
    expect(rate(late)).toBeCloseTo(250, 6);
    // A paced sender whose timer hands over two chunks at a time: no bias either.
    const pairs = sizes.map((_, i) => Math.floor(i / 2) * 8 + (i % 2) * 0.01);
    expect(rate(pairs)).toBeCloseTo(250, 6);
    // One burst is its own span; one chunk has none.
    const all = sizes.map((_, i) => i * 0.01);
    expect(dispersionSpanMs(all, sizes)).toBeCloseTo(0.19, 9);
    expect(dispersionSpanMs([5], [1000])).toBe(0);
  });

  it('hands out a single-chunk message 4-byte aligned, whatever the frame view', () => {
    const frame = chunkMessage(1, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8))[0]!;
    const shifted = new Uint8Array(frame.length + 1).subarray(1);
    shifted.set(frame);
    const r = pushChunk(createReassembler(), chunk(shifted), 0);
    if (!r.ok || r.value === undefined) throw new Error('not reassembled');
    expect(r.value.bytes.byteOffset & 3).toBe(0);
    expect([...r.value.bytes]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('holds the bytes received, not the bytes claimed, and bounds both count and bytes', () => {
    const big = 1 << 20;
    const r = createReassembler({ maxMessageBytes: big }); // 2 MiB pending in all by default
    expect(r.maxPendingBytes).toBe(2 * big);
    // Each announces a whole 1 MiB message with one short last chunk: cheap to send, and it
    // costs the receiver that chunk's bytes only.
    const size = big - 1;
    let claimed = 0;
    let sent = 0;
    for (let id = 0; id < 16; id++) {
      const frames = chunkMessage(id, new Uint8Array(size));
      const last = chunk(frames[frames.length - 1]!);
      claimed += last.messageBytes;
      sent += last.payload.length;
      expect(pushChunk(r, last, 0)).toEqual({ ok: true, value: undefined });
    }
    expect(claimed).toBe(16 * size);
    expect(r.pending.size).toBe(16);
    expect(r.pendingBytes).toBe(sent);
    expect(sent * 10).toBeLessThan(claimed);
    // A 17th partial message evicts the oldest (the count bound).
    pushChunk(r, chunk(chunkMessage(16, new Uint8Array(size)).at(-1)!), 0);
    expect(r.pending.size).toBe(16);
    expect(r.pending.has(0)).toBe(false);
    expect(r.dropped).toBe(1);
    // Real bytes past the byte bound evict the oldest partial messages.
    const whole = createReassembler({ maxMessageBytes: big });
    for (let id = 0; id < 3; id++) {
      const frames = chunkMessage(id, new Uint8Array(big));
      for (const f of frames.slice(0, -1)) pushChunk(whole, chunk(f), 0);
      expect(whole.pendingBytes).toBeLessThanOrEqual(2 * big);
    }
    expect(whole.pending.has(0)).toBe(false);
    expect(whole.dropped).toBeGreaterThan(0);
    // A real message still gets through, and its bytes are released when it completes.
    let out: Uint8Array | undefined;
    for (const f of chunkMessage(99, new Uint8Array(big).fill(7))) {
      const p = pushChunk(r, chunk(f), 0);
      if (p.ok && p.value) out = p.value.bytes;
    }
    expect(out?.length).toBe(big);
    expect(r.pending.has(99)).toBe(false);
    expect(r.pendingBytes).toBe([...r.pending.values()].reduce((sum, e) => sum + e.held, 0));
  });

  it('expires partial messages older than the timeout, not younger ones', () => {
    const r = createReassembler();
    pushChunk(r, chunk(chunkMessage(1, new Uint8Array(70_000))[0]!), 1000);
    pushChunk(r, chunk(chunkMessage(2, new Uint8Array(70_000))[0]!), 2000);
    expect(expirePending(r, 3000, 1000)).toBe(1);
    expect([...r.pending.keys()]).toEqual([2]);
    expect(r.dropped).toBe(1);
    expect(expirePending(r, 3000, 1000)).toBe(0);
  });
});

describe('utf8', () => {
  it('round-trips any text, lone surrogates as U+FFFD, a leading BOM kept', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (text) => {
        expect(utf8Decode(utf8Encode(text))).toBe(text);
      }),
      { seed: 41, numRuns: 200 },
    );
    expect([...utf8Encode('\ud800')]).toEqual([0xef, 0xbf, 0xbd]);
    expect(utf8Decode(Uint8Array.of(0xef, 0xbb, 0xbf, 0x61))).toBe('\ufeffa');
    expect([...utf8Encode('é€😀')]).toEqual([0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80]);
  });

  it('refuses malformed input: overlong, surrogates, truncated, out of range', () => {
    for (const bad of [
      [0xc0, 0xaf], // overlong '/'
      [0xe0, 0x80, 0xaf], // overlong
      [0xed, 0xa0, 0x80], // U+D800
      [0xe2, 0x82], // truncated
      [0xf4, 0x90, 0x80, 0x80], // past U+10FFFF
      [0x80], // a lone continuation byte
      [0xff],
    ]) {
      expect({ bad, text: utf8Decode(Uint8Array.from(bad)) }).toEqual({ bad, text: undefined });
    }
  });
});
