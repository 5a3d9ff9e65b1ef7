import { ATTENTION_FORM_KEY, SPLIT_PAST } from '../arch/attention.js';
import { cloneModel, type Model, type Value } from '../ir/graph.js';
import { ort } from './session.js';

/*
 * Two ways to carry the KV cache from one decode step to the next.
 *
 * 'concat': the graph as exported (Optimum / transformers.js): present = Concat(past, new) is
 * copied out of onnxruntime into fresh JS buffers every token and fed back whole: per token the
 * whole cache is copied twice and reallocated (what made decode measure the harness).
 *
 * 'in-place': quantlab's graphs never read the concatenation (arch/attention.ts), so the runtime
 * owns one buffer per layer with room for `capacity` positions, feeds it whole as `past` (onnxruntime
 * wraps JS input memory without copying) with its unused slots masked out, and the graph returns
 * only the new rows, which are written into the buffer. Per token the copy is T rows per layer.
 */
export type CachePath = 'in-place' | 'concat';

/** Output name of the new rows that replace `present.{i}.{key|value}` in the in-place form. */
export const newRowsName = (past: string): string => past.replace('past_key_values.', 'new_key_values.');

/**
 * The in-place form of a quantlab KV-cache graph: each present output, a Concat(past, new) read by
 * nothing else, is replaced by the new rows. Null when the graph is not built that way (an ONNX
 * export from elsewhere, or quantlab's before attention read past and new apart).
 */
export function inPlaceCacheForm(model: Model): Model | null {
  if (model.metadata[ATTENTION_FORM_KEY] !== SPLIT_PAST) return null;
  const m = cloneModel(model);
  const g = m.graph;
  const past = g.inputs.filter((v) => v.name.startsWith('past_key_values.'));
  if (!past.length) return null;
  for (const p of past) {
    const present = g.outputs.find((o) => o.name === p.name.replace('past_key_values.', 'present.'));
    // present = Concat(past, rows), or in FP16 compute Cast(Concat(Cast(past), rows)) with FP32 I/O.
    const cast = present?.producer?.opType === 'Cast' ? present.producer : null;
    const concat = cast ? cast.inputs[0]?.producer : present?.producer;
    if (!present || !concat || concat.opType !== 'Concat' || concat.inputs.length !== 2 || present.uses.size) return null;
    const head = concat.inputs[0]!;
    if (head !== p && !(head.producer?.opType === 'Cast' && head.producer.inputs[0] === p)) return null;
    if (concat.outputs[0].uses.size !== (cast ? 1 : 0)) return null;
    const axis = concat.attrs.axis?.t === 'int' ? concat.attrs.axis.v : NaN;
    if (axis !== 2 && axis !== -2) return null;
    const rows = concat.inputs[1]!;
    if (rows.producer === null || g.outputs.includes(rows)) return null;
    let out: Value;
    if (cast) {
      g.setInput(cast, 0, rows);
      out = present;
    } else {
      g.outputs[g.outputs.indexOf(present)] = rows;
      out = rows;
    }
    g.removeNode(concat);
    g.renameValue(out, newRowsName(p.name));
    const s = p.type?.shape ?? [];
    out.type = { dtype: p.type!.dtype, shape: [s[0] ?? 'batch_size', s[1], 'sequence_length', s[3]] };
  }
  m.metadata['quantlab.kv_cache'] = 'in-place';
  return m;
}

export interface CacheInput { name: string; dtype: 'float32' | 'float16'; heads: number; headDim: number }

type Rows = Float32Array | Uint16Array;
const alloc = (dtype: CacheInput['dtype'], n: number): Rows => (dtype === 'float16' ? new Uint16Array(n) : new Float32Array(n));

/**
 * Cache buffers kept for the next generation, as llama.cpp keeps its context's KV buffer: fresh
 * memory costs a page fault per 4 KB page on first write (measured ~10 µs each on this project's
 * VMs: ~100 ms for the 38 MB cache of a 512-token GPT-2 124M prompt, as much as its int8 prefill
 * computes). A released cache's buffers go here; a new cache takes the smallest one large enough
 * (as a view of its first elements). Stale values in reused slots are never read unmasked: a masked
 * slot's probability is exactly 0, so results do not depend on them.
 */
