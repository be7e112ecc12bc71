/** The MeshLogger of a browser peer: the console, one line per event with its fields. */

import type { MeshLogger } from '../../mesh';

/** Debug lines go to console.debug, hidden unless the devtools' "Verbose" level is on. */
export function consoleLogger(prefix = 'dlion'): MeshLogger {
  return (level, message, fields) => {
    const line = `[${prefix}] ${message}`;
    const args: unknown[] = fields === undefined ? [line] : [line, fields];
    if (level === 'error') console.error(...args);
    else if (level === 'warn') console.warn(...args);
    else if (level === 'info') console.info(...args);
    else console.debug(...args);
  };
}
