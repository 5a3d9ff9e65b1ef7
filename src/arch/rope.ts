import { Builder } from '../ir/builder.js';
import type { Value } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { InputError } from '../util/errors.js';
import type { RopeConfig, RopeScaling } from './config.js';

const ROPE_TYPES = ['default', 'linear', 'dynamic', 'llama3', 'longrope', 'su'];

/**
 * RoPE of a HF config.json: `rope_theta` (or `rope_parameters.rope_theta`), `partial_rotary_factor`
 * and `rope_scaling` (`rope_type` or the legacy `type` key), as transformers' modeling_rope_utils reads them.
 */
export function ropeFromConfig(c: Record<string, unknown>, file: string, headDim: number, theta?: number): RopeConfig {
  const params = (c.rope_parameters ?? null) as Record<string, unknown> | null;
  const base = theta ?? num(params?.rope_theta ?? c.rope_theta ?? 10000, 'rope_theta', file);
  const factor = num(c.partial_rotary_factor ?? 1, 'partial_rotary_factor', file);
  const rotaryDim = Math.floor(headDim * factor);
  if (factor <= 0 || factor > 1 || rotaryDim % 2 !== 0) throw new InputError(file, `partial_rotary_factor ${factor} gives an odd or empty rotary dimension for head_dim ${headDim}`);
  const rs = (c.rope_scaling ?? params ?? null) as Record<string, unknown> | null;
  return { theta: base, rotaryDim, scaling: rs ? scalingFromConfig(rs, c, file, rotaryDim) : undefined };
}

function scalingFromConfig(rs: Record<string, unknown>, c: Record<string, unknown>, file: string, dim: number): RopeScaling | undefined {
  const type = String(rs.rope_type ?? rs.type ?? 'default');
  const f = (k: string, dflt?: number) => num(rs[k] ?? dflt, `rope_scaling.${k}`, file);
  const maxPos = num(c.max_position_embeddings ?? 2048, 'max_position_embeddings', file);
  switch (type) {
    case 'default': return undefined;
    case 'linear': return { type, factor: f('factor') };
    case 'dynamic': return { type, factor: f('factor'), originalMax: num(rs.original_max_position_embeddings ?? c.original_max_position_embeddings ?? maxPos, 'original_max_position_embeddings', file) };
    case 'llama3': return { type, factor: f('factor'), lowFreqFactor: f('low_freq_factor'), highFreqFactor: f('high_freq_factor'), originalMax: f('original_max_position_embeddings') };
    case 'longrope': case 'su': {
      const list = (k: string): number[] => {
        const v = rs[k];
        if (!Array.isArray(v) || v.length !== dim / 2 || v.some((x) => typeof x !== 'number' || !(x > 0))) throw new InputError(file, `rope_scaling.${k} must list ${dim / 2} positive numbers (rotary dim / 2)`);
        return v as number[];
      };
      // transformers: factor = max_position_embeddings / original_max_position_embeddings when the
      // config has the latter at top level (Phi-3), else rope_scaling.factor.
      const top = c.original_max_position_embeddings;
      const originalMax = num(top ?? rs.original_max_position_embeddings ?? maxPos, 'original_max_position_embeddings', file);
      const factor = top != null ? maxPos / originalMax : num(rs.factor ?? 1, 'rope_scaling.factor', file);
      const attentionFactor = rs.attention_factor != null ? f('attention_factor') : factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(originalMax));
      return { type: 'longrope', short: list('short_factor'), long: list('long_factor'), originalMax, attentionFactor };
    }
    default: throw new InputError(file, `unsupported rope_scaling type '${type}' (supported: ${ROPE_TYPES.join(', ')})`);
  }
}

function num(v: unknown, field: string, file: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new InputError(file, `missing or invalid '${field}'`);
  return v;
}

/** Unscaled inverse frequencies θ^(-2i/d), as transformers computes them (float32 exponent). */
function baseInvFreq(theta: number, dim: number): Float64Array {
  const inv = new Float64Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) inv[i] = 1 / Math.pow(theta, Math.fround((2 * i) / dim));
  return inv;
}

/**
 * The inverse-frequency table used for a sequence of `seqLen` tokens (it depends on the length
 * only for `dynamic` and `longrope`), and the factor applied to cos and sin.
 */
