/**
 * Exact percentiles over every collected sample (nearest-rank on one sorted copy): a
 * benchmark run keeps at most a few hundred thousand numbers, so no sketch is needed.
 */
export interface Summary {
  count: number;
  min: number | null;
  mean: number | null;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
}

/** The nearest-rank percentile `p` (0-100] of ascending `sorted`; null when empty. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${p}`);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[rank - 1]!;
}

export function summarize(samples: readonly number[], decimals = 2): Summary {
  const sorted = Float64Array.from(samples).sort();
  const list = sorted as unknown as number[];
  const round = (v: number | null) => (v === null ? null : Number(v.toFixed(decimals)));
  const mean = sorted.length === 0 ? null : sorted.reduce((a, b) => a + b, 0) / sorted.length;
  return {
    count: sorted.length,
    min: round(sorted.length ? sorted[0]! : null),
    mean: round(mean),
    p50: round(percentile(list, 50)),
    p90: round(percentile(list, 90)),
    p99: round(percentile(list, 99)),
    max: round(sorted.length ? sorted[sorted.length - 1]! : null),
  };
}
