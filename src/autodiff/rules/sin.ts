import type { GradRule } from '../context.js';

export const sin: GradRule = { op: 'Sin', grad: (c) => [c.op('Mul', [c.g, c.op('Cos', [c.input(0)])])] };
