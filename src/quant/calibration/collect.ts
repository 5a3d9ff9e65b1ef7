import { cloneModel, type Graph, type Model } from '../../ir/graph.js';
import type { PassEngine, RunTensor } from '../../passes/engine.js';
import type { SessionOptions } from '../../runtime/session.js';
import { firstNonFinite } from '../../util/finite.js';
import { ChannelAbsMax, StreamingHistogram } from './histogram.js';

/** Statistics of one activation tensor. */
export interface ActivationStats {
  hist: StreamingHistogram;
  /** Per-channel (last axis) max |x|, when asked for. */
  channels?: ChannelAbsMax;
}

export interface CollectOptions {
  /** Values (by name) to histogram. */
  tensors: string[];
  /** Of those, the ones that also need per-channel max |x| (SmoothQuant). */
  channelTensors?: string[];
  bins?: number;
  engine: PassEngine;
  session?: SessionOptions;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Run `model` (float) on each window of token ids, one window per forward pass, with the requested
 * intermediate values added as graph outputs, and stream them into per-tensor statistics. Memory is
 * bounded by one window's activations plus a fixed histogram per tensor, however many windows.
 */
export async function collectActivationStats(model: Model, windows: ArrayLike<number>[], opts: CollectOptions): Promise<Map<string, ActivationStats>> {
  const channelSet = new Set(opts.channelTensors ?? []);
  const stats = new Map<string, ActivationStats>();
  for (const t of opts.tensors) stats.set(t, { hist: new StreamingHistogram(opts.bins ?? 2048) });
  await runProbe(model, windows, opts.tensors, () => {}, (name, tensor, w) => {
    const data = tensor.data;
    assertFinite(data, name, w);
    const s = stats.get(name)!;
    s.hist.add(data);
    if (channelSet.has(name)) {
      const C = tensor.dims[tensor.dims.length - 1];
      (s.channels ??= new ChannelAbsMax(C)).add(data);
    }
  }, opts);
  return stats;
}

/** Calibration statistics of a NaN/Inf activation would be NaN: refuse, naming the value and the window. */
export function assertFinite(d: Float32Array, name: string, window: number): void {
  const i = firstNonFinite(d);
  if (i >= 0) throw new Error(`calibration: activation '${name}' is ${d[i]} in calibration window ${window} (the float model overflows or holds NaN/Inf on this text)`);
}

/**
 * The one activation probe: a copy of `model` whose outputs are `outputs` (after `extend` may add
 * nodes computing them from the model's values), run on each window, one window per forward pass;
 * `onValue` receives every output of every run (one window, or several of equal length up to
 * `batchTokens` tokens stacked on the batch axis). Everything past the probed values (e.g. the LM
 * head) is removed, so it is not run.
 */
export async function runProbe(
  model: Model, windows: ArrayLike<number>[], outputs: string[], extend: (g: Graph) => void,
  onValue: (name: string, tensor: RunTensor, window: number) => void,
  opts: { engine: PassEngine; session?: SessionOptions; onProgress?: (done: number, total: number) => void; batchTokens?: number },
): Promise<void> {
  const probe = cloneModel(model);
  const g = probe.graph;
  g.outputs.splice(0, g.outputs.length);
  extend(g);
  for (const name of outputs) {
    const v = g.mustValue(name);
    v.type = { dtype: 'float32', shape: v.type?.shape };
    g.markOutput(v);
  }
  g.removeDeadNodes();
  g.removeUnusedInitializers();
  const runner = await opts.engine.open(probe, opts.session);
  try {
    // Equal-length windows run together up to batchTokens (fewer, larger GEMMs and fetches).
    for (let i = 0; i < windows.length;) {
      const len = windows[i].length;
      let j = i + 1;
      while (j < windows.length && windows[j].length === len && (j - i + 1) * len <= (opts.batchTokens ?? 0)) j++;
      const ids = new BigInt64Array((j - i) * len);
      for (let w = i; w < j; w++) for (let t = 0; t < len; t++) ids[(w - i) * len + t] = BigInt(windows[w][t]);
      const out = await runner.run(ids, j - i, outputs);
      for (const name of outputs) onValue(name, out[name], i);
      i = j;
      opts.onProgress?.(i, windows.length);
    }
  } finally {
    await runner.release();
  }
}

/**
 * `n` windows of `ctx` tokens spread evenly over `tokens` (overlapping when the text is short).
 * Throws a RangeError when the text has fewer than 2 tokens.
 */
export function calibrationWindows(tokens: ArrayLike<number>, n: number, ctx: number): ArrayLike<number>[] {
  if (tokens.length < 2) throw new RangeError('calibration text has fewer than 2 tokens');
  const len = Math.min(ctx, tokens.length);
  const last = tokens.length - len;
  return Array.from({ length: n }, (_, i) => {
    const start = n === 1 ? 0 : Math.round((i * last) / (n - 1));
    return Array.prototype.slice.call(tokens, start, start + len) as number[];
  });
}

/**
 * Like `calibrationWindows` over the tokens of `text`, but tokenizes only a slice of text around each
 * window start (evenly spaced by characters, starting at a word boundary), so a large train split
 * costs `n` short encodes instead of one of the whole text.
 */
export function textWindows(text: string, n: number, ctx: number, encode: (s: string) => ArrayLike<number>): ArrayLike<number>[] {
  const out: ArrayLike<number>[] = [];
  for (let i = 0; i < n; i++) {
    for (let span = ctx * 8; ; span *= 2) {
      const whole = span >= text.length;
      let start = whole || n === 1 ? 0 : Math.round((i * (text.length - span)) / (n - 1));
      if (start > 0) { const ws = text.slice(start).search(/\s/); start = ws < 0 ? start : start + ws + 1; }
      const ids = encode(text.slice(start, start + span));
      if (ids.length >= ctx || whole) {
        if (ids.length < 2) throw new RangeError('calibration text has fewer than 2 tokens');
        out.push(Array.prototype.slice.call(ids, 0, ctx) as number[]);
        break;
      }
    }
  }
  return out;
}
