import type { QuantMethod } from './pass.js';

/** kind → method. Adding a method is one file plus one line here. */
export const METHODS: QuantMethod[] = [];

export function methodByKind(kind: string): QuantMethod | undefined {
  return METHODS.find((m) => m.kind === kind);
}
