import type { GradRule } from '../context.js';
import { reduceBack } from './reduce.js';

export const reduceSum: GradRule = { op: 'ReduceSum', grad: (c) => [reduceBack(c, false)] };
