import type { GradRule } from '../context.js';

export const expand: GradRule = { op: 'Expand', grad: (c) => [c.unbroadcast(c.g, c.input(0)), null] };
