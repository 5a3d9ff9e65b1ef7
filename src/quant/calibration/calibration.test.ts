import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StreamingHistogram, ChannelAbsMax } from './histogram.js';
import { absThreshold, entropyThreshold, mseThreshold, percentileOf } from './thresholds.js';

/** Seeded standard normals (Box–Muller over a 32-bit LCG), so the tests are deterministic. */
function gaussians(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const u = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return (s + 0.5) / 2 ** 32; };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(u())), a = 2 * Math.PI * u();
    out[i] = r * Math.cos(a);
    if (i + 1 < n) out[i + 1] = r * Math.sin(a);
  }
  return out;
}

/** Histogram of |x| for N(0, 1) from the normal density, no sampling noise: bins over [0, range]. */
function gaussianCounts(bins: number, range: number): Float64Array {
  const w = range / bins, out = new Float64Array(bins);
  for (let i = 0; i < bins; i++) { const c = (i + 0.5) * w; out[i] = 2 * Math.exp(-c * c / 2) / Math.sqrt(2 * Math.PI) * w; }
  return out;
}

test('min/max and |x| max are exact; counts add up', () => {
  const h = new StreamingHistogram(64);
  h.add(Float32Array.of(0.5, -2, 1));
  h.add(Float32Array.of(3, -0.25));
  assert.equal(h.min, -2);
  assert.equal(h.max, 3);
  assert.equal(h.count, 5);
  assert.equal(absThreshold(h, 'minmax'), 3);
  const total = h.absCounts().reduce((a, b) => a + b, 0);
  assert.equal(total, 5);
  // Negative values are binned by |x| separately. -2 was the range edge (last bin, inclusive) when it
  // arrived; the range then doubled to 4 and that bin merged into bin 31 = [1.9375, 2).
  assert.equal(h.range, 4);
  assert.equal(h.neg[31], 1);
  assert.equal(h.pos[Math.floor(3 / 4 * 64)], 1);
});

test('all-zero tensor: threshold 0 for every method, no crash', () => {
  const h = new StreamingHistogram(256);
  h.add(new Float32Array(1000));
  for (const m of ['minmax', 'percentile', 'entropy', 'mse'] as const) assert.equal(absThreshold(h, m), 0);
});

test('percentile of a known distribution: 99.99th of |N(0,1)| is 3.8906 (streamed, with rebinning)', () => {
  const h = new StreamingHistogram(2048);
  // Small-range chunk first so the range has to grow (doubling + pairwise merge) several times.
  h.add(Float32Array.of(0.01, -0.02));
  for (let k = 0; k < 8; k++) h.add(gaussians(500_000, 17 + k));
  const t = absThreshold(h, 'percentile', { percentile: 99.99 });
  assert.ok(Math.abs(t - 3.8906) < 0.04, `got ${t}`);
  // The 50th percentile of |N(0,1)| is 0.6745.
  assert.ok(Math.abs(percentileOf(h.absCounts(), h.binWidth, 50) - 0.6745) < 0.01);
});

test('percentile of a uniform histogram interpolates inside the bin', () => {
  const counts = new Float64Array(100).fill(1);
  assert.ok(Math.abs(percentileOf(counts, 0.01, 99) - 0.99) < 1e-9);
  assert.ok(Math.abs(percentileOf(counts, 0.01, 12.5) - 0.125) < 1e-9);
});

test('mse threshold of N(0,1) for int8 is the known optimum 3.92σ', () => {
  // Continuous optimum of (T/127)²/12·P(|x|≤T) + E[(|x|−T)²; |x|>T] is T = 3.921 (ACIQ: 3.92σ at 8 bits).
  const t = mseThreshold(gaussianCounts(4096, 8), 8 / 4096, 127);
  assert.ok(Math.abs(t - 3.921) < 0.01, `got ${t}`);
  // Fewer levels clip harder (ACIQ 4 bits: 2.55σ; symmetric int4 has 7 levels per side).
  const t4 = mseThreshold(gaussianCounts(4096, 8), 8 / 4096, 7);
  assert.ok(t4 > 2.3 && t4 < 2.7, `got ${t4}`);
});

test('entropy threshold clips a lone outlier and keeps a Gaussian body', () => {
  // N(0,1) body over [0, 4σ) in bins 0..1023, one outlier at 8σ (bin 2047): min/max would give 8.
  const counts = new Float64Array(2048);
  counts.set(gaussianCounts(1024, 4).map((c) => c * 1e6));
  counts[2047] = 1;
  const t = entropyThreshold(counts, 4 / 1024, 128);
  assert.ok(t > 2.5 && t < 4.1, `got ${t}`);
  // A body whose mass sits in the first 128 bins needs no more: the threshold is those 128 bins.
  const small = new Float64Array(2048);
  small.fill(5, 0, 128);
  assert.equal(entropyThreshold(small, 0.5, 128), 64);
});

test('entropy survives degenerate histograms (one bin, fewer bins than levels)', () => {
  const one = new Float64Array(2048);
  one[0] = 1e6;
  const t = entropyThreshold(one, 1, 128);
  assert.ok(t >= 128 && Number.isFinite(t));
  assert.equal(entropyThreshold(new Float64Array(64).fill(1), 1, 128), 64);
  const h = new StreamingHistogram(2048);
  h.add(new Float32Array(100).fill(1e-30));
  assert.ok(absThreshold(h, 'entropy') > 0 && absThreshold(h, 'entropy') <= Math.fround(1e-30));
});

test('histogram memory is constant as data grows', () => {
  const h = new StreamingHistogram(2048);
  h.add(gaussians(10_000, 1));
  const bytes = h.byteSize;
  for (let k = 0; k < 20; k++) { const g = gaussians(50_000, 2 + k); for (let i = 0; i < g.length; i++) g[i] *= 1 + k; h.add(g); }
  assert.equal(h.byteSize, bytes);
  assert.equal(h.pos.length, 2048);
  assert.equal(h.count, 10_000 + 20 * 50_000);
  assert.equal(h.absCounts().reduce((a, b) => a + b, 0), h.count);
});

test('per-channel |x| max', () => {
  const c = new ChannelAbsMax(3);
  c.add(Float32Array.of(1, -5, 2, -3, 4, 0));
  assert.deepEqual([...c.max], [3, 5, 2]);
  assert.throws(() => c.add(new Float32Array(4)), /multiple of 3/);
});
