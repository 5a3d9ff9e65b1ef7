import type { GradRule } from '../context.js';

export const flatten: GradRule = { op: 'Flatten', grad: (c) => [c.op('Reshape', [c.g, c.shape(c.input(0))])] };
