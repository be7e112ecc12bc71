/**
 * A small seeded PRNG. core/ never calls Math.random: randomness is injected, and where a
 * caller needs reproducible draws (shards, jitter in tests, benchmarks) it passes this.
 */

/** A 32-bit-state generator (mulberry32) returning floats in [0, 1); same seed, same sequence. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
