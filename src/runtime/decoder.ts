import type { Model, Value } from '../ir/graph.js';
import { createSession, ort, type SessionOptions } from './session.js';

/** KV cache as returned by the last step: present.{i}.key|value tensors, in input order. */
export type KvCache = Map<string, ort.Tensor>;

/** The inputs a decoder graph declares (input_ids, attention_mask, position_ids, past_key_values.*) and their default feeds. */
export class DecoderInputs {
  private constructor(
    readonly pastInputs: { name: string; heads: number; headDim: number }[],
    readonly hasMask: boolean,
    readonly hasPositions: boolean,
    /** Inputs beyond those (e.g. labels of a scoring head): the caller feeds them. */
    readonly extraInputs: string[],
  ) {}

  static of(model: Model): DecoderInputs {
    const g = model.graph;
    const names = g.inputs.map((v) => v.name);
    if (!names.includes('input_ids')) throw new Error(`graph has no input_ids input (inputs: ${names.join(', ')})`);
    const past = g.inputs.filter((v) => v.name.startsWith('past_key_values.')).map((v) => pastInfo(v));
    const known = new Set(['input_ids', 'attention_mask', 'position_ids', ...past.map((p) => p.name)]);
    return new DecoderInputs(past, names.includes('attention_mask'), names.includes('position_ids'), names.filter((n) => !known.has(n)));
  }

  /**
   * Feeds for one pass over `ids` ([batch, seq], row-major) after `past` (or an empty cache):
   * attention_mask all ones and position_ids from the past length onwards unless `extra` gives them.
   */
  feeds(ids: BigInt64Array, batch: number, past?: KvCache, extra: Record<string, ort.Tensor> = {}): Record<string, ort.Tensor> {
    const seq = ids.length / batch;
    const pastLen = past && this.pastInputs.length ? past.get(this.pastInputs[0].name)!.dims[2] : 0;
    const feeds: Record<string, ort.Tensor> = { input_ids: new ort.Tensor('int64', ids, [batch, seq]), ...extra };
    if (this.hasMask && !extra.attention_mask) feeds.attention_mask = new ort.Tensor('int64', new BigInt64Array(batch * (pastLen + seq)).fill(1n), [batch, pastLen + seq]);
    if (this.hasPositions && !extra.position_ids) {
      const pos = new BigInt64Array(batch * seq);
      for (let b = 0; b < batch; b++) for (let t = 0; t < seq; t++) pos[b * seq + t] = BigInt(pastLen + t);
      feeds.position_ids = new ort.Tensor('int64', pos, [batch, seq]);
    }
    for (const p of this.pastInputs) {
      feeds[p.name] = past?.get(p.name) ?? new ort.Tensor('float32', new Float32Array(0), [batch, p.heads, 0, p.headDim]);
    }
    return feeds;
  }
}

/**
 * Runs a decoder graph (full-sequence or KV-cache form) with the feeds it declares:
 * input_ids, and when present attention_mask, position_ids and past_key_values.*.
 */
export class DecoderRunner {
  private constructor(readonly session: ort.InferenceSession, private readonly inputs: DecoderInputs) {}

  static async create(model: Model, opts: SessionOptions = {}): Promise<DecoderRunner> {
    const inputs = DecoderInputs.of(model);
    return new DecoderRunner(await createSession(model, opts), inputs);
  }

  get hasKvCache(): boolean { return this.inputs.pastInputs.length > 0; }

  get extraInputs(): string[] { return this.inputs.extraInputs; }

  /**
   * One forward pass over `ids` ([batch, seq], row-major) after `past` (or none).
   * `extra` supplies any other inputs (e.g. labels for a scoring head) and may override the default
   * attention_mask (all ones) and position_ids (past length onwards), e.g. for a left-padded batch.
   */
  async run(ids: BigInt64Array, batch: number, past?: KvCache, extra: Record<string, ort.Tensor> = {}, fetches?: string[]): Promise<ort.InferenceSession.ReturnType> {
    const feeds = this.inputs.feeds(ids, batch, past, extra);
    return fetches ? this.session.run(feeds, fetches) : this.session.run(feeds);
  }

  /** The cache to pass to the next step, taken from a run's present.* outputs. */
  nextCache(out: ort.InferenceSession.ReturnType): KvCache {
    const cache: KvCache = new Map();
    for (const p of this.inputs.pastInputs) {
      const present = p.name.replace('past_key_values.', 'present.');
      cache.set(p.name, out[present] as ort.Tensor);
    }
    return cache;
  }

  async release(): Promise<void> { await this.session.release(); }
}

function pastInfo(v: Value): { name: string; heads: number; headDim: number } {
  const s = v.type?.shape ?? [];
  const heads = typeof s[1] === 'number' ? s[1] : NaN;
  const headDim = typeof s[3] === 'number' ? s[3] : NaN;
  if (!Number.isFinite(heads) || !Number.isFinite(headDim)) throw new Error(`${v.name}: cache input needs numeric heads and head_dim dims, has [${s}]`);
  return { name: v.name, heads, headDim };
}
