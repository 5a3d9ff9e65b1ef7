import { dynamicInt8 } from './dynamic-int8.js';
import { bf16, fp16 } from './fp16.js';
import type { QuantMethod } from './pass.js';
import { qatInt8 } from './qat-int8.js';
import { staticInt8 } from './static-int8.js';
import { int4Weight, int8Weight } from './weight-only.js';

/** kind → method. Adding a method is one file plus one line here. */
export const METHODS: QuantMethod[] = [dynamicInt8 as QuantMethod, staticInt8 as QuantMethod, fp16 as QuantMethod, bf16 as QuantMethod, int8Weight as QuantMethod, int4Weight as QuantMethod, qatInt8 as QuantMethod];

export function methodByKind(kind: string): QuantMethod | undefined {
  return METHODS.find((m) => m.kind === kind);
}
