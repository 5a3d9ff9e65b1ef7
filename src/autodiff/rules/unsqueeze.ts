import type { GradRule } from '../context.js';

export const unsqueeze: GradRule = { op: 'Unsqueeze', grad: (c) => [c.op('Reshape', [c.g, c.shape(c.input(0))]), null] };
