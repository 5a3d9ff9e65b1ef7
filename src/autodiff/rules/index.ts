import type { GradRule } from '../context.js';
import { add } from './add.js';
import { cast } from './cast.js';
import { concat } from './concat.js';
import { cos } from './cos.js';
import { dequantizeLinear } from './dequantize-linear.js';
import { div } from './div.js';
import { erf } from './erf.js';
import { exp } from './exp.js';
import { expand } from './expand.js';
import { flatten } from './flatten.js';
import { gather } from './gather.js';
import { gatherElements } from './gather-elements.js';
import { gelu } from './gelu.js';
import { gemm } from './gemm.js';
import { identity } from './identity.js';
import { layerNormalization } from './layer-normalization.js';
import { log } from './log.js';
import { logSoftmax } from './log-softmax.js';
import { matmul } from './matmul.js';
import { mul } from './mul.js';
import { neg } from './neg.js';
import { pow } from './pow.js';
import { quantizeLinear } from './quantize-linear.js';
import { reciprocal } from './reciprocal.js';
import { reduceMean } from './reduce-mean.js';
import { reduceSum } from './reduce-sum.js';
import { relu } from './relu.js';
import { reshape } from './reshape.js';
import { sigmoid } from './sigmoid.js';
import { sin } from './sin.js';
import { slice } from './slice.js';
import { softmax } from './softmax.js';
import { split } from './split.js';
import { sqrt } from './sqrt.js';
import { squeeze } from './squeeze.js';
import { sub } from './sub.js';
import { tanh } from './tanh.js';
import { transpose } from './transpose.js';
import { unsqueeze } from './unsqueeze.js';
import { where } from './where.js';

/** Every gradient rule, one per ONNX op type (default domain). */
export const RULES: readonly GradRule[] = [
  add, cast, concat, cos, dequantizeLinear, div, erf, exp, expand, flatten, gather, gatherElements, gelu, gemm, identity,
  layerNormalization, log, logSoftmax, matmul, mul, neg, pow, quantizeLinear, reciprocal, reduceMean, reduceSum, relu,
  reshape, sigmoid, sin, slice, softmax, split, sqrt, squeeze, sub, tanh, transpose, unsqueeze, where,
];
