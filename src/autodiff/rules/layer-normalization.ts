import type { GradRule } from '../context.js';

/**
 * y = x̂·scale + bias, x̂ = (x - μ)·r, r = 1/√(var + ε) over axes [axis, rank).
 * dx = r·(dx̂ - mean(dx̂) - x̂·mean(dx̂·x̂)), dx̂ = g·scale; dscale = Σ g·x̂; dbias = Σ g.
 * μ and r are recomputed here rather than read from the optional Mean/InvStdDev outputs.
 */
export const layerNormalization: GradRule = {
  op: 'LayerNormalization',
  grad: (c) => {
    if (c.gy[1] || c.gy[2]) throw c.error('gradients through the Mean/InvStdDev outputs are not supported');
    const x = c.input(0), scale = c.input(1);
    const axis = c.attrInt('axis', -1);
    const r0 = axis < 0 ? -axis : c.mustRank(x) - axis;
    const axes = c.ints(Array.from({ length: r0 }, (_, i) => (axis < 0 ? axis + i : axis + i)));
    const mean = (v: typeof x) => c.op('ReduceMean', [v, axes], { keepdims: 1 });
    const d = c.op('Sub', [x, mean(x)]);
    const r = c.op('Reciprocal', [c.op('Sqrt', [c.op('Add', [mean(c.op('Mul', [d, d])), c.scalar(c.attrFloat('epsilon', 1e-5), x)])])]);
    const xhat = c.op('Mul', [d, r]);
    let gx = null;
    if (c.needs(0)) {
      const gh = c.op('Mul', [c.g, scale]);
      const inner = c.op('Sub', [c.op('Sub', [gh, mean(gh)]), c.op('Mul', [xhat, mean(c.op('Mul', [gh, xhat]))])]);
      gx = c.op('Mul', [inner, r]);
    }
    const gs = c.needs(1) ? c.unbroadcast(c.op('Mul', [c.g, xhat]), scale) : null;
    const gb = c.needs(2) ? c.unbroadcast(c.g, c.input(2)) : null;
    return [gx, gs, gb];
  },
};
