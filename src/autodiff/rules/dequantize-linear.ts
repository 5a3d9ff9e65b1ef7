import type { GradRule } from '../context.js';
import { quantParam, reduceToParam, toFloat } from './fake-quant.js';

/**
 * y = s·(q - zp). dq = g·s (a float: the straight-through gradient QuantizeLinear's rule consumes);
 * ds = Σ g·(q - zp) over the axes the scale is shared by. No gradient for the integer zero point.
 */
export const dequantizeLinear: GradRule = {
  op: 'DequantizeLinear',
  grad: (c) => {
    const q = c.input(0), s = c.input(1);
    const { b: sb, reduceAxes } = quantParam(c, s, q);
    const gq = c.needs(0) ? c.op('Mul', [c.g, sb]) : null;
    let gs = null;
    if (c.needs(1)) {
      let centred = toFloat(c, q, s);
      const zp = c.node.inputs[2];
      if (zp) centred = c.op('Sub', [centred, toFloat(c, quantParam(c, zp, q).b, s)]);
      gs = reduceToParam(c, c.op('Mul', [c.g, centred]), reduceAxes);
    }
    return [gq, gs, null];
  },
};
