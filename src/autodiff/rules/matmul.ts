import type { Value } from '../../ir/graph.js';
import type { GradContext, GradRule } from '../context.js';

/**
 * Y = A @ B (numpy semantics). dA = g @ Bᵀ, dB = Aᵀ @ g, reduced over broadcast batch dims.
 * 1-D operands are promoted to matrices first. A 2-D weight B (the common x @ W case) gets one
 * flattened [rows, K]ᵀ·[rows, N] product instead of a batched product plus a reduction.
 */
export const matmul: GradRule = {
  op: 'MatMul',
  grad: (c) => {
    const a = c.input(0), b = c.input(1);
    const ra = c.mustRank(a), rb = c.mustRank(b);
    const a2 = ra === 1 ? c.op('Unsqueeze', [a, c.ints([0])]) : a;
    const b2 = rb === 1 ? c.op('Unsqueeze', [b, c.ints([1])]) : b;
    let g = c.g;
    if (rb === 1) g = c.op('Unsqueeze', [g, c.ints([-1])]);
    if (ra === 1) g = c.op('Unsqueeze', [g, c.ints([-2])]);
    const back = (d: Value, orig: Value, promoted: Value) => (orig === promoted ? d : c.op('Reshape', [d, c.shape(orig)]));
    // With a 2-D (or 1-D) other operand the product has exactly this operand's batch dims: nothing to reduce.
    const ga = !c.needs(0) ? null : rb <= 2 ? back(c.op('MatMul', [g, swapLast(c, b2)]), a, a2) : back(c.unbroadcast(c.op('MatMul', [g, swapLast(c, b2)]), a2), a, a2);
    let gb = null;
    if (c.needs(1)) {
      const bs = c.staticShape(b);
      if (rb === 2 && ra >= 2 && bs) {
        const a2d = ra === 2 ? a : c.op('Reshape', [a, c.ints([-1, bs[0]])]);
        const g2d = ra === 2 ? g : c.op('Reshape', [g, c.ints([-1, bs[1]])]);
        gb = c.op('Gemm', [a2d, g2d], { transA: 1 });
      } else {
        const prod = c.op('MatMul', [swapLast(c, a2), g]);
        gb = back(ra <= 2 ? prod : c.unbroadcast(prod, b2), b, b2);
      }
    }
    return [ga, gb];
  },
};

function swapLast(c: GradContext, v: Value): Value {
  const r = c.mustRank(v);
  const perm = Array.from({ length: r }, (_, i) => i);
  [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
  return c.op('Transpose', [v], { perm });
}
