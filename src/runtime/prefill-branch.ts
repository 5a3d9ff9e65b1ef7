import { ATTENTION_FORM_KEY, SPLIT_PAST } from '../arch/attention.js';
import { Builder } from '../ir/builder.js';
import { cloneModel, Graph, type Model, type Node, type Value } from '../ir/graph.js';
import { TypeTable } from '../ir/types.js';

/** Graph metadata key the runtime sets when the attention of every layer has its prefill branch. */
export const PREFILL_BRANCH_KEY = 'quantlab.prefill_branch';

/**
 * The graph with each layer's attention core (arch/attention.ts `attend`, from the scores over the
 * past to the context) inside an `If` on "the cache is empty", which every prefill from an empty
 * cache and every perplexity run is. The then-branch attends over the new keys alone: no
 * [T, 0 + T] Concat of the scores, no Split of the probabilities, no product with an empty past to
 * add — on GPT-2 124M at 512 tokens, ~12.6 MB copied twice per layer, single-threaded in
 * onnxruntime (~30 ms of a 170 ms int8 prefill). The else-branch is the nodes as they were. An `If`
 * costs onnxruntime ~1 µs per run (12 of them: 74 against 60 µs for the same ops without). Both
 * branches compute the same numbers: the dropped terms are exact zeros and empty concatenations.
 *
 * A runtime form, like the in-place cache: never saved. Layers not built the way `attend` builds
 * them are left as they are; graphs not built by quantlab are returned unchanged.
 */
export function withPrefillBranch(model: Model): Model {
  if (model.metadata[ATTENTION_FORM_KEY] !== SPLIT_PAST) return model;
  const past = model.graph.inputs.filter((v) => v.name.startsWith('past_key_values.'));
  if (!past.length) return model;
  const m = cloneModel(model);
  const g = m.graph;
  const pastValues = new Set(past.map((p) => g.mustValue(p.name)));
  const types = new TypeTable(g, true);
  const b = new Builder(g);
  let empty: Value | null = null;
  let layers = 0;
  for (const cat of g.nodes.filter((n) => n.opType === 'Concat' && /(^|\/)scores$/.test(n.name))) {
    const prefix = cat.name.slice(0, -'scores'.length);
    const split = g.nodes.find((n) => n.name === `${prefix}probs_split` && n.opType === 'Split');
    const add = g.nodes.find((n) => n.name === `${prefix}context` && n.opType === 'Add');
    const newScores = cat.inputs[1];
    if (!split || !add || cat.inputs.length !== 2 || !newScores || !add.inputs[1]) continue;
    const out = add.outputs[0];
    // The core: what computes the context from this layer's past key and value (the past inputs
    // read, other than by Shape, by what the new scores are not computed from) — the queries, new
    // keys and values, mask and split sizes come from outside it.
    const upstream = ancestors(newScores);
    const candidates = new Set([...ancestors(out)].filter((n) => !upstream.has(n)));
    const layerPast = new Set([...candidates].flatMap((n) => (n.opType === 'Shape' ? [] : n.inputs.filter((v): v is Value => !!v && pastValues.has(v)))));
    const fromPast = descendants([...layerPast]);
    let core = g.nodes.filter((n) => fromPast.has(n) && candidates.has(n));
    // What is also read outside (a Cast of the past whose shape the mask reads) stays outside, until
    // every value computed in the core is read only inside it, but for the context.
    for (let size = -1; size !== core.length;) {
      size = core.length;
      const inCore = new Set(core);
      core = core.filter((n) => n.outputs.every((o) => o === out || (!g.outputs.includes(o) && o.users().every((u) => inCore.has(u)))));
    }
    if (![cat, split, add].every((n) => core.includes(n))) continue;
    // Float32 attention only: in half compute onnxruntime's CPU kernels round the same arithmetic a
    // few ulps apart inside a subgraph (1.7e-3 on tiny GPT-2 logits), and an exported half file
    // must give quantlab's runtime the numbers it gives other runtimes.
    const dtype = types.dtype(out);
    if (dtype !== 'float32') continue;
    const alias = new Map<Value, Value>([[cat.outputs[0], newScores], [split.outputs[1], split.inputs[0]!], [out, add.inputs[1]!]]);
    const thenBranch = branch(core, out, `${prefix}attend_prefill`, '/prefill', dtype, alias);
    const elseBranch = branch(core, out, `${prefix}attend_past`, '/past', dtype, new Map());
    if (!empty) {
      empty = b.op('Equal', [b.op('Shape', [g.mustValue(past[0].name)], { start: 2, end: 3 }, { name: 'past_length' }), b.constI64([0])], {}, { name: 'cache_is_empty' });
      g.nodes.unshift(...g.nodes.splice(-2)); // reads only a graph input: first
    }
    const node = g.addNode('If', [empty], [`${out.name}_branch`], { name: `${prefix}attend`, attrs: { then_branch: { t: 'graph', v: thenBranch }, else_branch: { t: 'graph', v: elseBranch } } });
    // Where the core ended: its outer reads are computed before (sortTopologically sees only explicit inputs).
    g.nodes.splice(g.nodes.indexOf(add), 0, g.nodes.pop()!);
    const ctx = node.outputs[0];
    g.replaceAllUses(out, ctx);
    for (const n of [...core].reverse()) g.removeNode(n);
    g.renameValue(ctx, out.name);
    layers++;
  }
  if (!layers) return model;
  m.metadata[PREFILL_BRANCH_KEY] = String(layers);
  return m;
}

