import { toFloat32 } from '../hf/safetensors.js';
import { Tensor } from '../ir/tensor.js';
import { InputError } from '../util/errors.js';
import { firstNonFinite } from '../util/finite.js';
import type { DecoderConfig, DecoderWeights, LayerWeights, Linear, Norm } from './config.js';

/** How a random weight is drawn (Hugging Face's `_init_weights`; synth and training from scratch). */
export type Init = { kind: 'normal'; std: number } | { kind: 'ones' } | { kind: 'zeros' };

export type LinearSlot = 'qkv' | 'q' | 'k' | 'v' | 'o' | 'gateUp' | 'gate' | 'up' | 'down';
export type NormSlot = 'norm1' | 'norm2' | 'qNorm' | 'kNorm' | 'postAttnNorm' | 'postMlpNorm';

/** Where the graph uses a checkpoint tensor. */
export type Role =
  | { at: 'embed' } | { at: 'positions' } | { at: 'lmHead' }
  | { at: 'finalNorm'; part: 'weight' | 'bias' }
  | { at: 'layer'; layer: number; slot: LinearSlot | NormSlot; part: 'weight' | 'bias' };

/** One tensor of a Hugging Face checkpoint: its name, HF shape and initialisation, and how the graph holds it. */
export interface CheckpointTensor {
  name: string;
  shape: number[];
  init: Init;
  role: Role;
  /** 'transpose': an nn.Linear [out, in] weight held as [in, out] (MatMul B); 'plus-one': a Gemma norm held as 1 + w. */
  transform?: 'transpose' | 'plus-one';
  /** What fixes its shape or presence, named when the checkpoint disagrees (e.g. "num_key_value_heads × head_dim"). */
  from?: string;
}

/** Shape presets of real (and tiny test) models: HF config.json fields. */
export interface Preset { summary: string; config: Record<string, unknown> }

/**
 * Everything that differs between model families. Adding one is a file exporting a Family, a line
 * in families/index.ts and its tests: the loader, the graph builder, the training checkpoint writer,
 * the initialiser and `synth` all read it.
 */
export interface Family {
  /** The HF `model_type` values this family reads. */
  modelTypes: readonly string[];
  /** config.json → DecoderConfig; refuses (one line naming the field) what the family does not support. */
  config(c: Record<string, unknown>, file: string): DecoderConfig;
  /** Every checkpoint tensor for `cfg`, in checkpoint order. */
  tensors(cfg: DecoderConfig): CheckpointTensor[];
  /** Other names a checkpoint may use for a tensor (GPT-2 with or without `transformer.`). */
  aliases?(name: string): string[];
  presets: Record<string, Preset>;
}

const SLOT_KIND: Record<LinearSlot | NormSlot, 'linear' | 'norm'> = {
  qkv: 'linear', q: 'linear', k: 'linear', v: 'linear', o: 'linear', gateUp: 'linear', gate: 'linear', up: 'linear', down: 'linear',
  norm1: 'norm', norm2: 'norm', qNorm: 'norm', kNorm: 'norm', postAttnNorm: 'norm', postMlpNorm: 'norm',
};

/** Checkpoint layout → graph layout; a lazy tensor stays lazy (laid out when its data is read). */
export function toGraphLayout(t: Tensor, transform: CheckpointTensor['transform']): Tensor {
  if (!transform) return t;
  const dims = transform === 'transpose' ? [t.dims[1], t.dims[0]] : [...t.dims];
  const layout = () => (transform === 'transpose' ? transpose2d(t) : new Tensor('float32', t.dims, (t.data as Float32Array).map((x) => 1 + x))).data;
  return new Tensor('float32', dims, t.lazy ? layout : layout());
}

/** Graph layout → checkpoint layout (the training checkpoint writer). */
export function toCheckpointLayout(t: Tensor, transform: CheckpointTensor['transform']): Tensor {
  if (transform === 'transpose') return transpose2d(t);
  if (transform === 'plus-one') return new Tensor('float32', t.dims, (t.data as Float32Array).map((x) => x - 1));
  return t;
}

export function transpose2d(t: Tensor): Tensor {
  const [r, c] = t.dims;
  const src = t.data as Float32Array;
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = src[i * c + j];
  return new Tensor('float32', [c, r], out);
}

