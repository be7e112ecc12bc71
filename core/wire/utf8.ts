/**
 * UTF-8 encoding and strict decoding. core/ has no TextEncoder/TextDecoder (they are platform
 * globals, not ECMAScript), and control messages are small, so a plain loop is enough.
 */

/** UTF-8 bytes of `text`; lone surrogates become U+FFFD, as TextEncoder does. */
export function utf8Encode(text: string): Uint8Array {
  const out = new Uint8Array(text.length * 3);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      } else c = 0xfffd;
    } else if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    if (c < 0x80) out[n++] = c;
    else if (c < 0x800) {
      out[n++] = 0xc0 | (c >> 6);
      out[n++] = 0x80 | (c & 0x3f);
    } else if (c < 0x10000) {
      out[n++] = 0xe0 | (c >> 12);
      out[n++] = 0x80 | ((c >> 6) & 0x3f);
      out[n++] = 0x80 | (c & 0x3f);
    } else {
      out[n++] = 0xf0 | (c >> 18);
      out[n++] = 0x80 | ((c >> 12) & 0x3f);
      out[n++] = 0x80 | ((c >> 6) & 0x3f);
      out[n++] = 0x80 | (c & 0x3f);
    }
  }
  return out.slice(0, n);
}

/** The text in `bytes`, or undefined if they are not well-formed UTF-8 (overlong, surrogates, truncated). */
export function utf8Decode(bytes: Uint8Array): string | undefined {
  const parts: string[] = [];
  let codes: number[] = [];
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    let c: number;
    let need: number;
    let min: number;
    if (b < 0x80) {
      c = b;
      need = 0;
      min = 0;
    } else if (b >= 0xc2 && b <= 0xdf) {
      c = b & 0x1f;
      need = 1;
      min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
      c = b & 0x0f;
      need = 2;
      min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf4) {
      c = b & 0x07;
      need = 3;
      min = 0x10000;
    } else return undefined;
    for (let j = 1; j <= need; j++) {
      const cont = bytes[i + j];
      if (cont === undefined || (cont & 0xc0) !== 0x80) return undefined;
      c = (c << 6) | (cont & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return undefined;
    if (c >= 0x10000) {
      c -= 0x10000;
      codes.push(0xd800 + (c >> 10), 0xdc00 + (c & 0x3ff));
    } else codes.push(c);
    i += need + 1;
    if (codes.length > 4096) {
      parts.push(String.fromCharCode(...codes));
      codes = [];
    }
  }
  parts.push(String.fromCharCode(...codes));
  return parts.join('');
}
