import { Graph, Model, type Value } from '../ir/graph.js';
import { withLogprobHead } from './compare-head.js';

/** Output names of model k in a merged graph (k = 0 is the reference). */
export const mergedOutput = (k: number, name: 'nll' | 'argmax' | 'kld'): string => `m${k}/${name}`;

/**
 * One graph that scores the reference and every variant on shared inputs: the reference's
 * log-probabilities feed each variant's KLD inside onnxruntime, so the [S, vocab] tensor never
 * crosses into JS (copying it out and back per variant cost more than the KLD itself).
 * Returns null when the models cannot share a graph (different default opsets or inputs).
 */
export function mergeHeads(reference: Model, variants: Model[]): Model | null {
  const ref = withLogprobHead(reference, 'reference');
  const heads = variants.map((v) => withLogprobHead(v, 'compare'));
  const opset = ref.opsetVersion('');
  if (heads.some((h) => h.opsetVersion('') !== opset)) return null;
  const g = new Graph('lockstep');
  const shared = new Map<string, Value>();
  for (const v of ref.graph.inputs) shared.set(v.name, g.addInput(v.name, { ...v.type! }));
  for (const h of heads) {
    for (const v of h.graph.inputs) {
      if (v.name === 'ref_logp') continue;
      const s = shared.get(v.name);
      if (!s || s.type?.dtype !== v.type?.dtype) return null;
    }
  }
  const refLogp = copyInto(g, ref, 'm0/', shared, null);
  heads.forEach((h, i) => copyInto(g, h, `m${i + 1}/`, shared, refLogp));
  const out = new Model(g, mergeOpsets([ref, ...heads]));
  out.irVersion = Math.max(ref.irVersion, ...heads.map((h) => h.irVersion));
  return out;
}

/** Copy `m`'s initializers and nodes under `prefix`; its graph inputs read the shared ones. Returns its `logp`, if any. */
function copyInto(g: Graph, m: Model, prefix: string, shared: Map<string, Value>, refLogp: Value | null): Value | null {
  const map = new Map<Value, Value>();
  for (const v of m.graph.inputs) map.set(v, v.name === 'ref_logp' ? refLogp! : shared.get(v.name)!);
  for (const v of m.graph.initializers()) map.set(v, g.addInitializer(prefix + v.name, v.constant!));
  for (const n of m.graph.nodes) {
    const node = g.addNode(n.opType, n.inputs.map((v) => (v ? map.get(v)! : null)), [], { name: prefix + n.name, attrs: { ...n.attrs }, domain: n.domain });
    for (const o of n.outputs) {
      const v = g.adoptOutput(node, o.name ? prefix + o.name : '');
      v.type = o.type;
      map.set(o, v);
    }
  }
  for (const o of m.graph.outputs) if (o.name !== 'logp') g.markOutput(map.get(o)!);
  const logp = m.graph.value('logp');
  return logp ? map.get(logp)! : null;
}

function mergeOpsets(models: Model[]): Model['opsets'] {
  const v = new Map<string, number>();
  for (const m of models) for (const o of m.opsets) v.set(o.domain, Math.max(v.get(o.domain) ?? 0, o.version));
  return [...v].map(([domain, version]) => ({ domain, version }));
}
