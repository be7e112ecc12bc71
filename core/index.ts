/**
 * The pure core of DLion mesh: algorithms, baselines, wire codec and protocol schemas.
 * No DOM, no Node built-ins, no tfjs, no timers: time and randomness come in as arguments.
 * This file is the folder's public face; other folders import from here only.
 */

export * from './bandwidth-estimator';
export * from './baselines';
export * from './dkt';
export * from './errors';
export * from './ids';
export * from './membership';
export * from './prioritizer';
export * from './protocol';
export * from './random';
export * from './result';
export * from './robust';
export * from './staleness-gate';
export * from './strategies';
export * from './strategy-names';
export * from './top-k';
export * from './wdb';
export * from './wire';
