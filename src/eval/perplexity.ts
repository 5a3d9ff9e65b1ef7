import type { Model } from '../ir/graph.js';
import { DecoderRunner } from '../runtime/decoder.js';
import { ort, type SessionOptions } from '../runtime/session.js';
import { withScoringHead } from './scoring-head.js';
import { predictingPosition, slidingWindows, windowIds, type Window } from './windows.js';

export interface PerplexityOptions {
  ctx: number;
  stride: number;
  /** Windows per forward pass (same-length windows are batched). */
  batchSize?: number;
  session?: SessionOptions;
  /** BOS id prepended to every window (the tokenizer's `bos`), or none. */
  bos?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface PerplexityResult {
  perplexity: number;
  /** Mean negative log-likelihood (nats per token). */
  nll: number;
  /** Standard error of the mean NLL, and the PPL interval it implies (llama.cpp's ±). */
  nllStderr: number;
  tokensScored: number;
  windows: number;
  ctx: number;
  stride: number;
}

/** Per-token NLL (and argmax) over the scored tokens, in text order. */
export interface TokenScores { nll: Float64Array; argmax: Int32Array; window: Window[] }

/** A log-probability that is NaN/Inf: its logits are not finite, so no average over it would mean anything. */
export function nonFiniteLogProb(whose: string, token: string, window: number, value: number): Error {
  return new Error(`${whose} log-probability of ${token} (window ${window}) is ${value}: its logits are not finite there (a weight or an activation is NaN/Inf, or overflows)`);
}

/** Score `tokens` with the sliding-window protocol. */
export async function scoreTokens(model: Model, tokens: ArrayLike<number>, opts: PerplexityOptions): Promise<TokenScores> {
  const windows = slidingWindows(tokens.length, opts.ctx, opts.stride, opts.bos);
  const runner = await DecoderRunner.create(withScoringHead(model), opts.session);
  const n = windows.reduce((s, w) => s + w.end - w.scoreFrom, 0);
  const nll = new Float64Array(n);
  const argmax = new Int32Array(n);
  const batchSize = Math.max(1, opts.batchSize ?? 4);
  let done = 0;
  let k = 0;
  try {
    for (let i = 0; i < windows.length;) {
      const span = windows[i].end - windows[i].begin;
      const group: Window[] = [];
      while (i < windows.length && group.length < batchSize && windows[i].end - windows[i].begin === span) group.push(windows[i++]);
      const len = windowIds(group[0], tokens).length;
      const ids = new BigInt64Array(group.length * len);
      const labels = new BigInt64Array(group.length * len);
      group.forEach((w, b) => {
        const wi = windowIds(w, tokens);
        for (let t = 0; t < len; t++) {
          ids[b * len + t] = BigInt(wi[t]);
          labels[b * len + t] = t + 1 < len ? BigInt(wi[t + 1]) : 0n;
        }
      });
      const out = await runner.run(ids, group.length, { labels: new ort.Tensor('int64', labels, [group.length, len]) });
      const nllOut = out.nll.data as Float32Array;
      const amOut = out.argmax.data as BigInt64Array;
      group.forEach((w, b) => {
        for (let j = w.scoreFrom; j < w.end; j++) {
          const p = b * len + predictingPosition(w, j);
          if (!Number.isFinite(nllOut[p])) throw nonFiniteLogProb("the model's", `token ${j}`, windows.indexOf(w), nllOut[p]);
          nll[k] = nllOut[p];
          argmax[k++] = Number(amOut[p]);
        }
      });
      done += group.length;
      opts.onProgress?.(done, windows.length);
    }
  } finally {
    await runner.release();
  }
  return { nll, argmax, window: windows };
}

export function summarize(scores: TokenScores, ctx: number, stride: number): PerplexityResult {
  const n = scores.nll.length;
  let sum = 0, sq = 0;
  for (const x of scores.nll) { sum += x; sq += x * x; }
  const mean = sum / n;
  const variance = Math.max(0, sq / n - mean * mean);
  return {
    perplexity: Math.exp(mean), nll: mean, nllStderr: Math.sqrt(variance / Math.max(1, n - 1)),
    tokensScored: n, windows: scores.window.length, ctx, stride,
  };
}

export async function perplexity(model: Model, tokens: ArrayLike<number>, opts: PerplexityOptions): Promise<PerplexityResult> {
  return summarize(await scoreTokens(model, tokens, opts), opts.ctx, opts.stride);
}
