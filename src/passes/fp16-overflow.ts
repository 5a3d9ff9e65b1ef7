import { cloneModel, type Model } from '../ir/graph.js';
import { DecoderRunner } from '../runtime/decoder.js';
import type { ort, SessionOptions } from '../runtime/session.js';
import { inferDtypes } from '../ir/types.js';

/** `maxAbs` ignores masking sentinels (|x| ≥ 1e30, e.g. the additive mask's lowest float), counted in `sentinels`. */
export interface ActivationRange { value: string; node: string; op: string; maxAbs: number; sentinels: number }

/** Values this large are deliberate "minus infinity" masks: FP16 conversion clamps them to ±65504 and softmax still gives 0. */
export const SENTINEL = 1e30;

export interface OverflowCheckOptions {
  /** |x| above this overflows (65504 for FP16). */
  limit?: number;
  /** Tokens per window and the most windows run (default 128 × 8). */
  ctx?: number;
  maxWindows?: number;
  session?: SessionOptions;
}

/**
 * Run the FP32 graph on calibration tokens with every float activation exposed as an output and
 * return the largest |x| of each, largest first. `overflows` are those beyond `limit`: in FP16
 * compute they become ±inf (keep their producers in FP32, or scale the model).
 */
export async function activationRanges(model: Model, tokens: ArrayLike<number>, opts: OverflowCheckOptions = {}): Promise<{ ranges: ActivationRange[]; overflows: ActivationRange[]; tokensRun: number }> {
  const m = cloneModel(model);
  const g = m.graph;
  const types = inferDtypes(g);
  const watched = g.nodes.flatMap((n) => n.outputs.filter((o) => types.get(o) === 'float32').map((o) => ({ v: o, n })));
  for (const { v } of watched) { if (!v.type) v.type = { dtype: 'float32' }; g.markOutput(v); }
  const runner = await DecoderRunner.create(m, opts.session ?? { threads: 1 });
  const ctx = opts.ctx ?? 128;
  const max = new Map<string, number>();
  const sentinels = new Map<string, number>();
  let run = 0;
  try {
    for (let w = 0; w < (opts.maxWindows ?? 8) && w * ctx < tokens.length; w++) {
      const len = Math.min(ctx, tokens.length - w * ctx);
      const ids = new BigInt64Array(len);
      for (let i = 0; i < len; i++) ids[i] = BigInt(tokens[w * ctx + i]);
      const out = await runner.run(ids, 1, {}, watched.map(({ v }) => v.name));
      for (const { v } of watched) {
        const d = (out[v.name] as ort.Tensor).data as Float32Array;
        let mx = max.get(v.name) ?? 0, sent = 0;
        for (let i = 0; i < d.length; i++) {
          const a = Math.abs(d[i]);
          if (a !== a) mx = Infinity; // NaN
          else if (a >= SENTINEL) sent++;
          else if (a > mx) mx = a;
        }
        max.set(v.name, mx);
        sentinels.set(v.name, (sentinels.get(v.name) ?? 0) + sent);
      }
      run += len;
    }
  } finally {
    await runner.release();
  }
  const ranges = watched.map(({ v, n }) => ({ value: v.name, node: n.name, op: n.opType, maxAbs: max.get(v.name) ?? 0, sentinels: sentinels.get(v.name) ?? 0 })).sort((a, b) => b.maxAbs - a.maxAbs);
  const limit = opts.limit ?? 65504;
  return { ranges, overflows: ranges.filter((r) => r.maxAbs > limit), tokensRun: run };
}

/** The activations of `model` whose |max| on `tokens` exceeds the FP16 range (or `opts.limit`). */
export async function fp16OverflowCheck(model: Model, tokens: ArrayLike<number>, opts: OverflowCheckOptions = {}): Promise<ActivationRange[]> {
  return (await activationRanges(model, tokens, opts)).overflows;
}
