/**
 * What crosses the Worker boundary when a call can fail: comlink structured-clones plain data
 * and keeps only name, message and stack of a thrown Error, so errors travel as plain objects.
 */

/** A named error reduced to plain data; `code` says which check failed. */
export interface PlainError {
  readonly name: string;
  readonly code: string;
  readonly message: string;
}

export type WorkerResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: PlainError };

/** Any thrown value as a PlainError: the error's own `code` when it has one, else 'unknown'. */
export function toPlainError(e: unknown): PlainError {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return { name: e.name, code: typeof code === 'string' ? code : 'unknown', message: e.message };
  }
  return { name: 'Error', code: 'unknown', message: String(e) };
}

export const workerOk = <T>(value: T): WorkerResult<T> => ({ ok: true, value });

export const workerErr = <T = never>(error: PlainError): WorkerResult<T> => ({ ok: false, error });