export class CacheStore {
  private free: Rows[] = [];
  /** Keeps at most this many buffers (one cache's worth: a key and a value per layer). */
  constructor(private readonly limit: number) {}

  take(dtype: CacheInput['dtype'], n: number): Rows {
    let best = -1;
    this.free.forEach((a, i) => {
      if ((a instanceof Uint16Array) === (dtype === 'float16') && a.length >= n && (best < 0 || a.length < this.free[best].length)) best = i;
    });
    if (best < 0) return alloc(dtype, n);
    const a = this.free.splice(best, 1)[0];
    return a.subarray(0, n);
  }

  give(a: Rows): void {
    const whole = a instanceof Uint16Array ? new Uint16Array(a.buffer) : new Float32Array(a.buffer);
    this.free.push(whole);
    // Keep the largest buffers: they serve any smaller request.
    if (this.free.length > this.limit) this.free.sort((x, y) => y.length - x.length).length = this.limit;
  }
}

/**
 * The state a decoder carries between steps. `feeds` gives the past_key_values.* and the
 * attention_mask for T new tokens; `update` takes the step's outputs.
 */
export interface DecoderCache {
  readonly path: CachePath;
  /** Positions held (tokens fed so far). */
  readonly length: number;
  /** Past inputs and the attention mask for `T` new tokens, given the caller's mask [B, length + T] (default all ones). */
  feeds(batch: number, T: number, mask?: ort.Tensor): Record<string, ort.Tensor>;
  update(out: ort.InferenceSession.ReturnType, T: number): void;
  /** Done with this cache: its buffers may serve the runner's next one (it must not be used after). */
  release(): void;
}

const ones = (n: number) => new BigInt64Array(n).fill(1n);

/** A past input holding no positions yet. */
const emptyPast = (p: CacheInput, batch: number) => new ort.Tensor(p.dtype, alloc(p.dtype, 0), [batch, p.heads, 0, p.headDim]);

/** The exported form's cache: the present tensors of the last step, fed back as they are. */
export class ConcatCache implements DecoderCache {
  readonly path = 'concat';
  length = 0;
  private past = new Map<string, ort.Tensor>();
  constructor(private readonly inputs: CacheInput[]) {}

  feeds(batch: number, T: number, mask?: ort.Tensor): Record<string, ort.Tensor> {
    const f: Record<string, ort.Tensor> = { attention_mask: mask ?? new ort.Tensor('int64', ones(batch * (this.length + T)), [batch, this.length + T]) };
    for (const p of this.inputs) f[p.name] = this.past.get(p.name) ?? emptyPast(p, batch);
    return f;
  }

  update(out: ort.InferenceSession.ReturnType, T: number): void {
    for (const p of this.inputs) this.past.set(p.name, out[p.name.replace('past_key_values.', 'present.')] as ort.Tensor);
    this.length += T;
  }

  release(): void { this.past.clear(); this.length = 0; }
}

/**
 * The in-place cache: per layer a [B, heads, capacity, headDim] buffer whose first `length` slots
 * hold the keys/values so far, fed whole (slots ≥ length masked out). It grows by doubling when a
 * step would not fit, so `capacity` should be the prompt plus the tokens to generate.
 */
export class BufferCache implements DecoderCache {
  readonly path = 'in-place';
  length = 0;
  private capacity = 0;
  private batch = 0;
  private buffers = new Map<string, Rows>();
  /** The caller's attention mask per held slot [B, capacity] (padding stays masked). */
  private slotMask = new BigInt64Array(0);
  constructor(private readonly inputs: CacheInput[], private readonly initialCapacity = 0, private readonly store = new CacheStore(0)) {}

