export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay (AdamW), applied as p -= lr·wd·p to the parameters `decays` selects. */
  weightDecay?: number;
}

export interface AdamWState { t: number; m: Float32Array[]; v: Float32Array[] }

export interface Param {
  name: string;
  data: Float32Array;
  /** Whether weight decay applies (by convention matrices and embeddings, not biases or norm scales). */
  decay: boolean;
  /** Multiplies the learning rate for this parameter (default 1): e.g. quantization scales step relative to their size. */
  lrScale?: number;
}

/** AdamW (Loshchilov & Hutter) with bias correction, updating parameters in place; state in float32. */
export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];
  /** Number of updates taken. */
  t = 0;

  constructor(readonly params: Param[], opts: AdamWOptions = {}) {
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0.01;
    this.m = params.map((p) => new Float32Array(p.data.length));
    this.v = params.map((p) => new Float32Array(p.data.length));
  }

  /** One update with gradients in parameter order, each scaled by `gradScale` (clipping). */
  step(grads: ArrayLike<number>[], lr: number, gradScale = 1): void {
    this.t++;
    const { beta1: b1, beta2: b2, eps } = this;
    const c1 = 1 / (1 - b1 ** this.t), c2 = 1 / (1 - b2 ** this.t);
    this.params.forEach((p, k) => {
      const g = grads[k], m = this.m[k], v = this.v[k], w = p.data;
      if (g.length !== w.length) throw new Error(`AdamW: gradient of ${p.name} has ${g.length} elements, parameter ${w.length}`);
      const plr = lr * (p.lrScale ?? 1);
      const decay = p.decay ? 1 - plr * this.weightDecay : 1;
      for (let i = 0; i < w.length; i++) {
        const gi = g[i] * gradScale;
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        w[i] = w[i] * decay - (plr * (m[i] * c1)) / (Math.sqrt(v[i] * c2) + eps);
      }
    });
  }

  /** Optimizer state for checkpoints (live arrays, in parameter order). */
  state(): AdamWState { return { t: this.t, m: this.m, v: this.v }; }

  /** Continue from a checkpoint's state. */
  restore(s: AdamWState): void {
    if (s.m.length !== this.params.length || s.v.length !== this.params.length) throw new Error('AdamW: state has a different number of parameters');
    this.params.forEach((p, k) => {
      if (s.m[k].length !== p.data.length || s.v[k].length !== p.data.length) throw new Error(`AdamW: state of ${p.name} has the wrong size`);
      this.m[k].set(s.m[k]);
      this.v[k].set(s.v[k]);
    });
    this.t = s.t;
  }
}
