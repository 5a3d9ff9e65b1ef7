export interface Stats { mean: number; p50: number; p95: number; min: number; max: number; n: number }

/** Summary statistics (percentiles by linear interpolation, as numpy's default). */
export function stats(xs: number[]): Stats {
  if (!xs.length) return { mean: NaN, p50: NaN, p95: NaN, min: NaN, max: NaN, n: 0 };
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => {
    const i = (s.length - 1) * p;
    const lo = Math.floor(i), hi = Math.ceil(i);
    return s[lo] + (s[hi] - s[lo]) * (i - lo);
  };
  return { mean: s.reduce((a, b) => a + b, 0) / s.length, p50: q(0.5), p95: q(0.95), min: s[0], max: s[s.length - 1], n: s.length };
}
