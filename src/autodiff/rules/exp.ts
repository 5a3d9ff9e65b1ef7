import type { GradRule } from '../context.js';

export const exp: GradRule = { op: 'Exp', grad: (c) => [c.op('Mul', [c.g, c.output(0)])] };
