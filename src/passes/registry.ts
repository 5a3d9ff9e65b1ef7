import { dynamicInt8 } from './dynamic-int8.js';
import type { QuantMethod } from './pass.js';
import { staticInt8 } from './static-int8.js';

/** kind → method. Adding a method is one file plus one line here. */
export const METHODS: QuantMethod[] = [dynamicInt8 as QuantMethod, staticInt8 as QuantMethod];

export function methodByKind(kind: string): QuantMethod | undefined {
  return METHODS.find((m) => m.kind === kind);
}
