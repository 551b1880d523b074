/** The few statistics the benchmarks share. */

/** The median (the mean of the middle two for an even count); 0 for no samples. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2
}

/** `x` rounded to `digits` decimals, for the report. */
export function round(x: number, digits = 2): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

/**
 * The `p`-th percentile (0..100) by the nearest-rank method: the smallest sample with at least
 * p % of the samples at or below it (so p99 of fewer than 100 samples is the maximum); 0 for no samples.
 */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return 0
  const s = [...xs].sort((a, b) => a - b)
  const rank = Math.min(s.length, Math.max(1, Math.ceil((p / 100) * s.length)))
  return s[rank - 1] ?? 0
}
