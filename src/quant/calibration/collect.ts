import { cloneModel, type Graph, type Model, type Node, type Value } from '../../ir/graph.js';
import type { PassEngine, RunTensor } from '../../passes/engine.js';
import type { DType } from '../../ir/dtype.js';
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
 * nodes computing them from the model's values), run on each window; `onValue` receives every output
 * of every run (one window, or several of equal length up to `batchTokens` tokens stacked on the
 * batch axis). Everything past the probed values (e.g. the LM head) is removed, so it is not run.
 *
 * Run layer by layer: one session per decoder layer (`stagesOf`), each window's hidden state carried
 * from one to the next in memory. onnxruntime then holds one layer's weights at a time, not a second
 * copy of the whole model beside quantlab's (GPTQ's peak memory on a large model), and the results
 * are the same as one whole-model run's.
 */
export async function runProbe(
  model: Model, windows: ArrayLike<number>[], outputs: string[], extend: (g: Graph) => void,
  onValue: (name: string, tensor: RunTensor, window: number) => void,
  opts: {
    engine: PassEngine; session?: SessionOptions; onProgress?: (done: number, total: number) => void; batchTokens?: number;
    /** Called when a stage has run on every window: each of `outputs` it produced is complete. */
    onStageDone?: (produced: string[]) => Promise<void>;
  },
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
  g.sortTopologically();
  // Equal-length windows run together up to batchTokens (fewer, larger GEMMs and fetches).
  const groups: { first: number; ids: BigInt64Array; batch: number }[] = [];
  for (let i = 0; i < windows.length;) {
    const len = windows[i].length;
    let j = i + 1;
    while (j < windows.length && windows[j].length === len && (j - i + 1) * len <= (opts.batchTokens ?? 0)) j++;
    const ids = new BigInt64Array((j - i) * len);
    for (let w = i; w < j; w++) for (let t = 0; t < len; t++) ids[(w - i) * len + t] = BigInt(windows[w][t]);
    groups.push({ first: i, ids, batch: j - i });
    i = j;
  }
  const stage = stagesOf(g);
  const stages = Math.max(0, ...stage.values()) + 1;
  const outStage = (v: Value) => Math.max(0, v.producer ? stage.get(v.producer)! : 0);
  // Values a later stage reads from an earlier one (the residual stream), and the last stage reading each.
  const lastReader = new Map<Value, number>();
  for (const n of g.nodes) {
    for (const v of n.inputs) {
      if (!v?.producer || stage.get(v.producer)! < 0) continue;
      const from = stage.get(v.producer)!, to = stage.get(n)!;
      if (to > from) lastReader.set(v, Math.max(lastReader.get(v) ?? 0, to));
    }
  }
  const carried = groups.map(() => new Map<string, RunTensor>());
  // Element type and rank of each carried value, from the stage that produced it (onnxruntime tensors name their type).
  const carriedTypes = new Map<string, { dtype: DType; rank: number }>();
  for (let s = 0; s < stages; s++) {
    const sub = stages === 1 ? probe : cloneModel(probe);
    const sg = sub.graph;
    const feeds = new Map<string, string>(); // input name in `sub` → carried value name
    if (stages > 1) {
      sg.outputs.splice(0, sg.outputs.length);
      for (const [v, last] of lastReader) {
        const from = stage.get(v.producer!)!;
        if (from < s && last >= s) {
          const old = sg.mustValue(v.name);
          const t = carriedTypes.get(v.name)!;
          const input = sg.addInput(sg.uniqueName(`${v.name}/carried`), { dtype: t.dtype, shape: Array.from({ length: t.rank }, (_, i) => `d${i}`) });
          sg.replaceAllUses(old, input);
          feeds.set(input.name, v.name);
        } else if (from === s) sg.markOutput(sg.mustValue(v.name));
      }
      for (const name of outputs) if (outStage(g.mustValue(name)) === s) sg.markOutput(sg.mustValue(name));
      sg.removeDeadNodes();
      sg.removeUnusedInitializers();
      for (let i = sg.inputs.length - 1; i >= 0; i--) if (feeds.has(sg.inputs[i].name) && sg.inputs[i].uses.size === 0) { feeds.delete(sg.inputs[i].name); sg.inputs.splice(i, 1); }
    }
    const fetch = sg.outputs.map((o) => o.name);
    if (!fetch.length) continue; // a layer index no node has
    const mine = outputs.filter((name) => stages === 1 || outStage(g.mustValue(name)) === s);
    const runner = await opts.engine.open(sub, opts.session);
    try {
      for (const [gi, grp] of groups.entries()) {
        const extra: Record<string, RunTensor> = {};
        for (const [input, name] of feeds) extra[input] = carried[gi].get(name)!;
        const out = await runner.run(grp.ids, grp.batch, fetch, extra);
        for (const name of mine) onValue(name, out[name], grp.first);
        for (const name of fetch) {
          if (!lastReader.has(g.mustValue(name))) continue;
          const t = out[name] as RunTensor & { type?: DType };
          carried[gi].set(name, t);
          carriedTypes.set(name, { dtype: t.type ?? 'float32', rank: t.dims.length });
        }
        // Carried values no later stage reads are dropped.
        for (const name of [...carried[gi].keys()]) if (lastReader.get(g.mustValue(name))! <= s) carried[gi].delete(name);
        opts.onProgress?.(s * windows.length + grp.first + grp.batch, stages * windows.length);
      }
    } finally {
      await runner.release();
    }
    await opts.onStageDone?.(mine);
  }
}

/** A node's decoder layer from its name (`/layers.3/…`, `/model/layers.3/…`, `/transformer/h.3/…`), or −1. */
const LAYER = /(?:^|\/)(?:layers|layer|h|blocks)\.(\d+)\//;

/**
 * Each node's stage: its own layer, or the latest stage among the nodes it reads (so the final norm
 * joins the last layer); −1 for nodes computed from the graph inputs alone (embedding, masks, rotary
 * tables), which every stage reading them recomputes. `g` must be in topological order.
 */
export function stagesOf(g: Graph): Map<Node, number> {
  const stage = new Map<Node, number>();
  for (const n of g.nodes) {
    const m = LAYER.exec(n.name);
    let s = m ? Number(m[1]) : -1;
    for (const v of n.inputs) if (v?.producer) s = Math.max(s, stage.get(v.producer)!);
    stage.set(n, s);
  }
  return stage;
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
