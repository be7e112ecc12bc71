/**
 * UTF-8 for the wire: the platform's TextEncoder and a strict (fatal) TextDecoder. core/ is
 * compiled without platform types, so the two classes are reached through globalThis with the
 * little of their shape that is used; every runtime DLion runs in has them (browsers, Web
 * Workers, Node 11 and later).
 */

interface Utf8Encoder {
  encode(text: string): Uint8Array;
}
interface Utf8Decoder {
  decode(bytes: Uint8Array): string;
}
const platform = globalThis as unknown as {
  TextEncoder: new () => Utf8Encoder;
  TextDecoder: new (
    label: string,
    options: { readonly fatal: boolean; readonly ignoreBOM: boolean },
  ) => Utf8Decoder;
};
const encoder = new platform.TextEncoder();
// fatal: malformed input is refused, not replaced; ignoreBOM: a leading U+FEFF is kept, so
// that what a peer sent is what we read.
const decoder = new platform.TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** UTF-8 bytes of `text`; lone surrogates become U+FFFD. */
export const utf8Encode = (text: string): Uint8Array => encoder.encode(text);

/** The text in `bytes`, or undefined if they are not well-formed UTF-8 (overlong, surrogates, truncated). */
export function utf8Decode(bytes: Uint8Array): string | undefined {
  try {
    return decoder.decode(bytes);
  } catch {
    return undefined;
  }
}
