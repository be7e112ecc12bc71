/** The wire format: message codec, frames and byte sizes (layout specified in codec.ts). */

export * from './checksum';
export * from './codec';
export * from './fp16';
export * from './frames';
export * from './sizes';
export * from './utf8';
