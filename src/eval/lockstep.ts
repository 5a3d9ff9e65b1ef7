import type { Model } from '../ir/graph.js';
import { DecoderRunner } from '../runtime/decoder.js';
import { ort, type SessionOptions } from '../runtime/session.js';
import { withLogprobHead } from './compare-head.js';
import { mergedOutput, mergeHeads } from './merge-heads.js';
import { QualityAccumulator, type QualityStats } from './kld.js';
import { summarize, type PerplexityResult } from './perplexity.js';
import { predictingPosition, slidingWindows, windowIds, type Window } from './windows.js';

export interface LockstepOptions {
  ctx: number;
  stride: number;
  /** Windows per forward pass (default 1: methods that quantize activations with a scale over the whole tensor would otherwise mix windows). */
  batchSize?: number;
  session?: SessionOptions;
  /** BOS id prepended to every window (the tokenizer's `bos`), or none. */
  bos?: number;
  /** Checked between batches: an aborted run stops with the signal's reason. */
  signal?: AbortSignal;
  /** Score every model in one merged onnxruntime session when they can share a graph (default true). */
  merge?: boolean;
  onProgress?: (done: number, total: number) => void;
}

export interface VariantQuality { perplexity: PerplexityResult; quality: QualityStats }

export interface LockstepResult {
  reference: PerplexityResult;
  variants: Map<string, VariantQuality>;
}

/**
 * Perplexity of a reference and every variant, plus each variant's KLD / top-1 agreement against
 * the reference, on the same sliding windows. Window by window, the reference runs once and its
 * log-probabilities feed every variant's KLD, computed in onnxruntime; only per-token scalars are kept.
 */
export async function evaluateLockstep(reference: Model, variants: { name: string; model: Model }[], tokens: ArrayLike<number>, opts: LockstepOptions): Promise<LockstepResult> {
  const windows = slidingWindows(tokens.length, opts.ctx, opts.stride, opts.bos);
  const nScored = windows.reduce((s, w) => s + w.end - w.scoreFrom, 0);
  const scorer = await createScorer(reference, variants.map((v) => v.model), opts);
  try {
    const refNll = new Float64Array(nScored);
    const refArgmax = new Int32Array(nScored);
    const nll = variants.map(() => new Float64Array(nScored));
    const argmax = variants.map(() => new Int32Array(nScored));
    const acc = variants.map(() => new QualityAccumulator());
    const batchSize = Math.max(1, opts.batchSize ?? 1);
    let k = 0, done = 0;
    for (let i = 0; i < windows.length;) {
      opts.signal?.throwIfAborted();
      const group = takeGroup(windows, i, batchSize);
      i += group.length;
      const { ids, labels, positions, S } = feeds(group, tokens);
      const extra = { score_positions: new ort.Tensor('int64', positions, [S]), labels: new ort.Tensor('int64', labels, [group.length, S]) };
      const { ref, vars } = await scorer.score(ids, group.length, extra);
      for (let p = 0; p < ref.nll.length; p++) { refNll[k + p] = ref.nll[p]; refArgmax[k + p] = Number(ref.argmax[p]); }
      vars.forEach((o, v) => {
        for (let p = 0; p < o.nll.length; p++) {
          nll[v][k + p] = o.nll[p];
          argmax[v][k + p] = Number(o.argmax[p]);
          acc[v].add({ nll: o.nll[p], refNll: ref.nll[p], kld: o.kld![p], argmax: argmax[v][k + p], refArgmax: refArgmax[k + p] });
        }
      });
      k += group.length * S;
      done += group.length;
      opts.onProgress?.(done, windows.length);
    }
    const out = new Map<string, VariantQuality>();
    variants.forEach((v, j) => out.set(v.name, {
      perplexity: summarize({ nll: nll[j], argmax: argmax[j], window: windows }, opts.ctx, opts.stride),
      quality: acc[j].result(),
    }));
    return { reference: summarize({ nll: refNll, argmax: refArgmax, window: windows }, opts.ctx, opts.stride), variants: out };
  } finally {
    await scorer.release();
  }
}

