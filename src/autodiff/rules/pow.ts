import { dtypeCode } from '../../ir/dtype.js';
import type { Value } from '../../ir/graph.js';
import type { GradRule } from '../context.js';

/** y = x^e: dx = g·e·x^(e-1) (x² special-cased to g·2x); de = g·y·ln x. */
export const pow: GradRule = {
  op: 'Pow',
  grad: (c) => {
    const x = c.input(0);
    let e = c.input(1);
    if (c.dtype(e) !== c.dtype(x)) e = c.op('Cast', [e], { to: dtypeCode(c.dtype(x)) });
    let gx = null;
    if (c.needs(0)) {
      const dydx = constScalar(e) === 2
        ? c.op('Mul', [x, c.scalar(2, x)])
        : c.op('Mul', [e, c.op('Pow', [x, c.op('Sub', [e, c.scalar(1, x)])])]);
      gx = c.unbroadcast(c.op('Mul', [c.g, dydx]), x);
    }
    const ge = c.needs(1) ? c.unbroadcast(c.op('Mul', [c.g, c.op('Mul', [c.output(0), c.op('Log', [x])])]), c.input(1)) : null;
    return [gx, ge];
  },
};

function constScalar(v: Value): number | undefined {
  const t = v.constant;
  return t && t.size === 1 && (t.dtype === 'float32' || t.dtype === 'float64') ? Number(t.data[0]) : undefined;
}
