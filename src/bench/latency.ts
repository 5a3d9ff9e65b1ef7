import type { Model } from '../ir/graph.js';
import { stats, type Stats } from '../eval/stats.js';
import { DecoderRunner, type CachePath } from '../runtime/decoder.js';
import { lastPositionLogits, NEXT_TOKEN } from '../runtime/last-logits.js';
import type { ort, SessionOptions } from '../runtime/session.js';

export interface InterleavedOptions {
  promptTokens: number;
  decodeTokens: number;
  warmup: number;
  repetitions: number;
  session?: SessionOptions;
  /** Token ids the prompt is drawn from (e.g. the dataset). */
  promptIds: ArrayLike<number>;
  /** Model's maximum positions: decode starts after min(P, maxPositions − N) tokens. */
  maxPositions?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

/** Which logits a timed prefill returns: the last position's (what generation needs) or all positions'. */
export type PrefillLogits = 'last' | 'all';

export interface VariantLatency {
  prefill_ms: Stats;
  decode_ms: Stats;
  prefill_tokens_per_s: number;
  decode_tokens_per_s: number;
  session_load_ms: number;
  /**
   * Share of the decode steps' wall time spent outside session.run (feeds, KV-cache update, greedy
   * token), from the timed steps themselves (no profiler). The binding's own conversions count as inside.
   */
  decode_outside_run_pct: number;
}

/**
 * Prefill and per-token decode latency of several models, interleaved: each round runs one
 * repetition of every model (the order rotates every round), so all of them see the same machine
 * load over time. Same threads, same prompt, warm-up rounds discarded.
 */
export async function measureInterleaved(models: { name: string; model: Model; cache?: CachePath }[], opts: InterleavedOptions): Promise<{ results: Map<string, VariantLatency>; decodeContext: number; prefillLogits: PrefillLogits; cachePath: Map<string, CachePath> }> {
  // Prefill returns the last position's logits, as generation does; all positions only when some
  // graph cannot be cut that way (then for every variant, so they stay comparable).
  const cut = models.map((m) => lastPositionLogits(m.model));
  const prefillLogits: PrefillLogits = cut.every((m) => m) ? 'last' : 'all';
  if (prefillLogits === 'last') models = models.map((m, i) => ({ ...m, model: cut[i]! }));
  const P = opts.promptTokens, N = opts.decodeTokens;
  const prompt = promptOf(opts.promptIds, P);
  const ctxLen = decodeContext(P, N, opts.maxPositions);
  const runners: DecoderRunner[] = [];
  const loadMs: number[] = [];
  try {
    for (const m of models) {
      const t0 = performance.now();
      const r = await DecoderRunner.create(m.model, { ...opts.session, cache: m.cache });
      loadMs.push(performance.now() - t0);
      runners.push(r);
      if (!r.hasKvCache) throw new Error(`${m.name}: latency needs the KV-cache form of the graph (past_key_values inputs)`);
    }
    const prefill = models.map(() => [] as number[]);
    const decode = models.map(() => [] as number[]);
    const inRun = models.map(() => [] as number[]);
    const rounds = opts.warmup + opts.repetitions;
    for (let round = 0; round < rounds; round++) {
      for (let j = 0; j < models.length; j++) {
        opts.signal?.throwIfAborted();
        const v = (j + round) % models.length;
        const { p, d, run } = await oneRepetition(runners[v], prompt, ctxLen, N);
        if (round >= opts.warmup) { prefill[v].push(p); decode[v].push(...d); inRun[v].push(...run); }
        opts.onProgress?.(round * models.length + j + 1, rounds * models.length);
      }
    }
    const results = new Map<string, VariantLatency>();
    models.forEach((m, v) => {
      const ps = stats(prefill[v]), ds = stats(decode[v]);
      const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
      results.set(m.name, {
        prefill_ms: ps, decode_ms: ds, prefill_tokens_per_s: (P / ps.mean) * 1000, decode_tokens_per_s: 1000 / ds.mean, session_load_ms: loadMs[v],
        decode_outside_run_pct: (1 - sum(inRun[v]) / sum(decode[v])) * 100,
      });
    });
    return { results, decodeContext: ctxLen, prefillLogits, cachePath: new Map(models.map((m, v) => [m.name, runners[v].cachePath!])) };
  } finally {
    for (const r of runners) await r.release();
  }
}

/** A P-token prompt drawn from `ids` (repeated when shorter). */
export const promptOf = (ids: ArrayLike<number>, P: number): BigInt64Array => BigInt64Array.from({ length: P }, (_, i) => BigInt(ids[i % ids.length]));

/** The context a decode starts from: the whole prompt unless the model's positions cannot hold it plus N tokens. */
export const decodeContext = (promptTokens: number, N: number, maxPositions?: number): number => Math.max(1, Math.min(promptTokens, (maxPositions ?? Infinity) - N));

/** The greedy token at the last position of row 0. */
const lastToken = (out: ort.InferenceSession.ReturnType): bigint => { const d = out[NEXT_TOKEN].data as BigInt64Array; return d[d.length - 1]; };

/**
 * One prefill of the prompt, then N greedy decode steps with the KV cache, as a generation loop
 * runs them (runtime/generate.ts): each timed step is the onnxruntime run (the argmax inside it,
 * runtime/last-logits.ts `withNextToken`) and the cache update. onnxruntime runs: the prefill, a
 * second prefill of ctxLen tokens when ctxLen < prompt length, then N decode steps. The cache is
 * sized for the whole run, so it never grows while timed.
 */
export async function oneRepetition(runner: DecoderRunner, prompt: BigInt64Array, ctxLen: number, N: number): Promise<{ p: number; d: number[]; run: number[] }> {
  let cache = runner.newCache(Math.max(prompt.length, ctxLen + N));
  const a = performance.now();
  let out = await runner.step(prompt, 1, cache, {}, [NEXT_TOKEN]);
  let next = lastToken(out);
  const p = performance.now() - a;
  // A model with few positions cannot decode after a full-length prompt: decode after a shorter one.
  if (ctxLen < prompt.length) {
    cache.release();
    cache = runner.newCache(ctxLen + N);
    out = await runner.step(prompt.subarray(0, ctxLen), 1, cache, {}, [NEXT_TOKEN]);
    next = lastToken(out);
  }
  const d: number[] = [], run: number[] = [];
  const ids = new BigInt64Array(1);
  for (let t = 0; t < N; t++) {
    const s = performance.now();
    ids[0] = next;
    next = lastToken(await runner.step(ids, 1, cache, {}, [NEXT_TOKEN]));
    d.push(performance.now() - s);
    run.push(runner.lastRunMs);
  }
  cache.release();
  return { p, d, run };
}
