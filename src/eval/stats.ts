export interface Stats {
  mean: number; p50: number; p95: number; min: number; max: number; n: number;
  /** Sample standard deviation (absent in older reports). */
  sd?: number;
}

/** Summary statistics (percentiles by linear interpolation, as numpy's default). */
export function stats(xs: number[]): Stats {
  if (!xs.length) return { mean: NaN, p50: NaN, p95: NaN, min: NaN, max: NaN, n: 0, sd: NaN };
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => {
    const i = (s.length - 1) * p;
    const lo = Math.floor(i), hi = Math.ceil(i);
    return s[lo] + (s[hi] - s[lo]) * (i - lo);
  };
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  const sd = s.length > 1 ? Math.sqrt(s.reduce((a, x) => a + (x - mean) ** 2, 0) / (s.length - 1)) : 0;
  return { mean, p50: q(0.5), p95: q(0.95), min: s[0], max: s[s.length - 1], n: s.length, sd };
}
