import type { GradRule } from '../context.js';

export const squeeze: GradRule = { op: 'Squeeze', grad: (c) => [c.op('Reshape', [c.g, c.shape(c.input(0))]), null] };
