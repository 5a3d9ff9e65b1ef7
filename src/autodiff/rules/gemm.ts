import { float } from '../../ir/builder.js';
import type { Value } from '../../ir/graph.js';
import type { GradRule } from '../context.js';

/**
 * Y = α·op(A)·op(B) + β·C. With op(X) = X or Xᵀ:
 * dA = α·g·op(B)ᵀ (or its transpose when transA), dB = α·op(A)ᵀ·g (or its transpose when transB), dC = β·g reduced.
 */
export const gemm: GradRule = {
  op: 'Gemm',
  grad: (c) => {
    const a = c.input(0), b = c.input(1), g = c.g;
    const alpha = c.attrFloat('alpha', 1), beta = c.attrFloat('beta', 1);
    const ta = c.attrInt('transA', 0), tb = c.attrInt('transB', 0);
    const gemm = (x: Value, y: Value, tx: number, ty: number) =>
      c.op('Gemm', [x, y], { transA: tx, transB: ty, ...(alpha !== 1 ? { alpha: float(alpha) } : {}) });
    const ga = !c.needs(0) ? null : ta ? gemm(b, g, tb, 1) : gemm(g, b, 0, tb ? 0 : 1);
    const gb = !c.needs(1) ? null : tb ? gemm(g, a, 1, ta) : gemm(a, g, ta ? 0 : 1, 0);
    let gc = null;
    if (c.needs(2)) {
      const x = c.input(2);
      const sg = beta === 1 ? g : c.op('Mul', [g, c.scalar(beta, g)]);
      gc = c.unbroadcast(sg, x);
    }
    return [ga, gb, gc];
  },
};