/**
 * Put graph-layout tensors where the graph uses them. `get` returns each tensor (float32, graph
 * layout) and the name the graph's initializer gets.
 */
export function assembleWeights(cfg: DecoderConfig, specs: CheckpointTensor[], get: (s: CheckpointTensor) => { name: string; tensor: Tensor }): DecoderWeights {
  const layers: Record<string, Linear | Norm>[] = Array.from({ length: cfg.numLayers }, () => ({}));
  const w: Partial<DecoderWeights> & { finalNorm?: Norm } = {};
  const put = (slots: Record<string, Linear | Norm>, slot: string, kind: 'linear' | 'norm', part: 'weight' | 'bias', n: { name: string; tensor: Tensor }) => {
    if (kind === 'linear') {
      const l = (slots[slot] ??= { name: '', weight: n.tensor }) as Linear;
      if (part === 'weight') { l.name = n.name; l.weight = n.tensor; } else l.bias = n;
    } else {
      const m = (slots[slot] ??= { weight: n }) as Norm;
      if (part === 'weight') m.weight = n; else m.bias = n;
    }
  };
  for (const s of specs) {
    const n = get(s);
    const r = s.role;
    if (r.at === 'embed') w.tokenEmbedding = n;
    else if (r.at === 'positions') w.positionEmbedding = n;
    else if (r.at === 'lmHead') w.lmHead = { name: n.name, weight: n.tensor };
    else if (r.at === 'finalNorm') put(w as Record<string, Linear | Norm>, 'finalNorm', 'norm', r.part, n);
    else put(layers[r.layer], r.slot, SLOT_KIND[r.slot], r.part, n);
  }
  if (!w.tokenEmbedding || !w.finalNorm) throw new Error(`${cfg.arch}: the family's tensor table has no embedding or final norm`);
  return { ...w, tokenEmbedding: w.tokenEmbedding, finalNorm: w.finalNorm, layers: layers as unknown as LayerWeights[] };
}

/**
 * `t`, whose elements are checked when they are read (now, or at each load of a lazy tensor): a NaN
 * or ±Inf weight is refused by name instead of turning every output into NaN.
 */
function finiteChecked(t: Tensor, name: string, file: string): Tensor {
  const check = (d: Float32Array) => {
    const i = firstNonFinite(d);
    if (i >= 0) throw new InputError(file, `tensor '${name}' holds ${d[i]} at element ${i} (a weight must be finite)`);
    return d;
  };
  if (!t.lazy) { check(t.data as Float32Array); return t; }
  return new Tensor(t.dtype, t.dims, () => check(t.data as Float32Array));
}

/** Checkpoint buffers no graph needs (rotary tables, GPT-2's causal-mask buffers). */
const IGNORED = /(^|\.)rotary_emb\.inv_freq$|\.attn\.(masked_)?bias$/;

/**
 * Checkpoint tensors → graph weights: each named tensor checked for presence, shape and float
 * type, converted to the graph layout; a tensor the config does not account for is refused.
 */
