/**
 * Named error classes of the core layer. They are matched by `name` (comlink carries only
 * name, message and stack), and each carries a machine-readable `code` for counting.
 */

export type CodecErrorCode =
  | 'truncated'
  | 'extended'
  | 'bad-magic'
  | 'bad-version'
  | 'bad-kind'
  | 'bad-field'
  | 'bad-length'
  | 'checksum'
  | 'bad-index'
  | 'non-finite'
  | 'too-large'
  | 'duplicate-chunk'
  | 'bad-json'
  | 'fp16-overflow';

/** Raised (or returned) by the wire codec for any buffer it will not accept. */
export class CodecError extends Error {
  override readonly name = 'CodecError';
  constructor(
    readonly code: CodecErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export type ProtocolErrorCode = 'invalid-message' | 'too-large' | 'bad-json';

/** A control or signaling message that fails its schema. `issues` says where and why. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
    readonly issues: readonly string[] = [],
  ) {
    super(message);
  }
}

/** A policy was configured with values it cannot work with (e.g. a negative global batch). */
export class PolicyError extends Error {
  override readonly name = 'PolicyError';
  constructor(
    readonly code: 'bad-config' | 'bad-input',
    message: string,
  ) {
    super(message);
  }
}
