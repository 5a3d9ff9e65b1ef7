import type { Model } from '../ir/graph.js';
import { inferDtypes } from '../ir/types.js';
import { runProbe } from '../quant/calibration/collect.js';
import type { SessionOptions } from '../runtime/session.js';
import { engineOf, type PassEngine } from './engine.js';

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
  engine?: PassEngine;
}

/**
 * Run the FP32 graph on calibration tokens with every float activation exposed as an output and
 * return the largest |x| of each, largest first. `overflows` are those beyond `limit`: in FP16
 * compute they become ±inf (keep their producers in FP32, or scale the model).
 */
export async function activationRanges(model: Model, tokens: ArrayLike<number>, opts: OverflowCheckOptions = {}): Promise<{ ranges: ActivationRange[]; overflows: ActivationRange[]; tokensRun: number }> {
  const types = inferDtypes(model.graph);
  const watched = model.graph.nodes.flatMap((n) => n.outputs.filter((o) => types.get(o) === 'float32').map((o) => ({ value: o.name, node: n.name, op: n.opType })));
  const ctx = opts.ctx ?? 128;
  const windows: ArrayLike<number>[] = [];
  for (let w = 0; w < (opts.maxWindows ?? 8) && w * ctx < tokens.length; w++) windows.push(Array.prototype.slice.call(tokens, w * ctx, (w + 1) * ctx) as number[]);
  const max = new Map<string, number>();
  const sentinels = new Map<string, number>();
  await runProbe(model, windows, watched.map((w) => w.value), () => {}, (name, t) => {
    const d = t.data;
    let mx = max.get(name) ?? 0, sent = 0;
    for (let i = 0; i < d.length; i++) {
      const a = Math.abs(d[i]);
      if (a !== a) mx = Infinity; // NaN
      else if (a >= SENTINEL) sent++;
      else if (a > mx) mx = a;
    }
    max.set(name, mx);
    sentinels.set(name, (sentinels.get(name) ?? 0) + sent);
  }, { engine: engineOf(opts, 'the overflow check'), session: opts.session ?? { threads: 1 } });
  const ranges = watched.map((w) => ({ ...w, maxAbs: max.get(w.value) ?? 0, sentinels: sentinels.get(w.value) ?? 0 })).sort((a, b) => b.maxAbs - a.maxAbs);
  const limit = opts.limit ?? 65504;
  return { ranges, overflows: ranges.filter((r) => r.maxAbs > limit), tokensRun: windows.reduce((n, w) => n + w.length, 0) };
}
