import type { Model } from '../ir/graph.js';
import { createSession, ort } from '../runtime/session.js';
import { buildGradientGraph, gradName } from '../autodiff/engine.js';

export type FloatArray = Float32Array | Float64Array;

export interface GradCheckOptions {
  loss: string;
  /** Float graph inputs to check (each must be in `feeds`). */
  wrt: string[];
  /** Every graph input's value. */
  feeds: Record<string, ort.Tensor>;
  /** Central-difference step. */
  step: number;
  /** Check at most this many elements per input (evenly spread), to bound run time. */
  maxElements?: number;
  /** onnxruntime optimisation level (float64 models need 'basic': some 'all' fusions have float-only kernels). */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
}

export interface GradCheckResult {
  name: string;
  /** max |analytic - numeric| / max(max |numeric|, 1e-3) over the checked elements. */
  relError: number;
  maxAbsGrad: number;
  checked: number;
}

/**
 * Compare the gradient graph's dL/dx with central finite differences of the forward graph
 * (run with x ± step, one element at a time).
 */
export async function gradCheck(forward: Model, opts: GradCheckOptions): Promise<GradCheckResult[]> {
  const gm = buildGradientGraph(forward, { loss: opts.loss, wrt: opts.wrt });
  const gs = await createSession(gm, { threads: 1, optimization: opts.optimization });
  const fs = await createSession(forward, { threads: 1, optimization: opts.optimization });
  try {
    const gout = await gs.run(opts.feeds);
    const lossAt = async (feeds: Record<string, ort.Tensor>) => Number((await fs.run(feeds, [opts.loss]))[opts.loss].data[0]);
    const results: GradCheckResult[] = [];
    for (const name of opts.wrt) {
      const base = opts.feeds[name];
      const analytic = gout[gradName(name)].data as FloatArray;
      const n = base.size;
      const stride = Math.max(1, Math.floor(n / (opts.maxElements ?? n)));
      let maxDiff = 0, maxNum = 0, checked = 0;
      for (let i = 0; i < n; i += stride) {
        const data = (base.data as FloatArray).slice() as FloatArray;
        const x0 = data[i];
        // The stored (rounded) perturbed values give the exact step taken.
        const at = async (x: number): Promise<[number, number]> => {
          data[i] = x;
          return [await lossAt({ ...opts.feeds, [name]: new ort.Tensor(base.type, data.slice(), base.dims) }), data[i]];
        };
        const [lp, xp] = await at(x0 + opts.step);
        const [lm, xm] = await at(x0 - opts.step);
        const num = (lp - lm) / (xp - xm);
        maxDiff = Math.max(maxDiff, Math.abs(num - analytic[i]));
        if (!Number.isFinite(analytic[i]) || !Number.isFinite(num)) maxDiff = Infinity;
        maxNum = Math.max(maxNum, Math.abs(num));
        checked++;
      }
      results.push({ name, relError: maxDiff / Math.max(maxNum, 1e-3), maxAbsGrad: maxNum, checked });
    }
    return results;
  } finally {
    await gs.release();
    await fs.release();
  }
}
