import type { Model, Node } from '../ir/graph.js';

/**
 * Operators (or operator/type combinations) that the onnxruntime-web WASM backend cannot run but
 * onnxruntime-node can. Kept in step with measurement: src/export/transformers-js.test.ts (parity under onnxruntime-web) runs every variant
 * under onnxruntime-web and checks that exactly the variants flagged here fail to load.
 */
export interface WebLimitation {
  domain: string;
  opType: string;
  /** Narrows the rule (e.g. to one element type); absent = every node of this type. */
  when?: (node: Node) => boolean;
  reason: string;
}

export const WEB_LIMITATIONS: WebLimitation[] = [];

/** One line per distinct limitation the model hits, naming the operator and how many nodes use it. */
export function webWarnings(model: Model): string[] {
  const hits = new Map<WebLimitation, number>();
  for (const n of model.graph.nodes) {
    for (const l of WEB_LIMITATIONS) {
      if ((n.domain || '') === l.domain && n.opType === l.opType && (!l.when || l.when(n))) hits.set(l, (hits.get(l) ?? 0) + 1);
    }
  }
  return [...hits].map(([l, count]) => `${l.domain ? `${l.domain}.` : ''}${l.opType} (${count} node${count === 1 ? '' : 's'}): ${l.reason}`);
}
