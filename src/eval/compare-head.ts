import { Builder } from '../ir/builder.js';
import { cloneModel, type Graph, type Model, type Node, type Value } from '../ir/graph.js';

/**
 * Heads that turn a decoder graph into a scorer of selected positions, computed inside
 * onnxruntime so that full-vocabulary logits never cross into JS (merge-heads.ts joins a reference
 * and its variants into one graph, wiring `logp` to each `ref_logp`).
 *
 * Inputs added: `score_positions` int64 [S] (positions of the window that predict a scored token),
 * `labels` int64 [B,S] (the tokens they should predict), and for a compared variant
 * `ref_logp` float32 [B,S,V] (the reference's log-probabilities at the same positions).
 * Outputs: `nll` [B,S], `argmax` [B,S], plus `logp` [B,S,V] (reference) or `kld` [B,S] (variant).
 */
export type HeadRole = 'reference' | 'compare' | 'reference-topk' | 'compare-topk';

// Ops whose output row r depends on input-0 row r only (given constant other inputs). Ops that
// quantize their input with a scale over the whole tensor (DynamicQuantizeMatMul) are not row-wise:
// selecting rows first would change their numbers.
const ROWWISE = new Set(['MatMul', 'MatMulNBits', 'Gemm']);

/** True when `v` is computed from initializers only (e.g. a Cast or Transpose of a weight). */
function constantOnly(v: Value | null, depth = 0): boolean {
  if (!v || v.constant) return true;
  if (!v.producer || depth > 4) return false;
  return v.producer.inputs.every((x) => constantOnly(x, depth + 1));
}

const rowwise = (n: Node | null | undefined): n is Node =>
  !!n && ROWWISE.has(n.opType) && !(n.opType === 'Gemm' && n.attr('transA', 'int')) && n.inputs.slice(1).every((x) => constantOnly(x));

/**
 * Select the scored positions before the vocabulary projection (half the LM-head work for a stride of
 * ctx/2) when the head is row-wise: `MatMul(h)` on [B,T,C], row-wise parts of `h` concatenated on
 * the last axis (a head split between two formats, passes/weight-budget.ts), or
 * `Reshape(Gemm(Reshape(h, [-1,C])), shape)` as exported. Returns the [B,S,V] logits, or null when
 * the head has another form.
 */
function selectBeforeHead(g: Graph, b: Builder, logits: Value, positions: Value): Value | null {
  const outer = logits.producer;
  const parts = outer?.opType === 'Concat' && [-1, 2].includes(outer.attr('axis', 'int') ?? 0) ? outer.inputs.map((v) => v?.producer) : [outer];
  const hidden = parts[0]?.inputs[0];
  if (parts.every(rowwise) && hidden && !hidden.constant && parts.every((p) => p.inputs[0] === hidden && (parts.length === 1 || p.outputs[0].uses.size === 1))) {
    const selected = b.op('Gather', [hidden, positions], { axis: 1 });
    for (const p of parts) g.setInput(p, 0, selected);
    for (const v of [logits, ...parts.map((p) => p.outputs[0])]) declareScored(v);
    return logits;
  }
  if (outer?.opType !== 'Reshape') return null;
  const mid = outer.inputs[0]?.producer;
  if (!rowwise(mid) || mid.outputs[0].uses.size !== 1) return null;
  const inner = mid.inputs[0]?.producer;
  const shape = inner?.inputs[1]?.constant;
  if (inner?.opType !== 'Reshape' || inner.outputs[0].uses.size !== 1 || !shape || shape.size !== 2 || Number(shape.data[0]) !== -1) return null;
  const h = b.op('Gather', [inner.inputs[0], positions], { axis: 1 });
  g.setInput(inner, 0, h);
  const bs = b.op('Slice', [b.op('Shape', [h]), b.constI64([0]), b.constI64([2])]);
  g.setInput(outer, 1, b.op('Concat', [bs, b.constI64([-1])], { axis: 0 }));
  mid.outputs[0].type &&= { dtype: mid.outputs[0].type.dtype };
  declareScored(logits);
  return logits;
}

/**
 * A [B,T,V] value that now has the S scored rows: a stale shape would let onnxruntime's planner
 * share a [B,T,V] buffer with it ("Shape mismatch attempting to re-use buffer").
 */
function declareScored(v: Value): void {
  if (v.type?.shape?.length === 3) v.type = { ...v.type, shape: [v.type.shape[0], 'scored', v.type.shape[2]] };
}

