import type { GradRule } from '../context.js';

/** Shape-only ops: the gradient is g reshaped to the input's shape. */
export const reshape: GradRule = { op: 'Reshape', grad: (c) => [c.op('Reshape', [c.g, c.shape(c.input(0))]), null] };
