import type { Model } from '../ir/graph.js';
import { BufferCache, CacheStore, cacheInputs, ConcatCache, inPlaceCacheForm, newRowsName, type CacheInput, type CachePath, type DecoderCache } from './kv-cache.js';
import { withNextToken } from './last-logits.js';
import { withPrefillBranch } from './prefill-branch.js';
import { createSession, ort, type SessionOptions } from './session.js';

export type { CachePath, DecoderCache } from './kv-cache.js';

export interface RunnerOptions extends SessionOptions {
  /**
   * How the KV cache travels between steps (runtime/kv-cache.ts). Default: 'in-place' when the
   * graph allows it, else 'concat'; asking for 'in-place' on a graph that does not allow it throws.
   */
  cache?: CachePath;
}

/**
 * Runs a decoder graph (full-sequence or KV-cache form) with the feeds it declares: input_ids, and
 * when present attention_mask, position_ids and past_key_values.*. One session per model: a KV-cache
 * graph runs in the in-place form when it has one.
 */
export class DecoderRunner {
  private constructor(
    readonly session: ort.InferenceSession,
    /** How the cache travels between steps; null for a graph without one. */
    readonly cachePath: CachePath | null,
    private readonly past: CacheInput[],
    private readonly hasPositions: boolean,
    /** Inputs beyond the decoder's (e.g. labels of a scoring head): the caller feeds them. */
    readonly extraInputs: string[],
    /** The graph's outputs but the cache's (what `run` fetches by default), and the cache's (what `step` always adds). */
    private readonly plainOutputs: string[],
    private readonly cacheOutputs: string[],
  ) {
    this.store = new CacheStore(2 * past.length);
  }

  static async create(model: Model, opts: RunnerOptions = {}): Promise<DecoderRunner> {
    const names = model.graph.inputs.map((v) => v.name);
    if (!names.includes('input_ids')) throw new Error(`graph has no input_ids input (inputs: ${names.join(', ')})`);
    const past = cacheInputs(model);
    let graph = model;
    let path: CachePath | null = null;
    if (past.length) {
      const inPlace = opts.cache === 'concat' ? null : inPlaceCacheForm(model);
      if (opts.cache === 'in-place' && !inPlace) throw new Error('this graph reads the concatenated cache (not built by this quantlab): it can only run with the concat cache');
      graph = inPlace ?? model;
      path = inPlace ? 'in-place' : 'concat';
    }
    graph = withPrefillBranch(withNextToken(graph));
    const known = new Set(['input_ids', 'attention_mask', 'position_ids', ...past.map((p) => p.name)]);
    const session = await createSession(graph, opts);
    const outputs = graph.graph.outputs.map((v) => v.name);
    const isCache = (o: string) => o.startsWith('present.') || past.some((p) => newRowsName(p.name) === o);
    return new DecoderRunner(session, path, past, names.includes('position_ids'), names.filter((n) => !known.has(n)), outputs.filter((o) => !isCache(o)), outputs.filter(isCache));
  }

  /** Wall time of the last step's session.run (onnxruntime plus the binding's input/output conversion), ms. */
  lastRunMs = 0;

  get hasKvCache(): boolean { return this.cachePath !== null; }

  /** Buffers of released caches, for the next one (kv-cache.ts CacheStore). */
  private readonly store: CacheStore;

  /**
   * An empty cache for this runner; `capacity`: the positions it should hold without growing.
   * `release()` it when done, so the next cache reuses its memory.
   */
  newCache(capacity = 0): DecoderCache {
    if (!this.cachePath) throw new Error('this graph has no KV cache');
    return this.cachePath === 'in-place' ? new BufferCache(this.past, capacity, this.store) : new ConcatCache(this.past);
  }

  /**
   * One forward pass over `ids` ([batch, seq], row-major) from an empty cache; the cache outputs
   * are not fetched. `extra` supplies other inputs (e.g. labels) and may override attention_mask
   * and position_ids.
   */
  async run(ids: BigInt64Array, batch: number, extra: Record<string, ort.Tensor> = {}, fetches?: string[]): Promise<ort.InferenceSession.ReturnType> {
    const cache = this.cachePath ? this.newCache() : null;
    const feeds = this.feeds(ids, batch, cache, extra);
    return this.session.run(feeds, fetches ?? this.plainOutputs);
  }

  /**
   * One forward pass over `ids` after what `cache` holds, appending the new positions to it.
   * attention_mask (given: [batch, cache.length + seq]) and position_ids default to all ones and
   * cache.length onwards.
   */
  async step(ids: BigInt64Array, batch: number, cache: DecoderCache, extra: Record<string, ort.Tensor> = {}, fetches?: string[]): Promise<ort.InferenceSession.ReturnType> {
    const T = ids.length / batch;
    const feeds = this.feeds(ids, batch, cache, extra);
    const t0 = performance.now();
    const out = await this.session.run(feeds, [...(fetches ?? this.plainOutputs), ...this.cacheOutputs]);
    this.lastRunMs = performance.now() - t0;
    cache.update(out, T);
    return out;
  }

  private feeds(ids: BigInt64Array, batch: number, cache: DecoderCache | null, extra: Record<string, ort.Tensor>): Record<string, ort.Tensor> {
    return stepFeeds(ids, batch, cache, this.hasPositions, extra);
  }

  async release(): Promise<void> { await this.session.release(); }
}

/**
 * Feeds for one pass of a decoder graph over `ids` from an empty cache, for a session run outside
 * DecoderRunner (training): input_ids, and what the graph declares of attention_mask, position_ids
 * and past_key_values.* (empty), plus `extra`.
 */
export function emptyCacheFeeds(model: Model, ids: BigInt64Array, batch: number, extra: Record<string, ort.Tensor> = {}): Record<string, ort.Tensor> {
  const past = cacheInputs(model);
  const names = new Set(model.graph.inputs.map((v) => v.name));
  const feeds = stepFeeds(ids, batch, past.length ? new ConcatCache(past) : null, names.has('position_ids'), extra);
  if (!names.has('attention_mask')) delete feeds.attention_mask;
  return feeds;
}

function stepFeeds(ids: BigInt64Array, batch: number, cache: DecoderCache | null, positions: boolean, extra: Record<string, ort.Tensor>): Record<string, ort.Tensor> {
  const T = ids.length / batch;
  const L = cache?.length ?? 0;
  const { attention_mask: mask, ...rest } = extra;
  const feeds: Record<string, ort.Tensor> = { input_ids: new ort.Tensor('int64', ids, [batch, T]), ...rest };
  if (cache) Object.assign(feeds, cache.feeds(batch, T, mask));
  else if (mask) feeds.attention_mask = mask;
  if (positions && !extra.position_ids) {
    const pos = new BigInt64Array(batch * T);
    for (let b = 0; b < batch; b++) for (let t = 0; t < T; t++) pos[b * T + t] = BigInt(L + t);
    feeds.position_ids = new ort.Tensor('int64', pos, [batch, T]);
  }
  return feeds;
}
