import type { GradRule } from '../context.js';

export const cos: GradRule = { op: 'Cos', grad: (c) => [c.op('Neg', [c.op('Mul', [c.g, c.op('Sin', [c.input(0)])])])] };