interface HeadOutputs { nll: Float32Array; argmax: BigInt64Array; kld?: Float32Array }
interface Scorer {
  score(ids: BigInt64Array, batch: number, extra: Record<string, ort.Tensor>): Promise<{ ref: HeadOutputs; vars: HeadOutputs[] }>;
  release(): Promise<void>;
}

const outputs = (o: ort.InferenceSession.ReturnType, nll: string, argmax: string, kld?: string): HeadOutputs => ({
  nll: o[nll].data as Float32Array, argmax: o[argmax].data as BigInt64Array, kld: kld ? (o[kld].data as Float32Array) : undefined,
});

/**
 * Preferably one session over a merged graph (reference + every variant); otherwise one session
 * per model, the reference's log-probabilities passed through JS to each variant.
 */
async function createScorer(reference: Model, variants: Model[], opts: LockstepOptions): Promise<Scorer> {
  const merged = opts.merge === false ? null : mergeHeads(reference, variants);
  if (merged) {
    const runner = await DecoderRunner.create(merged, opts.session);
    return {
      async score(ids, batch, extra) {
        const o = await runner.run(ids, batch, undefined, extra);
        return {
          ref: outputs(o, mergedOutput(0, 'nll'), mergedOutput(0, 'argmax')),
          vars: variants.map((_, v) => outputs(o, mergedOutput(v + 1, 'nll'), mergedOutput(v + 1, 'argmax'), mergedOutput(v + 1, 'kld'))),
        };
      },
      release: () => runner.release(),
    };
  }
  const ref = await DecoderRunner.create(withLogprobHead(reference, 'reference'), opts.session);
  const runners: DecoderRunner[] = [];
  try {
    for (const v of variants) runners.push(await DecoderRunner.create(withLogprobHead(v, 'compare'), opts.session));
  } catch (e) {
    for (const r of [ref, ...runners]) await r.release();
    throw e;
  }
  return {
    async score(ids, batch, extra) {
      const r = await ref.run(ids, batch, undefined, extra);
      const vars: HeadOutputs[] = [];
      for (const q of runners) vars.push(outputs(await q.run(ids, batch, undefined, { ...extra, ref_logp: r.logp as ort.Tensor }), 'nll', 'argmax', 'kld'));
      return { ref: outputs(r, 'nll', 'argmax'), vars };
    },
    async release() { for (const r of [ref, ...runners]) await r.release(); },
  };
}

/** Consecutive windows with the same length and the same scored span, up to `max`. */
function takeGroup(windows: Window[], i: number, max: number): Window[] {
  const shape = (w: Window) => `${w.end - w.begin}:${w.scoreFrom - w.begin}`;
  const group = [windows[i]];
  while (group.length < max && i + group.length < windows.length && shape(windows[i + group.length]) === shape(windows[i])) group.push(windows[i + group.length]);
  return group;
}

/** Token ids [B,len], the positions that predict scored tokens [S] and their labels [B,S]. */
function feeds(group: Window[], tokens: ArrayLike<number>) {
  const len = windowIds(group[0], tokens).length;
  const first = group[0].scoreFrom;
  const S = group[0].end - first;
  const ids = new BigInt64Array(group.length * len);
  const labels = new BigInt64Array(group.length * S);
  group.forEach((w, b) => {
    windowIds(w, tokens).forEach((id, t) => { ids[b * len + t] = BigInt(id); });
    for (let s = 0; s < S; s++) labels[b * S + s] = BigInt(tokens[w.scoreFrom + s]);
  });
  const positions = BigInt64Array.from({ length: S }, (_, s) => BigInt(predictingPosition(group[0], first + s)));
  return { ids, labels, positions, S };
}
