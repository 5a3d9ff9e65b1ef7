import { Builder } from '../ir/builder.js';
import { cloneModel, type Graph, type Model, type Node, type Value } from '../ir/graph.js';

/** Name of the final normalisation in graphs quantlab builds (arch/decoder.ts). */
const FINAL_NORM = 'final_norm';

/** Output of the final norm: the LayerNormalization node itself, or the last node of the RMSNorm scope. */
function finalNormOutput(g: Graph): Value | null {
  const name = (n: Node) => n.name.replace(/^\//, '');
  const whole = g.nodes.find((n) => name(n) === FINAL_NORM);
  if (whole) return whole.outputs[0];
  const inScope = (n: Node) => name(n).startsWith(`${FINAL_NORM}/`);
  const out = g.nodes.filter(inScope).flatMap((n) => n.outputs).filter((v) => [...v.uses].some((u) => !inScope(u.node)));
  return out.length === 1 ? out[0] : null;
}

/**
 * The decoder with logits for the last position only ([B, 1, V]): all that generation needs from a
 * prefill (llama.cpp and Hugging Face's generate compute no other row), so a prefill measures the
 * blocks and one head row instead of a [T, vocab] projection and its copy into JS. The position is
 * selected right after the final norm, before whatever form the (quantized) head has. Null when the
 * graph has no final norm under quantlab's name (e.g. an imported ONNX export).
 */
export function lastPositionLogits(model: Model): Model | null {
  const m = cloneModel(model);
  const g = m.graph;
  const h = finalNormOutput(g);
  if (!h || !g.outputs.some((v) => v.name === 'logits')) return null;
  const uses = [...h.uses];
  const b = new Builder(g);
  const last = b.op('Gather', [h, b.constI64([-1])], { axis: 1 }, { name: 'last_position' });
  for (const u of uses) g.setInput(u.node, u.index, last);
  g.sortTopologically();
  return m;
}

/** Name of the greedy token output DecoderRunner adds: ArgMax of the logits at every position returned ([B, T], int64). */
export const NEXT_TOKEN = 'next_token';

/**
 * The graph with the argmax of its logits as an extra output, so a greedy step fetches 8 bytes per
 * row instead of copying a vocabulary of logits into JS and scanning it there (first index on ties,
 * like torch.argmax). Unchanged when there is no `logits` output or it already has one.
 */
export function withNextToken(model: Model): Model {
  const logits = model.graph.outputs.find((v) => v.name === 'logits');
  if (!logits || model.graph.value(NEXT_TOKEN)) return model;
  const m = cloneModel(model);
  const b = new Builder(m.graph);
  const next = b.op('ArgMax', [m.graph.mustValue('logits')], { axis: -1, keepdims: 0 }, { name: 'next_token_argmax' });
  m.graph.renameValue(next, NEXT_TOKEN);
  next.type = { dtype: 'int64', shape: ['batch_size', 'sequence_length'] };
  m.graph.markOutput(next);
  return m;
}
