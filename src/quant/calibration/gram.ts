import type { Model } from '../../ir/graph.js';
import { Builder } from '../../ir/builder.js';
import type { PassEngine } from '../../passes/engine.js';
import type { SessionOptions } from '../../runtime/session.js';
import { assertFinite, runProbe } from './collect.js';

/** XᵀX of one linear layer input over every calibration token: what GPTQ, AWQ and importance RTN weigh errors with. */
export interface Gram {
  /** Input width K. */
  k: number;
  /** [K, K] Σ_t x_t x_tᵀ (row-major, symmetric). */
  sum: Float32Array;
  /** Tokens summed. */
  tokens: number;
}

export interface GramOptions {
  engine: PassEngine;
  session?: SessionOptions;
  onProgress?: (done: number, total: number) => void;
  /** Most bytes of Gram matrices held by one probe run; more inputs re-run the windows (default 1 GiB). */
  chunkBytes?: number;
  /**
   * Streaming: receives each layer's sums as soon as the layer-by-layer probe has them, and they are
   * then dropped (not returned): memory holds one layer's Gram matrices, whatever the model's depth.
   */
  onLayer?: (grams: Map<string, Gram>) => Promise<void>;
}

/**
 * Σ xxᵀ of each named activation (its last axis is K) over the windows. onnxruntime computes each
 * window's XᵀX as a Gemm (transA) inside the probe graph (T·K² flops at GEMM speed, K² floats back), and
 * only the sums are kept: memory is the Gram matrices, not the activations.
 */
export async function collectGrams(model: Model, windows: ArrayLike<number>[], inputs: { name: string; k: number }[], opts: GramOptions): Promise<Map<string, Gram>> {
  const out = new Map<string, Gram>();
  const budget = opts.onLayer ? Infinity : opts.chunkBytes ?? 2 ** 30;
  const chunks: { name: string; k: number }[][] = [];
  let bytes = 0;
  for (const i of inputs) {
    const b = i.k * i.k * 4;
    if (!chunks.length || bytes + b > budget) { chunks.push([]); bytes = 0; }
    chunks[chunks.length - 1].push(i);
    bytes += b;
  }
  let tokens = 0;
  for (const w of windows) tokens += w.length;
  for (const [c, chunk] of chunks.entries()) {
    const gramOf = new Map(chunk.map((i) => [`${i.name}/gram`, i]));
    for (const i of chunk) out.set(i.name, { k: i.k, sum: new Float32Array(i.k * i.k), tokens: 0 });
    await runProbe(model, windows, [...gramOf.keys()], (g) => {
      const b = new Builder(g);
      for (const [gramName, i] of gramOf) {
        const x = b.op('Reshape', [g.mustValue(i.name), b.constI64([-1, i.k])], {}, { name: `${i.name}/gram_rows` });
        b.op('Gemm', [x, x], { transA: 1 }, { name: `${i.name}/gram_mm`, output: gramName });
      }
    }, (name, t, w) => {
      const i = gramOf.get(name)!;
      assertFinite(t.data, i.name, w);
      const gram = out.get(i.name)!;
      const d = t.data;
      for (let j = 0; j < d.length; j++) gram.sum[j] += d[j];
    }, {
      engine: opts.engine, session: { ...opts.session, prepack: false }, batchTokens: 1024,
      onProgress: opts.onProgress && ((d, t) => opts.onProgress!(c * t + d, chunks.length * t)),
      onStageDone: opts.onLayer && (async (produced) => {
        const done = new Map<string, Gram>();
        for (const name of produced) { const i = gramOf.get(name)!; const gram = out.get(i.name)!; gram.tokens = tokens; done.set(i.name, gram); out.delete(i.name); }
        if (done.size) await opts.onLayer!(done);
      }),
    });
  }
  for (const gram of out.values()) gram.tokens = tokens;
  return out;
}
