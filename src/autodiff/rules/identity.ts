import type { GradRule } from '../context.js';

export const identity: GradRule = { op: 'Identity', grad: (c) => [c.g] };