export function loadWeights(family: Family, cfg: DecoderConfig, tensors: Map<string, Tensor>, file: string): DecoderWeights {
  // Every layer has tensors: a layer count the checkpoint cannot hold is refused before the
  // per-layer tensor table (sized by the config) is built.
  if (cfg.numLayers > tensors.size) throw new InputError(file, `holds ${tensors.size} tensors, too few for the ${cfg.numLayers} layers config.json declares`);
  const used = new Set<string>();
  const resolve = (name: string) => [name, ...(family.aliases?.(name) ?? [])].find((n) => tensors.has(n));
  let specs = family.tensors(cfg);
  const embedName = resolve(specs.find((s) => s.role.at === 'embed')!.name);
  // A tied model that nevertheless saved a different lm_head uses it (it was trained untied).
  const head = resolve('lm_head.weight');
  if (cfg.tieWordEmbeddings && head) {
    if (embedName && sameBytes(tensors.get(head)!, tensors.get(embedName)!)) used.add(head);
    else specs = [...specs, { name: 'lm_head.weight', shape: [cfg.vocabSize, cfg.hiddenSize], init: { kind: 'normal', std: 0.02 }, role: { at: 'lmHead' }, transform: 'transpose' }];
  }
  const w = assembleWeights(cfg, specs, (s) => {
    const name = resolve(s.name);
    const why = s.from ? ` (config.json: ${s.from})` : '';
    if (!name) throw new InputError(file, `missing tensor '${s.name}'${why}`);
    const t = tensors.get(name)!;
    if (t.dims.length !== s.shape.length || t.dims.some((d, i) => d !== s.shape[i])) {
      throw new InputError(file, `tensor '${name}' has shape [${t.dims}], expected [${s.shape}]${why}`);
    }
    used.add(name);
    let f: Tensor;
    try { f = toFloat32(t); } catch { throw new InputError(file, `tensor '${name}' is ${t.dtype}, expected a float type`); }
    // A lazy checkpoint tensor stays lazy: read, converted and laid out when a pass or the writer asks.
    return { name, tensor: toGraphLayout(finiteChecked(f, name, file), s.transform) };
  });
  const extra = [...tensors.keys()].find((n) => !used.has(n) && !IGNORED.test(n));
  if (extra) throw new InputError(file, `tensor '${extra}' is not part of a ${cfg.arch} model as config.json describes it${unusedHint(extra)}`);
  return w;
}

function unusedHint(name: string): string {
  if (/[qk]_norm/.test(name)) return ' (q/k norms: model_type qwen3 or gemma3_text has them)';
  if (/\.bias$/.test(name)) return ' (check attention_bias / mlp_bias / model_type)';
  if (/^lm_head/.test(name)) return ' (check tie_word_embeddings)';
  return ' (check model_type and num_hidden_layers)';
}

function sameBytes(x: Tensor, y: Tensor): boolean {
  if (x.dtype !== y.dtype || x.size !== y.size) return false;
  if (x.data === y.data) return true;
  const xb = x.bytes(), yb = y.bytes();
  for (let i = 0; i < xb.length; i++) if (xb[i] !== yb[i]) return false;
  return true;
}

// ---- config.json helpers shared by the family files ----------------------------------------------

export function requireNumber(c: Record<string, unknown>, k: string, file: string, dflt?: number): number {
  const v = c[k] ?? dflt;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new InputError(file, `missing or invalid '${k}'`);
  return v;
}

/** A size or count field (vocab, width, layers, heads, positions): a positive whole number. */
export function requireCount(c: Record<string, unknown>, k: string, file: string, dflt?: number): number {
  const v = requireNumber(c, k, file, dflt);
  if (!Number.isSafeInteger(v) || v < 1) throw new InputError(file, `'${k}' must be a positive whole number, got ${v}`);
  return v;
}

/** `a.b` of an nn.Linear: weight [out, in] (transposed for the graph), optional bias [out]. */
export function linearTensors(name: string, out: number, inp: number, bias: boolean, role: { layer: number; slot: LinearSlot }, from?: string, std = 0.02): CheckpointTensor[] {
  const t: CheckpointTensor[] = [{ name: `${name}.weight`, shape: [out, inp], init: { kind: 'normal', std }, role: { at: 'layer', ...role, part: 'weight' }, transform: 'transpose', from }];
  if (bias) t.push({ name: `${name}.bias`, shape: [out], init: { kind: 'zeros' }, role: { at: 'layer', ...role, part: 'bias' }, from });
  return t;
}

/** A norm's weight (and bias): ones, or zeros held as 1 + w (Gemma). */
export function normTensors(name: string, size: number, at: { layer: number; slot: NormSlot } | 'final', opts: { bias?: boolean; plusOne?: boolean; from?: string } = {}): CheckpointTensor[] {
  const role = (part: 'weight' | 'bias'): Role => (at === 'final' ? { at: 'finalNorm', part } : { at: 'layer', ...at, part });
  const t: CheckpointTensor[] = [{
    name: `${name}.weight`, shape: [size], init: { kind: opts.plusOne ? 'zeros' : 'ones' }, role: role('weight'),
    ...(opts.plusOne ? { transform: 'plus-one' as const } : {}), from: opts.from,
  }];
  if (opts.bias) t.push({ name: `${name}.bias`, shape: [size], init: { kind: 'zeros' }, role: role('bias'), from: opts.from });
  return t;
}
