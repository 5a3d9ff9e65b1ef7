/**
 * Streaming statistics of one activation tensor, in constant memory however much data is added:
 * running min / max / count, and a fixed number of bins over [0, range] for |x|, kept separately
 * for x ≥ 0 and x < 0 (so symmetric and asymmetric ranges can both be derived). When a value beyond
 * the range arrives the range doubles and adjacent bins merge pairwise, which is exact: every old
 * bin lies inside one new bin, so no count is ever split or interpolated.
 */
export class StreamingHistogram {
  readonly bins: number;
  /** Counts of x ≥ 0 by |x| bin. */
  readonly pos: Float64Array;
  /** Counts of x < 0 by |x| bin. */
  readonly neg: Float64Array;
  /** Upper edge of the last bin (0 until a non-zero value arrives). */
  range = 0;
  min = Infinity;
  max = -Infinity;
  count = 0;
  /** Zeros seen while the range was still 0 (they go to bin 0 once a range exists). */
  private pendingZeros = 0;

  constructor(bins = 2048) {
    if (!Number.isInteger(bins) || bins < 2 || (bins & (bins - 1)) !== 0) throw new RangeError(`histogram bins must be a power of two ≥ 2, got ${bins}`);
    this.bins = bins;
    this.pos = new Float64Array(bins);
    this.neg = new Float64Array(bins);
  }

  get absMax(): number { return this.count ? Math.max(Math.abs(this.min), Math.abs(this.max)) : 0; }
  get binWidth(): number { return this.range / this.bins; }
  /** Bytes held by the statistics (constant for a given bin count). */
  get byteSize(): number { return this.pos.byteLength + this.neg.byteLength; }

  add(x: ArrayLike<number>): void {
    let mn = this.min, mx = this.max;
    for (let i = 0; i < x.length; i++) { const v = x[i]; if (v < mn) mn = v; if (v > mx) mx = v; }
    if (x.length && !(Number.isFinite(mn) && Number.isFinite(mx))) throw new RangeError('activation contains an infinity');
    this.min = mn; this.max = mx;
    this.count += x.length;
    const amax = Math.max(Math.abs(mn), Math.abs(mx));
    if (amax > this.range) this.grow(amax);
    if (this.range === 0) { this.pendingZeros += x.length; return; }
    const inv = this.bins / this.range;
    const last = this.bins - 1;
    const { pos, neg } = this;
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      if (v >= 0) { const b = (v * inv) | 0; pos[b > last ? last : b]++; } else { const b = (-v * inv) | 0; neg[b > last ? last : b]++; }
    }
  }

  /** Counts of |x| per bin (pos + neg). */
  absCounts(): Float64Array {
    const out = new Float64Array(this.bins);
    for (let i = 0; i < this.bins; i++) out[i] = this.pos[i] + this.neg[i];
    return out;
  }

  private grow(amax: number): void {
    if (this.range === 0) {
      this.range = amax;
      this.pos[0] += this.pendingZeros;
      this.pendingZeros = 0;
      return;
    }
    while (this.range < amax) {
      for (const h of [this.pos, this.neg]) {
        for (let i = 0; i < this.bins / 2; i++) h[i] = h[2 * i] + h[2 * i + 1];
        h.fill(0, this.bins / 2);
      }
      this.range *= 2;
    }
  }
}

/** Running max |x| per channel (the last axis), for SmoothQuant. */
export class ChannelAbsMax {
  readonly max: Float32Array;
  constructor(readonly channels: number) { this.max = new Float32Array(channels); }

  add(x: ArrayLike<number>): void {
    const C = this.channels;
    if (x.length % C !== 0) throw new RangeError(`activation of ${x.length} elements is not a multiple of ${C} channels`);
    const m = this.max;
    for (let i = 0; i < x.length; i += C) {
      for (let c = 0; c < C; c++) { const a = Math.abs(x[i + c]); if (a > m[c]) m[c] = a; }
    }
  }
}
