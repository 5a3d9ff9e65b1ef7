import fs from 'node:fs';
import type { DType } from '../ir/dtype.js';
import type { Model, Node, Value } from '../ir/graph.js';
import { numel } from '../ir/tensor.js';

export const SIZE_GROUPS = ['embeddings', 'attention', 'mlp', 'norms', 'lm_head', 'other'] as const;
export type SizeGroup = (typeof SIZE_GROUPS)[number];

/**
 * `count`: parameters (logical weight elements: a packed 4-bit byte holds two; quantization
 * scales, zero points and graph constants count 0). `bytes`: everything stored in the bucket.
 */
export interface SizeEntry { count: number; bytes: number }

export interface ModelSize {
  /** Bytes of the given files on disk (model + external data); null when no files were given. */
  file_bytes: number | null;
  /** Weight elements; a weight kept both float and quantized (same base name) counts once. */
  param_count: number;
  /** Bytes of weights plus their quantization scales/zero points (graph constants excluded). */
  param_bytes: number;
  /** Small graph constants (shape vectors, scalars, rotary tables): not parameters, grouped as `other`. */
  constant_bytes: number;
  by_dtype: Partial<Record<DType, SizeEntry>>;
  by_group: Record<SizeGroup, SizeEntry>;
}

/** What an initializer is to the model. */
export type InitRole = 'weight' | 'quant' | 'constant';

export interface InitializerInfo { name: string; dtype: DType; role: InitRole; group: SizeGroup; count: number; bytes: number; base: string }

/** Per-initializer classification behind `modelSize` (also used by `inspect`). */
export function classifyInitializers(model: Model): InitializerInfo[] {
  return model.graph.initializers().map((v) => {
    const t = v.constant!;
    const role = roleOf(v);
    const base = baseName(v.name);
    return {
      name: v.name, dtype: t.dtype, role, base, bytes: t.byteLength,
      count: role === 'weight' ? logicalCount(v) : 0,
      group: role === 'constant' ? 'other' : groupOf(v, base),
    };
  });
}

/** Size accounting of a model: parameters and bytes by dtype and by functional group. */
export function modelSize(model: Model, files?: string[]): ModelSize {
  const byGroup = Object.fromEntries(SIZE_GROUPS.map((g) => [g, { count: 0, bytes: 0 }])) as Record<SizeGroup, SizeEntry>;
  const byDtype: Partial<Record<DType, SizeEntry>> = {};
  // A weight stored twice (e.g. float for Gather and int8 for the tied head) is one set of parameters.
  const counted = new Map<string, number>();
  let paramCount = 0, paramBytes = 0, constantBytes = 0;
  // Several copies of one weight: the parameters go to the earliest group (embeddings before lm_head).
  const infos = classifyInitializers(model).sort((a, b) => SIZE_GROUPS.indexOf(a.group) - SIZE_GROUPS.indexOf(b.group));
  for (const i of infos) {
    let count = i.count;
    if (count) {
      const prev = counted.get(i.base) ?? 0;
      count = Math.max(0, count - prev);
      counted.set(i.base, Math.max(prev, i.count));
    }
    const g = byGroup[i.group];
    g.count += count; g.bytes += i.bytes;
    const d = (byDtype[i.dtype] ??= { count: 0, bytes: 0 });
    d.count += count; d.bytes += i.bytes;
    paramCount += count;
    if (i.role === 'constant') constantBytes += i.bytes; else paramBytes += i.bytes;
  }
  return {
    file_bytes: files ? files.reduce((s, f) => s + fs.statSync(f).size, 0) : null,
    param_count: paramCount, param_bytes: paramBytes, constant_bytes: constantBytes,
    by_dtype: byDtype, by_group: byGroup,
  };
}

// Suffixes quantization passes (ours and onnxruntime's quantizers) append to a weight's name.
// `_rows`/`_cols` name a copy grouped along another axis; a trailing `_N` comes from uniqueName.
const QUANT_SUFFIX = /(_quantized|_scales?|_zero_points?|_zp|_Q\d+(G\d+)?|_DQ|_packed|_q\d*|_int[48]|_uint[48])+(_rows|_cols|_transposed)?(_\d+)?$/;
const QUANT_PARAM_NAME = /(_scales?|_zero_points?|_zp)(_rows|_cols|_transposed)?(_\d+)?$/;

/** The float weight's name behind a quantized initializer (`X_quantized`, `X_scale` → `X`). */
export function baseName(name: string): string {
  const b = name.replace(QUANT_SUFFIX, '');
  return b || name;
}

/** Input slots of quantized ops that hold quantization parameters, not weights. */
const QUANT_SLOTS: Record<string, number[]> = {
  MatMulInteger: [2, 3],
  DynamicQuantizeMatMul: [2, 3],
  MatMulIntegerToFloat: [2, 3, 4, 5],
  MatMulNBits: [2, 3, 4],
  DequantizeLinear: [1, 2],
  QuantizeLinear: [1, 2],
  GatherBlockQuantized: [2, 3],
  QLinearMatMul: [1, 2, 4, 5, 6, 7],
};
const CONSTANT_NAME = /(^|[/.])const_\d+(_\d+)?$|inv_freq$|(^|\/)Constant[^/]*$|(cos|sin)_cache$/;

