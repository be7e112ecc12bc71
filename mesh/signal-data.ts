/** Validation of simple-peer signal payloads at the mesh's edges (schema in core/protocol). */

import * as v from 'valibot';
import { type SignalData, SignalDataSchema } from '../core';

/** The payload as SignalData, or undefined when the schema refuses it. */
export function parseSignalData(data: unknown): SignalData | undefined {
  const r = v.safeParse(SignalDataSchema, data);
  return r.success ? r.output : undefined;
}
