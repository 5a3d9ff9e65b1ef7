import { isRopeTable } from '../arch/rope.js';
import { isBuilderConstant } from '../ir/builder.js';
import type { Model } from '../ir/graph.js';

/** What training updates by default: every float32 initializer of rank ≥ 1 but the rotary tables and the graph builder's constants. */
export function defaultTrainable(m: Model): string[] {
  return m.graph.initializers()
    .filter((v) => v.constant!.dtype === 'float32' && v.constant!.dims.length >= 1 && !isRopeTable(v.name) && !isBuilderConstant(v.name))
    .map((v) => v.name);
}
