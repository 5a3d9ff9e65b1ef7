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
  /** About how wide the blocks of XᵀX computed apart are (default 512). */
  blockWidth?: number;
}

/** Bounds of a Gram matrix's diagonal blocks, about `width` wide, at most 4 (3,072 → 4 × 768). */
function blockBounds(k: number, width: number): number[] {
  const parts = Math.max(1, Math.min(4, Math.round(k / width)));
  return Array.from({ length: parts + 1 }, (_, p) => Math.round((p * k) / parts));
}

/** One block of one input's Gram matrix, as a probe output: rows [r0, r1) × columns [c0, c1). */
interface GramBlock { input: { name: string; k: number }; r0: number; r1: number; c0: number; c1: number }

/**
 * Σ xxᵀ of each named activation (its last axis is K) over the windows. onnxruntime computes each
 * window's XᵀX inside the probe graph, as the Gemms (transA) of the upper blocks only (XᵀX is
 * symmetric: 4 × 4 blocks are 10/16 of the flops and floats back; the lower ones are mirrored
 * once the sums are complete), and only the sums are kept: memory is the Gram matrices, not the
 * activations.
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
  const width = opts.blockWidth ?? 512;
  // A Gram matrix whose every window is summed: the lower blocks filled from the upper ones.
  const finish = (gram: Gram) => { mirrorLower(gram, blockBounds(gram.k, width)); gram.tokens = tokens; };
  for (const [c, chunk] of chunks.entries()) {
    const blocks = new Map<string, GramBlock>();
    for (const i of chunk) {
      out.set(i.name, { k: i.k, sum: new Float32Array(i.k * i.k), tokens: 0 });
      const at = blockBounds(i.k, width);
      for (let p = 0; p + 1 < at.length; p++) for (let q = p; q + 1 < at.length; q++) blocks.set(`${i.name}/gram_${p}_${q}`, { input: i, r0: at[p], r1: at[p + 1], c0: at[q], c1: at[q + 1] });
    }
    await runProbe(model, windows, [...blocks.keys()], (g) => {
      const b = new Builder(g);
      for (const i of chunk) {
        const x = b.op('Reshape', [g.mustValue(i.name), b.constI64([-1, i.k])], {}, { name: `${i.name}/gram_rows` });
        const at = blockBounds(i.k, width);
        const part = at.slice(0, -1).map((lo, p) => (at.length === 2 ? x : b.op('Slice', [x, b.constI64([lo]), b.constI64([at[p + 1]]), b.constI64([1])], {}, { name: `${i.name}/gram_cols_${p}` })));
        for (let p = 0; p < part.length; p++) for (let q = p; q < part.length; q++) b.op('Gemm', [part[p], part[q]], { transA: 1 }, { name: `${i.name}/gram_mm_${p}_${q}`, output: `${i.name}/gram_${p}_${q}` });
      }
    }, (name, t, w) => {
      const blk = blocks.get(name)!;
      const gram = out.get(blk.input.name)!, k = blk.input.k, d = t.data;
      const rows = blk.r1 - blk.r0, cols = blk.c1 - blk.c0;
      // A non-finite activation makes its own diagonal term x² non-finite: the diagonal blocks say it.
      if (blk.r0 === blk.c0) assertFinite(Float32Array.from({ length: rows }, (_, r) => d[r * cols + r]), blk.input.name, w);
      for (let r = 0; r < rows; r++) {
        const o = (blk.r0 + r) * k + blk.c0;
        for (let j = 0; j < cols; j++) gram.sum[o + j] += d[r * cols + j];
      }
    }, {
      engine: opts.engine, session: { ...opts.session, prepack: false }, batchTokens: 1024,
      onProgress: opts.onProgress && ((d, t) => opts.onProgress!(c * t + d, chunks.length * t)),
      onStageDone: opts.onLayer && (async (produced) => {
        const done = new Map<string, Gram>();
        for (const name of produced) {
          const i = blocks.get(name)!.input, gram = out.get(i.name);
          if (!gram) continue; // its other blocks came first
          finish(gram);
          done.set(i.name, gram);
          out.delete(i.name);
        }
        if (done.size) await opts.onLayer!(done);
      }),
    });
  }
  for (const gram of out.values()) finish(gram);
  return out;
}

/** Fill the blocks below the diagonal blocks from those above (the probe sums only those). */
function mirrorLower(gram: Gram, at: number[]): void {
  const { k, sum } = gram;
  for (let q = 1; q + 1 < at.length; q++) {
    for (let i = at[q]; i < at[q + 1]; i++) for (let j = 0; j < at[q]; j++) sum[i * k + j] = sum[j * k + i];
  }
}