  feeds(batch: number, T: number, mask?: ort.Tensor): Record<string, ort.Tensor> {
    if (this.length && batch !== this.batch) throw new Error(`cache holds batch ${this.batch}, step has ${batch}`);
    this.batch = batch;
    if (this.length + T > this.capacity && this.length) this.grow(Math.max(2 * this.capacity, this.length + T, this.initialCapacity));
    const C = this.length ? this.capacity : 0, L = this.length;
    // Mask [B, C + T]: the held slots as the caller masked them, unused slots 0, then the new tokens.
    const m = new BigInt64Array(batch * (C + T));
    const given = mask?.data as BigInt64Array | undefined;
    for (let b = 0; b < batch; b++) {
      m.set(this.slotMask.subarray(b * C, b * C + L), b * (C + T));
      if (given) m.set(given.subarray(b * (L + T) + L, (b + 1) * (L + T)), b * (C + T) + C);
      else m.fill(1n, b * (C + T) + C, (b + 1) * (C + T));
    }
    const f: Record<string, ort.Tensor> = { attention_mask: new ort.Tensor('int64', m, [batch, C + T]) };
    for (const p of this.inputs) f[p.name] = C ? new ort.Tensor(p.dtype, this.buffers.get(p.name)!, [batch, p.heads, C, p.headDim]) : emptyPast(p, batch);
    this.stepMask = given ?? null;
    return f;
  }

  /** The caller's mask of the step being run (its last T columns become the new slots' mask). */
  private stepMask: BigInt64Array | null = null;

  update(out: ort.InferenceSession.ReturnType, T: number): void {
    const L = this.length, B = this.batch;
    if (!this.capacity || L + T > this.capacity) this.grow(Math.max(L + T, this.initialCapacity));
    const C = this.capacity;
    for (const p of this.inputs) {
      const buf = this.buffers.get(p.name)!;
      const block = T * p.headDim;
      const rows = (out[newRowsName(p.name)] as ort.Tensor).data as Rows;
      for (let bh = 0; bh < B * p.heads; bh++) buf.set(rows.subarray(bh * block, (bh + 1) * block), (bh * C + L) * p.headDim);
    }
    for (let b = 0; b < B; b++) {
      if (this.stepMask) this.slotMask.set(this.stepMask.subarray(b * (L + T) + L, (b + 1) * (L + T)), b * C + L);
      else this.slotMask.fill(1n, b * C + L, b * C + L + T);
    }
    this.stepMask = null;
    this.length = L + T;
  }

  private grow(capacity: number): void {
    const old = this.capacity, B = this.batch;
    for (const p of this.inputs) {
      const next = this.store.take(p.dtype, B * p.heads * capacity * p.headDim);
      const prev = this.buffers.get(p.name);
      if (prev) {
        for (let bh = 0; bh < B * p.heads; bh++) next.set(prev.subarray(bh * old * p.headDim, (bh * old + this.length) * p.headDim), bh * capacity * p.headDim);
        this.store.give(prev);
      }
      this.buffers.set(p.name, next);
    }
    const mask = new BigInt64Array(B * capacity);
    for (let b = 0; b < B; b++) mask.set(this.slotMask.subarray(b * old, b * old + this.length), b * capacity);
    this.slotMask = mask;
    this.capacity = capacity;
  }

  release(): void {
    for (const b of this.buffers.values()) this.store.give(b);
    this.buffers.clear();
    this.capacity = this.length = 0;
  }
}

export function cacheInputs(model: Model): CacheInput[] {
  return model.graph.inputs.filter((v) => v.name.startsWith('past_key_values.')).map((v) => cacheInput(v));
}

function cacheInput(v: Value): CacheInput {
  const s = v.type?.shape ?? [];
  const dtype = v.type?.dtype;
  if (dtype !== 'float32' && dtype !== 'float16') throw new Error(`${v.name}: cache input is ${dtype}; expected float32 or float16`);
  if (typeof s[1] !== 'number' || typeof s[3] !== 'number') throw new Error(`${v.name}: cache input needs numeric heads and head_dim dims, has [${s}]`);
  return { name: v.name, dtype, heads: s[1], headDim: s[3] };
}
