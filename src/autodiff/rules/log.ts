import type { GradRule } from '../context.js';

export const log: GradRule = { op: 'Log', grad: (c) => [c.op('Div', [c.g, c.input(0)])] };
