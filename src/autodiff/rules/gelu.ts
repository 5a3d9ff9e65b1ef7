import type { GradRule } from '../context.js';

/**
 * Exact: y = x·Φ(x), dy/dx = Φ(x) + x·φ(x).
 * Tanh approximation: y = ½x(1 + t), t = tanh(c(x + a x³)): dy/dx = ½(1 + t) + ½x(1 - t²)·c(1 + 3a x²).
 */
export const gelu: GradRule = {
  op: 'Gelu',
  grad: (c) => {
    const x = c.input(0);
    const k = (v: number) => c.scalar(v, x);
    const x2 = c.op('Mul', [x, x]);
    let d;
    if ((c.node.attr('approximate', 'string') ?? 'none') === 'tanh') {
      const s = Math.sqrt(2 / Math.PI), a = 0.044715;
      const t = c.op('Tanh', [c.op('Mul', [c.op('Add', [x, c.op('Mul', [c.op('Mul', [x2, x]), k(a)])]), k(s)])]);
      const left = c.op('Mul', [c.op('Add', [t, k(1)]), k(0.5)]);
      const sech2 = c.op('Sub', [k(1), c.op('Mul', [t, t])]);
      const right = c.op('Mul', [c.op('Mul', [c.op('Mul', [x, k(0.5 * s)]), sech2]), c.op('Add', [k(1), c.op('Mul', [x2, k(3 * a)])])]);
      d = c.op('Add', [left, right]);
    } else {
      const cdf = c.op('Mul', [c.op('Add', [c.op('Erf', [c.op('Mul', [x, k(Math.SQRT1_2)])]), k(1)]), k(0.5)]);
      const pdf = c.op('Mul', [c.op('Exp', [c.op('Mul', [x2, k(-0.5)])]), k(1 / Math.sqrt(2 * Math.PI))]);
      d = c.op('Add', [cdf, c.op('Mul', [x, pdf])]);
    }
    return [c.op('Mul', [c.g, d])];
  },
};
