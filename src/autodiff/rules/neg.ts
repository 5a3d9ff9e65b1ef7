import type { GradRule } from '../context.js';

export const neg: GradRule = { op: 'Neg', grad: (c) => [c.op('Neg', [c.g])] };