export function ropeTables(r: RopeConfig, seqLen: number): { invFreq: Float32Array; attentionScaling: number } {
  const s = r.scaling, dim = r.rotaryDim;
  let inv = baseInvFreq(r.theta, dim);
  let scale = 1;
  if (s?.type === 'linear') inv = inv.map((x) => x / s.factor);
  else if (s?.type === 'dynamic' && seqLen > s.originalMax) {
    inv = baseInvFreq(r.theta * Math.pow((s.factor * seqLen) / s.originalMax - (s.factor - 1), dim / (dim - 2)), dim);
  } else if (s?.type === 'llama3') {
    const lowWave = s.originalMax / s.lowFreqFactor, highWave = s.originalMax / s.highFreqFactor;
    inv = inv.map((f) => {
      const wave = (2 * Math.PI) / f;
      if (wave < highWave) return f;
      if (wave > lowWave) return f / s.factor;
      const smooth = (s.originalMax / wave - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      return (1 - smooth) * (f / s.factor) + smooth * f;
    });
  } else if (s?.type === 'longrope') {
    const ext = seqLen > s.originalMax ? s.long : s.short;
    inv = inv.map((f, i) => f / ext[i]);
    scale = s.attentionFactor;
  }
  return { invFreq: Float32Array.from(inv), attentionScaling: scale };
}

export interface Rotary { cos: Value; sin: Value; dim: number }

/**
 * cos/sin tables [B,1,T,rotaryDim] from position ids (HF rotate-half convention). The sequence
 * length (max position + 1) picks the `longrope` factors and the `dynamic` base.
 */
export function rotaryTables(b: Builder, r: RopeConfig, posIds: Value, name: string): Rotary {
  const s = r.scaling, dim = r.rotaryDim;
  // The sequence length the scaled variants switch on: max(position_ids) + 1, as transformers has it.
  const total = () => b.op('Add', [b.op('ReduceMax', [posIds], { keepdims: 0 }), b.scalarI64(1)], {}, { name: 'total_length' });
  const constInv = (t: Float32Array, n: string) => b.weight(`${name}.${n}`, new Tensor('float32', [dim / 2], t));
  let inv: Value;
  if (s?.type === 'longrope') {
    const longer = b.op('Greater', [total(), b.scalarI64(s.originalMax)]);
    inv = b.op('Where', [longer, constInv(ropeTables(r, s.originalMax + 1).invFreq, 'inv_freq_long'), constInv(ropeTables(r, 0).invFreq, 'inv_freq_short')]);
  } else if (s?.type === 'dynamic') {
    // θ' = θ·ρ^(d/(d−2)), ρ = max(1, factor·S/orig − (factor − 1))  ⇒  inv_i = inv0_i · ρ^(−2i/(d−2)).
    const S = b.op('Cast', [total()], { to: 1 });
    const rho = b.op('Max', [b.scalarF32(1), b.op('Sub', [b.op('Mul', [S, b.scalarF32(s.factor / s.originalMax)]), b.scalarF32(s.factor - 1)])]);
    const expo = Float32Array.from({ length: dim / 2 }, (_, i) => (-2 * i) / (dim - 2));
    inv = b.op('Mul', [constInv(ropeTables(r, 0).invFreq, 'inv_freq'), b.op('Pow', [rho, b.weight(`${name}.dynamic_exponent`, new Tensor('float32', [dim / 2], expo))])]);
  } else {
    inv = constInv(ropeTables(r, 0).invFreq, 'inv_freq');
  }
  const pos = b.op('Unsqueeze', [b.op('Cast', [posIds], { to: 1 }), b.constI64([-1])]); // [B,T,1]
  const freqs = b.op('Mul', [pos, inv]); // [B,T,d/2]
  const emb = b.op('Unsqueeze', [b.op('Concat', [freqs, freqs], { axis: -1 }), b.constI64([1])]); // [B,1,T,d]
  let cos = b.op('Cos', [emb]), sin = b.op('Sin', [emb]);
  const scale = ropeTables(r, 0).attentionScaling;
  if (scale !== 1) { cos = b.op('Mul', [cos, b.scalarF32(scale)]); sin = b.op('Mul', [sin, b.scalarF32(scale)]); }
  return { cos, sin, dim };
}

/** x·cos + rotate_half(x)·sin on the first `r.dim` channels of each head; the rest pass through. */
export function applyRotary(b: Builder, x: Value, r: Rotary, headDim: number, name: string): Value {
  return b.scope(`rotary_${name}`, () => {
    const d = r.dim;
    const rotate = (t: Value) => {
      const [x1, x2] = b.opN('Split', [t, b.constI64([d / 2, d / 2])], 2, { axis: -1 });
      const rot = b.op('Concat', [b.op('Neg', [x2]), x1], { axis: -1 });
      return b.op('Add', [b.op('Mul', [t, r.cos]), b.op('Mul', [rot, r.sin])]);
    };
    if (d === headDim) return rotate(x);
    const [xr, xp] = b.opN('Split', [x, b.constI64([d, headDim - d])], 2, { axis: -1 });
    return b.op('Concat', [rotate(xr), xp], { axis: -1 });
  });
}

/** The graph's constant RoPE tables (named `rotary.*`, `rotary_local.*`): buffers, not parameters. */
export const isRopeTable = (name: string): boolean => /^rotary(_local)?\./.test(name);
