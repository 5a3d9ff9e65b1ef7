import type { Model } from '../ir/graph.js';
import { DecoderRunner } from '../runtime/decoder.js';
import { ort, type SessionOptions } from '../runtime/session.js';
import { withLogprobHead } from './compare-head.js';
import { mergedOutput, mergeHeads } from './merge-heads.js';
import { QualityAccumulator, type QualityStats } from './kld.js';
import { nonFiniteLogProb, summarize, type PerplexityResult } from './perplexity.js';
import { slidingWindows, takeGroup, windowFeeds } from './windows.js';
import type { SavedLogits } from './saved-logits.js';

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
export async function evaluateLockstep(reference: Model | SavedLogits, variants: { name: string; model: Model }[], tokens: ArrayLike<number>, opts: LockstepOptions): Promise<LockstepResult> {
  const windows = slidingWindows(tokens.length, opts.ctx, opts.stride, opts.bos);
  if (!isModel(reference)) reference.checkMatches(tokens, opts);
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
      const { ids, labels, positions, S } = windowFeeds(group, tokens);
      const extra = { score_positions: new ort.Tensor('int64', positions, [S]), labels: new ort.Tensor('int64', labels, [group.length, S]) };
      const { ref, vars } = await scorer.score(ids, group.length, extra, k);
      const finite = (whose: string, x: number, p: number) => { if (!Number.isFinite(x)) throw nonFiniteLogProb(whose, `scored token ${k + p}`, i - group.length + Math.floor(p / S), x); };
      for (let p = 0; p < ref.nll.length; p++) { finite("the reference's", ref.nll[p], p); refNll[k + p] = ref.nll[p]; refArgmax[k + p] = Number(ref.argmax[p]); }
      vars.forEach((o, v) => {
        for (let p = 0; p < o.nll.length; p++) {
          finite(`${variants[v].name}:`, o.nll[p], p);
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
  /** `at`: index of the group's first scored token in text order (a saved reference is read from there). */
  score(ids: BigInt64Array, batch: number, extra: Record<string, ort.Tensor>, at: number): Promise<{ ref: HeadOutputs; vars: HeadOutputs[] }>;
  release(): Promise<void>;
}

const outputs = (o: ort.InferenceSession.ReturnType, nll: string, argmax: string, kld?: string): HeadOutputs => ({
  nll: o[nll].data as Float32Array, argmax: o[argmax].data as BigInt64Array, kld: kld ? (o[kld].data as Float32Array) : undefined,
});

/**
 * Preferably one session over a merged graph (reference + every variant); otherwise one session
 * per model, the reference's log-probabilities passed through JS to each variant.
 */
async function createScorer(reference: Model | SavedLogits, variants: Model[], opts: LockstepOptions): Promise<Scorer> {
  const runners: DecoderRunner[] = [];
  const compareRunners = async () => {
    try {
      for (const v of variants) runners.push(await DecoderRunner.create(withLogprobHead(v, isModel(reference) ? 'compare' : 'compare-topk'), opts.session));
    } catch (e) {
      for (const r of runners) await r.release();
      throw e;
    }
  };
  const compare = async (ids: BigInt64Array, batch: number, extra: Record<string, ort.Tensor>, ref: Record<string, ort.Tensor>) => {
    const vars: HeadOutputs[] = [];
    for (const q of runners) vars.push(outputs(await q.run(ids, batch, { ...extra, ...ref }), 'nll', 'argmax', 'kld'));
    return vars;
  };
  if (!isModel(reference)) {
    // A reference saved with eval --save-logits: its top-k log-probabilities stand in for the model.
    await compareRunners();
    return {
      async score(ids, batch, extra, at) {
        const S = extra.labels.dims[1], k = reference.header.k;
        const ref = reference.rows(at, batch * S);
        const top = { ref_topk_logp: new ort.Tensor('float32', ref.logp, [batch, S, k]), ref_topk_ids: new ort.Tensor('int64', BigInt64Array.from(ref.ids, BigInt), [batch, S, k]) };
        return { ref: { nll: ref.nll, argmax: BigInt64Array.from(ref.argmax, BigInt) }, vars: await compare(ids, batch, extra, top) };
      },
      async release() { for (const r of runners) await r.release(); },
    };
  }
  const merged = opts.merge === false ? null : mergeHeads(reference, variants);
  if (merged) {
    const runner = await DecoderRunner.create(merged, opts.session);
    return {
      async score(ids, batch, extra) {
        const o = await runner.run(ids, batch, extra);
        return {
          ref: outputs(o, mergedOutput(0, 'nll'), mergedOutput(0, 'argmax')),
          vars: variants.map((_, v) => outputs(o, mergedOutput(v + 1, 'nll'), mergedOutput(v + 1, 'argmax'), mergedOutput(v + 1, 'kld'))),
        };
      },
      release: () => runner.release(),
    };
  }
  const ref = await DecoderRunner.create(withLogprobHead(reference, 'reference'), opts.session);
  try { await compareRunners(); } catch (e) { await ref.release(); throw e; }
  return {
    async score(ids, batch, extra) {
      const r = await ref.run(ids, batch, extra);
      return { ref: outputs(r, 'nll', 'argmax'), vars: await compare(ids, batch, extra, { ref_logp: r.logp as ort.Tensor }) };
    },
    async release() { for (const r of [ref, ...runners]) await r.release(); },
  };
}

const isModel = (r: Model | SavedLogits): r is Model => 'graph' in r;
