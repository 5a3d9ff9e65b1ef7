import type { GradRule } from '../context.js';
import { qRange, quantParam, reduceToParam, toFloat } from './fake-quant.js';

/**
 * q = clamp(round(x/s) + zp, qmin, qmax), differentiated with the straight-through estimator:
 * dq/dx = 1/s where round(x/s) + zp lies in [qmin, qmax], 0 where it is clipped; dq/ds = -x/s² there
 * (with DequantizeLinear's (q - zp) term this is LSQ's scale gradient). The incoming gradient is
 * the float dL/dq from DequantizeLinear's rule.
 */
export const quantizeLinear: GradRule = {
  op: 'QuantizeLinear',
  grad: (c) => {
    const x = c.input(0), s = c.input(1);
    const { b: sb, reduceAxes } = quantParam(c, s, x);
    const [lo, hi] = qRange(c.dtype(c.output(0)));
    const xs = c.op('Div', [x, sb]);
    let r = c.op('Round', [xs]);
    const zp = c.node.inputs[2];
    if (zp) r = c.op('Add', [r, toFloat(c, quantParam(c, zp, x).b, x)]);
    const inside = c.op('And', [c.op('GreaterOrEqual', [r, c.scalar(lo, x)]), c.op('LessOrEqual', [r, c.scalar(hi, x)])]);
    const zero = c.scalar(0, x);
    const gx = c.needs(0) ? c.op('Where', [inside, c.op('Div', [c.g, sb]), zero]) : null;
    const gs = c.needs(1) ? reduceToParam(c, c.op('Where', [inside, c.op('Neg', [c.op('Mul', [c.g, c.op('Div', [xs, sb])])]), zero]), reduceAxes) : null;
    return [gx, gs, null];
  },
};
