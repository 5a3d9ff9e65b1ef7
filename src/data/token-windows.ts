import { UsageError } from '../util/errors.js';

/** 32-bit mix of (seed, step, row): batches depend only on these, so a resumed run sees the same data. */
function mix(a: number, b: number, c: number): number {
  let h = (a ^ 0x9e3779b9) >>> 0;
  for (const x of [b, c]) {
    h = Math.imul(h ^ x, 0x85ebca6b) >>> 0;
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35) >>> 0;
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/** Random fixed-length windows of a token stream, addressed by (step, row). */
export class TokenWindows {
  constructor(readonly tokens: ArrayLike<number>, readonly seq: number, readonly seed = 0) {
    if (seq < 2) throw new UsageError(`sequence length must be at least 2, got ${seq}`);
    if (tokens.length < seq) throw new UsageError(`the training text has ${tokens.length} tokens, fewer than one window of ${seq}`);
  }

  /** Number of distinct window starts. */
  get starts(): number { return this.tokens.length - this.seq + 1; }

  /** ids [batch, seq] for optimisation step `step`. */
  batch(step: number, batch: number): BigInt64Array {
    const out = new BigInt64Array(batch * this.seq);
    for (let r = 0; r < batch; r++) {
      const start = mix(this.seed, step, r) % this.starts;
      for (let t = 0; t < this.seq; t++) out[r * this.seq + t] = BigInt(this.tokens[start + t]);
    }
    return out;
  }
}
