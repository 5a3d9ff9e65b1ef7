import { Builder } from '../ir/builder.js';
import { cloneModel, type Model } from '../ir/graph.js';

/**
 * A copy of a decoder graph that scores its own input: given `labels` [B,T] it outputs
 * `nll` [B,T] (negative log-likelihood of each label) and `argmax` [B,T] instead of the
 * full logits, so a window's [T, vocab] logits never cross into JS.
 */
export function withScoringHead(model: Model): Model {
  const m = cloneModel(model);
  const g = m.graph;
  const logits = g.mustValue('logits');
  const b = new Builder(g);
  const labels = g.addInput('labels', { dtype: 'int64', shape: ['batch_size', 'sequence_length'] });
  b.scope('scoring', () => {
    const logp = b.op('LogSoftmax', [logits], { axis: -1 });
    const picked = b.op('GatherElements', [logp, b.op('Unsqueeze', [labels, b.constI64([-1])])], { axis: -1 });
    const nll = b.op('Neg', [b.op('Squeeze', [picked, b.constI64([-1])])], {}, { output: 'nll' });
    const am = b.op('ArgMax', [logits], { axis: -1, keepdims: 0 }, { output: 'argmax' });
    g.outputs.splice(0, g.outputs.length);
    nll.type = { dtype: 'float32', shape: ['batch_size', 'sequence_length'] };
    am.type = { dtype: 'int64', shape: ['batch_size', 'sequence_length'] };
    g.markOutput(nll);
    g.markOutput(am);
  });
  return m;
}
