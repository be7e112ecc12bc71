/**
 * The headless edge peer (`dlion kiosk`, DESIGN.md 8): flags, state directory, preflight
 * checks and the run loop around the same mesh/ and worker/ code as the browser.
 */

export { runKioskCli } from './cli';
export { EXPORT_USAGE, runExportCli } from './export-cli';
export { IDENTITY_FILE, KioskStateError, readIdentity, writeIdentity } from './identity';
export { readModelSource, STATE_TASK_FILE, writeExport } from './model-io';
export { EXIT, KIOSK_FLAGS, type KioskOptions, kioskHelp, parseKioskArgs } from './options';
export { type KioskIo, LEAVE_TIMEOUT_MS, runKiosk } from './run';
