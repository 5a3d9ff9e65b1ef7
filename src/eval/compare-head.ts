import { Builder } from '../ir/builder.js';
import { cloneModel, type Model, type Value } from '../ir/graph.js';

/**
 * Heads that turn a decoder graph into a scorer of selected positions, computed inside
 * onnxruntime so that only the reference's log-probabilities cross into JS (once per window).
 *
 * Inputs added: `score_positions` int64 [S] (positions of the window that predict a scored token),
 * `labels` int64 [B,S] (the tokens they should predict), and for a compared variant
 * `ref_logp` float32 [B,S,V] (the reference's log-probabilities at the same positions).
 * Outputs: `nll` [B,S], `argmax` [B,S], plus `logp` [B,S,V] (reference) or `kld` [B,S] (variant).
 */
export type HeadRole = 'reference' | 'compare';

// Ops whose input 0 is the per-position hidden state and whose output row t depends on row t only.
const ROWWISE_HEADS = new Set(['MatMul', 'MatMulNBits', 'DynamicQuantizeMatMul', 'MatMulIntegerToFloat', 'FusedMatMul']);

export function withLogprobHead(model: Model, role: HeadRole): Model {
  const m = cloneModel(model);
  const g = m.graph;
  const logits = g.mustValue('logits');
  const b = new Builder(g);
  const positions = g.addInput('score_positions', { dtype: 'int64', shape: ['scored'] });
  const labels = g.addInput('labels', { dtype: 'int64', shape: ['batch_size', 'scored'] });
  const ref = role === 'compare' ? g.addInput('ref_logp', { dtype: 'float32', shape: ['batch_size', 'scored', 'vocab'] }) : null;
  b.scope('scoring', () => {
    let scored: Value;
    const head = logits.producer;
    const hidden = head?.inputs[0];
    // Selecting positions before the LM head skips the vocabulary projection of unscored positions,
    // unless that would split a QDQ pair that onnxruntime fuses (a different kernel, different numbers).
    if (head && hidden && !hidden.constant && ROWWISE_HEADS.has(head.opType) && hidden.producer?.opType !== 'DequantizeLinear' && logits.uses.size === 0) {
      g.setInput(head, 0, b.op('Gather', [hidden, positions], { axis: 1 }));
      scored = logits;
    } else {
      scored = b.op('Gather', [logits, positions], { axis: 1 });
    }
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