function roleOf(v: Value): InitRole {
  const uses = [...v.uses];
  if (uses.some((u) => QUANT_SLOTS[u.node.opType]?.includes(u.index)) || QUANT_PARAM_NAME.test(v.name)) return 'quant';
  if (CONSTANT_NAME.test(v.name)) return 'constant';
  const t = v.constant!;
  if (numel(t.dims) <= 1) return 'constant';
  // Integer tensors outside quantized slots are shapes, axes and indices.
  if (t.dtype === 'int64' || t.dtype === 'int32' || t.dtype === 'bool') return 'constant';
  return 'weight';
}

/** Logical elements of a weight: packed 4-bit storage in uint8 holds 8/bits per byte. */
function logicalCount(v: Value): number {
  const t = v.constant!;
  for (const u of v.uses) {
    const n = u.node;
    if (n.opType === 'MatMulNBits' && u.index === 1) {
      const K = n.attr('K', 'int'), N = n.attr('N', 'int');
      if (K && N) return K * N;
    }
    if (n.opType === 'GatherBlockQuantized' && u.index === 0 && (t.dtype === 'uint8' || t.dtype === 'int8')) {
      return numel(t.dims) * (8 / (n.attr('bits', 'int') ?? 4));
    }
  }
  return numel(t.dims);
}

const NAME_RULES: [RegExp, SizeGroup][] = [
  [/(^|[./])(lm_head|embed_out)([./_]|$)/, 'lm_head'],
  [/(^|[./_])(ln_\d+|ln_f|\w*layer_?norm\w*|norm|final_norm|norm\d|rms_?norm)([./_]|$)/i, 'norms'],
  [/(^|[./_])(wte|wpe|embed_tokens|embed_positions|embed_in|word_embeddings|position_embeddings|embeddings?)([./_]|$)/, 'embeddings'],
  [/(^|[./_])(attn|self_attn|attention|c_attn|q_proj|k_proj|v_proj|o_proj|qkv_proj|query_key_value)([./_]|$)/, 'attention'],
  [/(^|[./_])(mlp|ffn|feed_forward|c_fc|gate_proj|up_proj|down_proj|gate_up_proj|fc1|fc2|dense_h_to_4h|dense_4h_to_h)([./_]|$)/, 'mlp'],
];

export function groupFromName(name: string): SizeGroup | null {
  for (const [re, g] of NAME_RULES) if (re.test(name)) return g;
  return null;
}

const NORM_OPS = new Set(['LayerNormalization', 'SimplifiedLayerNormalization', 'SkipLayerNormalization', 'SkipSimplifiedLayerNormalization', 'RMSNormalization']);
const ATTENTION_OPS = new Set(['Attention', 'MultiHeadAttention', 'GroupQueryAttention']);
// Ops a weight may pass through on its way to the op that consumes it (dequantize, transpose, ...).
const PASS_THROUGH = new Set(['DequantizeLinear', 'Transpose', 'Cast', 'Reshape', 'Identity', 'Squeeze', 'Unsqueeze', 'Flatten']);

function groupOf(v: Value, base: string): SizeGroup {
  const uses = consumers(v);
  const byName = groupFromName(base);
  // A copy of a tied embedding that only the head reads (e.g. a quantized head table) is head storage.
  if (byName === 'embeddings' && !uses.some((u) => u.node.opType.startsWith('Gather')) && uses.some((u) => groupFromName(u.node.name) === 'lm_head')) return 'lm_head';
  if (byName) return byName;
  // Names say nothing (e.g. `onnx::MatMul_123`): ask the consumers, nearest first.
  for (const { node, index } of uses) {
    const g = groupFromNode(node, index);
    if (g) return g;
  }
  return 'other';
}

/** Nodes reading `v`, directly or through dequantize/transpose/cast chains (breadth first). */
function consumers(v: Value): { node: Node; index: number }[] {
  const seen = new Set<Node>();
  const out: { node: Node; index: number }[] = [];
  let frontier = [...v.uses];
  for (let depth = 0; depth < 4 && frontier.length; depth++) {
    const next: typeof frontier = [];
    for (const u of frontier) {
      if (seen.has(u.node)) continue;
      seen.add(u.node);
      out.push(u);
      if (PASS_THROUGH.has(u.node.opType)) for (const o of u.node.outputs) next.push(...o.uses);
    }
    frontier = next;
  }
  return out;
}

function groupFromNode(node: Node, index: number): SizeGroup | null {
  if (NORM_OPS.has(node.opType)) return 'norms';
  if (ATTENTION_OPS.has(node.opType)) return 'attention';
  const byNode = groupFromName(node.name);
  if (byNode) return byNode;
  // A quantization parameter belongs with the weight it scales.
  for (const inp of node.inputs) {
    if (inp?.constant && inp !== node.inputs[index]) {
      const g = groupFromName(baseName(inp.name));
      if (g) return g;
    }
  }
  if ((node.opType === 'Gather' || node.opType === 'GatherBlockQuantized') && index === 0) return 'embeddings';
  return null;
}

