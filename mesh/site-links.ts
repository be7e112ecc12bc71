/**
 * Site links as people write them (scenario files, `--site-links`): Mbit/s and ms inside a
 * site, between sites, and for named site pairs. Checked here once, then turned into the
 * shaper's SiteShaping (bits per second).
 *
 * @example siteShapingFrom(v.parse(SiteLinksSchema, { inter: { mbps: 5, latencyMs: 40 } }))
 */

import * as v from 'valibot';
import type { SiteShaping } from './shaper';

const SITE = /^[A-Za-z0-9_-]{1,64}$/;

const SiteLinkSchema = v.strictObject({
  // At least 1 kbit/s, as --uplink-mbps: below that a frame's pacing delay overflows timers.
  mbps: v.optional(v.pipe(v.number(), v.finite(), v.minValue(0.001))),
  latencyMs: v.optional(v.pipe(v.number(), v.finite(), v.minValue(0), v.maxValue(10_000))),
});

export const SiteLinksSchema = v.strictObject({
  intra: v.optional(SiteLinkSchema),
  inter: v.optional(SiteLinkSchema),
  pairs: v.optional(
    v.array(
      v.strictObject({
        a: v.pipe(v.string(), v.regex(SITE)),
        b: v.pipe(v.string(), v.regex(SITE)),
        ...SiteLinkSchema.entries,
      }),
    ),
  ),
});

/** One kind of link between sites: its cap in Mbit/s and its added latency in ms. */
export type SiteLink = v.InferOutput<typeof SiteLinkSchema>;
export type SiteLinks = v.InferOutput<typeof SiteLinksSchema>;

const toShape = (l: SiteLink | undefined) =>
  l === undefined
    ? undefined
    : {
        ...(l.mbps === undefined ? {} : { bps: l.mbps * 1e6 }),
        ...(l.latencyMs === undefined ? {} : { latencyMs: l.latencyMs }),
      };

/** The shaper's form of checked site links. */
export function siteShapingFrom(l: SiteLinks): SiteShaping {
  return {
    intra: toShape(l.intra),
    inter: toShape(l.inter),
    pairs: l.pairs?.map((p) => ({ a: p.a, b: p.b, ...toShape(p) })),
  };
}
