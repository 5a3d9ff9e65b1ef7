import type { GradRule } from '../context.js';
import { reduceBack } from './reduce.js';

export const reduceMean: GradRule = { op: 'ReduceMean', grad: (c) => [reduceBack(c, true)] };
