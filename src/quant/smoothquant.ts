import type { Graph, Node, Value } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';

/** A norm whose output feeds only MatMuls with constant weights: SmoothQuant can fold scales into it. */
export interface SmoothGroup {
  norm: Node;
  /** The norm's output (the MatMuls' shared activation input). */
  activation: Value;
  /** The norm's scale (γ) and optional shift (β) initializers. */
  gamma: Value;
  beta: Value | null;
  matmuls: Node[];
}

/**
 * Norm → MatMul groups: LayerNormalization (γ at input 1, β at input 2), or the RMSNorm pattern
 * Mul(normalised, γ) with γ a 1-D constant. Every user of the norm output must be a MatMul reading it
 * as input A with a constant 2-D weight, so scaling the activation changes nothing else.
 */
export function smoothGroups(g: Graph): SmoothGroup[] {
  const out: SmoothGroup[] = [];
  for (const n of g.nodes) {
    let gamma: Value | null = null, beta: Value | null = null;
    if (n.opType === 'LayerNormalization' && n.domain === '') {
      gamma = n.inputs[1] ?? null;
      beta = n.inputs[2] ?? null;
    } else if (n.opType === 'Mul' && n.domain === '') {
      const c = n.inputs.find((v) => v?.constant && v.constant.dims.length === 1 && v.constant.dims[0] > 1);
      if (c && n.inputs[0]?.producer?.opType === 'Div') gamma = c;
    }
    if (!gamma?.constant || (beta && !beta.constant)) continue;
    const act = n.outputs[0];
    const users = [...act.uses];
    if (!users.length || g.outputs.includes(act)) continue;
    const ok = users.every((u) => u.node.opType === 'MatMul' && u.node.domain === '' && u.index === 0 && u.node.inputs[1]?.constant?.dims.length === 2);
    // γ/β are shared by nothing else, or folding would change another consumer.
    if (!ok || gamma.uses.size !== 1 || (beta && beta.uses.size !== 1)) continue;
    out.push({ norm: n, activation: act, gamma, beta, matmuls: users.map((u) => u.node) });
  }
  return out;
}

/**
 * SmoothQuant (Xiao et al. 2023) for one group: s_j = max|X_j|^α / max|W_j|^(1−α) over input channel j
 * (W rows, across every MatMul of the group), X_j ← X_j / s_j folded into γ and β, W_j ← W_j · s_j.
 * Edits `g` in place by swapping in new initializer tensors (old tensors are never mutated).
 * Returns the scales.
 */
export function applySmoothing(grp: SmoothGroup, actMax: Float32Array, alpha: number): Float32Array {
  const C = actMax.length;
  const wMax = new Float32Array(C);
  for (const m of grp.matmuls) {
    const w = m.inputs[1]!.constant!;
    const [K, N] = w.dims;
    if (K !== C) throw new RangeError(`${m.name}: weight has ${K} input channels, activation has ${C}`);
    const d = w.data as Float32Array;
    for (let j = 0; j < K; j++) for (let k = 0, o = j * N; k < N; k++) { const a = Math.abs(d[o + k]); if (a > wMax[j]) wMax[j] = a; }
  }
  const s = new Float32Array(C);
  for (let j = 0; j < C; j++) {
    const v = Math.pow(Math.max(actMax[j], 1e-5), alpha) / Math.pow(Math.max(wMax[j], 1e-5), 1 - alpha);
    s[j] = Number.isFinite(v) && v > 0 ? Math.min(Math.max(v, 1e-4), 1e4) : 1;
  }
  foldScales(grp, s);
  return s;
}

/**
 * X_j ← X_j / s_j folded into the group's norm (γ and β), W_j ← W_j · s_j in each of its MatMuls:
 * the float model computes the same function (SmoothQuant, AWQ). Swaps in new initializer tensors.
 */
export function foldScales(grp: SmoothGroup, s: Float32Array): void {
  const C = s.length;
  const scaleVec = (v: Value) => {
    const t = v.constant!, d = t.data as Float32Array;
    const nd = new Float32Array(d.length);
    for (let j = 0; j < C; j++) nd[j] = d[j] / s[j];
    replaceConstant(v, new Tensor('float32', [...t.dims], nd));
  };
  scaleVec(grp.gamma);
  if (grp.beta) scaleVec(grp.beta);
  for (const m of grp.matmuls) {
    const wv = m.inputs[1]!;
    const t = wv.constant!;
    const [K, N] = t.dims;
    if (K !== C) throw new RangeError(`${m.name}: weight has ${K} input channels, scales have ${C}`);
    const d = t.data as Float32Array, nd = new Float32Array(d.length);
    for (let j = 0; j < K; j++) for (let k = 0, o = j * N; k < N; k++) nd[o + k] = d[o + k] * s[j];
    replaceConstant(wv, new Tensor('float32', [K, N], nd));
  }
}

/** Point `v` at a new tensor (the graph is a clone, so the source model keeps its tensor). */
function replaceConstant(v: Value, t: Tensor): void {
  if (v.constant!.dtype !== 'float32') throw new RangeError(`${v.name}: SmoothQuant needs float32 weights, got ${v.constant!.dtype}`);
  v.constant = t;
}
