import { UsageError } from '../util/errors.js';
import { type DecoderCache, type DecoderRunner } from './decoder.js';
import { NEXT_TOKEN } from './last-logits.js';
import { ort } from './session.js';

export interface GreedyOptions {
  /** Tokens to generate per row. */
  maxNewTokens: number;
  /** A row stops after emitting this token (it is kept); generation ends when every row has. */
  eosTokenId?: number;
  /** [batch][promptLen] 1 = token, 0 = padding (left padding, as Hugging Face generates). Default all ones. */
  attentionMask?: number[][];
  /**
   * Return the logits (default true). False: each step fetches only the greedy token (argmax inside
   * onnxruntime), not a vocabulary of logits per row: what the latency protocol times.
   */
  keepLogits?: boolean;
}

export interface GreedyResult {
  /** Generated tokens per row (without the prompt). */
  tokens: number[][];
  /**
   * Logits per row, one [vocab] array per real (unpadded) position the model was fed: every prompt
   * token, then each generated token but the last (position i predicts token i + 1).
   */
  logits: Float32Array[][];
}

/** Left-pad prompts of different lengths to one [batch, maxLen] block with its attention mask. */
export function leftPad(prompts: number[][], padId: number): { ids: number[][]; attentionMask: number[][] } {
  const n = Math.max(...prompts.map((p) => p.length));
  return {
    ids: prompts.map((p) => [...new Array<number>(n - p.length).fill(padId), ...p]),
    attentionMask: prompts.map((p) => [...new Array<number>(n - p.length).fill(0), ...new Array<number>(p.length).fill(1)]),
  };
}

/**
 * Greedy decoding through the KV-cache graph: one prefill pass over the prompt, then one token per
 * step with the cache (DecoderRunner.step), which is sized for the prompt and maxNewTokens.
 */
export async function greedyGenerate(runner: DecoderRunner, prompt: number[][], opts: GreedyOptions): Promise<GreedyResult> {
  if (!runner.hasKvCache) throw new UsageError('greedyGenerate needs the KV-cache graph form');
  const B = prompt.length;
  const T = prompt[0]?.length ?? 0;
  if (!B || !T || prompt.some((r) => r.length !== T)) throw new UsageError('prompt rows must be non-empty and of equal length (left-pad them)');
  const mask = (opts.attentionMask ?? prompt.map((r) => r.map(() => 1))).map((r) => [...r]);
  if (mask.length !== B || mask.some((r) => r.length !== T || r[r.length - 1] !== 1)) {
    throw new UsageError('attentionMask must match the prompt shape and end with a real token in every row (left padding)');
  }
  // Position of a token = number of real tokens before it (padding positions get 1, as HF does).
  const positions = mask.map((r) => { let c = 0; return r.map((m) => (m ? c++ : 1)); });
  const nextPos = mask.map((r) => r.reduce((s, m) => s + m, 0));

  const tokens: number[][] = prompt.map(() => []);
  const logits: Float32Array[][] = prompt.map(() => []);
  const done = new Array<boolean>(B).fill(false);
  const cache: DecoderCache = runner.newCache(T + opts.maxNewTokens);
  const keep = opts.keepLogits !== false;
  let feed = prompt;
  let feedPos = positions;
  try {
    for (let step = 0; step < opts.maxNewTokens; step++) {
      const S = feed[0].length;
      const out = await runner.step(BigInt64Array.from(feed.flat(), BigInt), B, cache, {
        attention_mask: i64(mask, B, mask[0].length),
        position_ids: i64(feedPos, B, S),
      }, keep ? ['logits'] : [NEXT_TOKEN]);
      const greedy = keep ? null : out[NEXT_TOKEN].data as BigInt64Array;
      const l = out.logits as ort.Tensor | undefined;
      const V = l?.dims[2] ?? 0;
      const data = l?.data as Float32Array;
      const next: number[] = [];
      for (let b = 0; b < B; b++) {
        const prefill = step === 0;
        if (keep) {
          for (let t = 0; t < S; t++) {
            if (!done[b] && (!prefill || mask[b][t])) logits[b].push(data.slice((b * S + t) * V, (b * S + t + 1) * V));
          }
        }
        const tok = done[b] ? (opts.eosTokenId ?? 0) : greedy ? Number(greedy[b * S + S - 1]) : argmax(data, (b * S + S - 1) * V, V);
        if (!done[b]) tokens[b].push(tok);
        if (tok === opts.eosTokenId) done[b] = true;
        next.push(tok);
      }
      if (done.every(Boolean) || step === opts.maxNewTokens - 1) break;
      feed = next.map((t) => [t]);
      feedPos = nextPos.map((p) => [p]);
      for (let b = 0; b < B; b++) { mask[b].push(1); nextPos[b]++; }
    }
  } finally {
    cache.release();
  }
  return { tokens, logits };
}

/**
 * Reference greedy decoding without a cache: every step reruns the whole sequence through the
 * full-sequence graph (batch 1, no padding). Returns the same shape of result as greedyGenerate.
 */
export async function greedyFullSequence(runner: DecoderRunner, prompt: number[], opts: Omit<GreedyOptions, 'attentionMask'>): Promise<GreedyResult> {
  const seq = [...prompt];
  const tokens: number[] = [];
  let last: Float32Array[] = [];
  for (let step = 0; step < opts.maxNewTokens; step++) {
    last = await fullSequenceLogits(runner, seq);
    const tok = argmax(last[last.length - 1], 0, last[0].length);
    tokens.push(tok);
    if (tok === opts.eosTokenId || step === opts.maxNewTokens - 1) break;
    seq.push(tok);
  }
  return { tokens: [tokens], logits: [last] };
}

/** Logits at every position of one sequence, from a single pass of the full-sequence graph. */
export async function fullSequenceLogits(runner: DecoderRunner, ids: number[]): Promise<Float32Array[]> {
  const out = await runner.run(BigInt64Array.from(ids, BigInt), 1);
  const l = out.logits as ort.Tensor;
  const [, S, V] = l.dims;
  const data = l.data as Float32Array;
  return Array.from({ length: S }, (_, t) => data.slice(t * V, (t + 1) * V));
}

/** Index of the largest of n values from `off` (first one on ties, like torch.argmax). */
export function argmax(a: ArrayLike<number>, off: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (a[off + i] > a[off + best]) best = i;
  return best;
}

function i64(rows: number[][], B: number, S: number): ort.Tensor {
  return new ort.Tensor('int64', BigInt64Array.from(rows.flat(), BigInt), [B, S]);
}