/**
 * `reference-topk` (a reference saved to a file, eval --save-logits) outputs `topk_logp` [B,S,k] and
 * `topk_ids` [B,S,k] instead of the full `logp`, so only k values per position leave onnxruntime.
 * `compare-topk` takes them back as `ref_topk_logp` / `ref_topk_ids` and computes the KLD over the k
 * tokens plus the rest of the vocabulary merged into one outcome: p_rest·ln(p_rest/q_rest), with
 * p_rest, q_rest the mass outside the reference's top k. By the log-sum inequality this is a lower
 * bound of the full KLD, exact when the reference puts (almost) all its mass in its top k.
 */
export function withLogprobHead(model: Model, role: HeadRole, topK = 32): Model {
  const m = cloneModel(model);
  const g = m.graph;
  const logits = g.mustValue('logits');
  const b = new Builder(g);
  const positions = g.addInput('score_positions', { dtype: 'int64', shape: ['scored'] });
  const labels = g.addInput('labels', { dtype: 'int64', shape: ['batch_size', 'scored'] });
  const ref = role === 'compare' ? g.addInput('ref_logp', { dtype: 'float32', shape: ['batch_size', 'scored', 'vocab'] }) : null;
  const refTop = role === 'compare-topk' ? {
    logp: g.addInput('ref_topk_logp', { dtype: 'float32', shape: ['batch_size', 'scored', 'k'] }),
    ids: g.addInput('ref_topk_ids', { dtype: 'int64', shape: ['batch_size', 'scored', 'k'] }),
  } : null;
  b.scope('scoring', () => {
    let scored = selectBeforeHead(g, b, logits, positions) ?? b.op('Gather', [logits, positions], { axis: 1 });
    if (logits.type?.dtype && logits.type.dtype !== 'float32') scored = b.op('Cast', [scored], { to: 1 });
    const logp = b.op('LogSoftmax', [scored], { axis: -1 }, role === 'reference' ? { output: 'logp' } : {});
    const picked = b.op('GatherElements', [logp, b.op('Unsqueeze', [labels, b.constI64([-1])])], { axis: -1 });
    const nll = b.op('Neg', [b.op('Squeeze', [picked, b.constI64([-1])])], {}, { output: 'nll' });
    const am = b.op('ArgMax', [scored], { axis: -1, keepdims: 0 }, { output: 'argmax' });
    g.outputs.splice(0, g.outputs.length);
    nll.type = { dtype: 'float32', shape: ['batch_size', 'scored'] };
    am.type = { dtype: 'int64', shape: ['batch_size', 'scored'] };
    g.markOutput(nll);
    g.markOutput(am);
    if (role === 'reference') {
      logp.type = { dtype: 'float32', shape: ['batch_size', 'scored', 'vocab'] };
      g.markOutput(logp);
    } else if (role === 'reference-topk') {
      const [vals, ids] = b.opN('TopK', [logp, b.constI64([topK])], 2, { axis: -1, largest: 1, sorted: 1 });
      g.renameValue(vals, 'topk_logp');
      g.renameValue(ids, 'topk_ids');
      vals.type = { dtype: 'float32', shape: ['batch_size', 'scored', topK] };
      ids.type = { dtype: 'int64', shape: ['batch_size', 'scored', topK] };
      g.markOutput(vals);
      g.markOutput(ids);
    } else if (refTop) {
      const qTop = b.op('GatherElements', [logp, refTop.ids], { axis: -1 });
      const sum = (x: Value) => b.op('ReduceSum', [x, b.constI64([-1])], { keepdims: 0 });
      const top = sum(b.op('Mul', [b.op('Exp', [refTop.logp]), b.op('Sub', [refTop.logp, qTop])]));
      // Masses outside the top k, floored so that ln stays finite when a model puts it all inside.
      const rest = (x: Value) => b.op('Max', [b.op('Sub', [b.scalarF32(1), sum(b.op('Exp', [x]))]), b.scalarF32(1e-10)]);
      const pRest = rest(refTop.logp), qRest = rest(qTop);
      const tail = b.op('Mul', [pRest, b.op('Sub', [b.op('Log', [pRest]), b.op('Log', [qRest])])]);
      const kld = b.op('Add', [top, tail], {}, { output: 'kld' });
      kld.type = { dtype: 'float32', shape: ['batch_size', 'scored'] };
      g.markOutput(kld);
    } else {
      // KL(ref ‖ q) = Σ_v exp(ref) · (ref − logp)
      const kld = b.op('ReduceSum', [b.op('Mul', [b.op('Exp', [ref!]), b.op('Sub', [ref!, logp])]), b.constI64([-1])], { keepdims: 0 }, { output: 'kld' });
      kld.type = { dtype: 'float32', shape: ['batch_size', 'scored'] };
      g.markOutput(kld);
    }
  });
  g.sortTopologically();
  return m;
}