/**
 * A subgraph computing `out` from `core`'s nodes (in order), each value renamed with `suffix`;
 * `alias` maps values to the ones that stand for them (their producers are skipped), and values
 * from outside the core are read from the enclosing graph.
 */
function branch(core: Node[], out: Value, name: string, suffix: string, dtype: NonNullable<Value['type']>['dtype'], alias: Map<Value, Value>): Graph {
  const sub = new Graph(name);
  const local = new Map<Value, Value>();
  const resolve = (v: Value): Value => {
    while (alias.has(v)) v = alias.get(v)!;
    return local.get(v) ?? sub.outer(v.name, v.type);
  };
  const needed = ancestorsThrough(out, alias);
  for (const n of core) {
    if (!needed.has(n) || n.outputs.every((o) => alias.has(o))) continue;
    const node = sub.addNode(n.opType, n.inputs.map((v) => (v ? resolve(v) : null)), n.outputs.map((o) => `${o.name}${suffix}`), { name: `${n.name}${suffix}`, attrs: { ...n.attrs }, domain: n.domain });
    n.outputs.forEach((o, i) => local.set(o, node.outputs[i]));
  }
  const result = resolve(out);
  // A branch output must be produced inside the branch (the then-branch of a graph whose new
  // scores feed the softmax directly could otherwise end on an outer value).
  const o = result.producer ? result : sub.addNode('Identity', [result], [`${out.name}${suffix}`], { name: `${name}_out` }).outputs[0];
  o.type = { dtype };
  sub.markOutput(o);
  return sub;
}

/** Nodes that read, directly or not, the contents of any of `values` (a Shape reads none). */
function descendants(values: Value[]): Set<Node> {
  const seen = new Set<Node>();
  const stack = values.flatMap((v) => v.users());
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n) || n.opType === 'Shape') continue;
    seen.add(n);
    for (const o of n.outputs) stack.push(...o.users());
  }
  return seen;
}

/** Nodes `v` is computed from. */
function ancestors(v: Value): Set<Node> { return ancestorsThrough(v, new Map()); }

/** Nodes `v` is computed from when each aliased value is read as its alias. */
function ancestorsThrough(v: Value, alias: Map<Value, Value>): Set<Node> {
  const seen = new Set<Node>();
  const stack: Value[] = [v];
  while (stack.length) {
    let x = stack.pop()!;
    while (alias.has(x)) x = alias.get(x)!;
    const n = x.producer;
    if (!n || seen.has(n)) continue;
    seen.add(n);
    for (const i of n.inputs) if (i) stack.push(i);
  }
  return seen;
}
