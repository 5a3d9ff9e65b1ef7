import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Graph, Model } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { klDivergence, logSoftmax } from '../util/logprob.js';
import { compareLogits, QualityAccumulator } from './kld.js';
import { evaluateLockstep } from './lockstep.js';
import { withLogprobHead } from './compare-head.js';

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

test('KLD, Δp and argmax of one position match values worked out by hand', () => {
  // ref p = [1/2, 1/2], variant q = [3/4, 1/4]: KL = ½ln(½/¾) + ½ln(½/¼) = ½ln(4/3).
  const c = compareLogits([0, 0], [Math.log(3), 0], 0);
  close(c.kld, 0.5 * Math.log(4 / 3));
  close(c.nll, -Math.log(0.75));
  close(c.refNll, Math.log(2));
  assert.equal(c.argmax, 0);
  assert.equal(c.refArgmax, 0); // ties go to the first index, as ArgMax in onnxruntime
  // Shifting logits by a constant changes nothing; KL(p‖p) = 0; KL is not symmetric.
  close(compareLogits([5, 5], [7 + Math.log(3), 7], 0).kld, 0.5 * Math.log(4 / 3));
  close(klDivergence(logSoftmax([1, 2, 3]), logSoftmax([1, 2, 3])), 0);
  // KL(q‖p) = ¾ln(3/2) + ¼ln(1/2)
  close(compareLogits([Math.log(3), 0], [0, 0], 0).kld, 0.75 * Math.log(1.5) + 0.25 * Math.log(0.5));
});

test('accumulator: mean, stderr, percentiles, same-top and RMS Δp over hand-made tokens', () => {
  const acc = new QualityAccumulator();
  // KLDs 0, 0.1, 0.2, 0.3, 0.4; Δp of the correct token: +0.1, −0.1, 0, 0, +0.2; argmax agrees on 3 of 5.
  const p = [[0.5, 0.4], [0.5, 0.6], [0.25, 0.25], [0.8, 0.8], [0.1, 0.3]]; // [ref, variant] probabilities
  const agree = [true, true, false, true, false];
  p.forEach(([pr, pq], i) => acc.add({ kld: i / 10, refNll: -Math.log(pr), nll: -Math.log(pq), refArgmax: 7, argmax: agree[i] ? 7 : 3 }));
  const r = acc.result();
  assert.equal(r.tokens, 5);
  close(r.kld_mean, 0.2);
  close(r.kld_stderr, Math.sqrt(0.02 / 4)); // population variance 0.02, n − 1 = 4
  close(r.kld_median, 0.2);
  close(r.kld_p99, 0.3 + 0.96 * 0.1); // (n−1)·0.99 = 3.96 → between 0.3 and 0.4
  close(r.kld_p999, 0.3 + 0.996 * 0.1);
  close(r.kld_max, 0.4);
  close(r.same_top_pct, 60);
  close(r.same_top_stderr_pct, 100 * Math.sqrt((0.6 * 0.4) / 4));
  close(r.delta_p_mean_pct, 100 * (0.1 - 0.1 + 0 + 0 + 0.2) / 5);
  close(r.delta_p_rms_pct, 100 * Math.sqrt((0.01 + 0.01 + 0.04) / 5));
  // A slightly negative KLD from float rounding counts as 0.
  const a2 = new QualityAccumulator();
  a2.add({ kld: -1e-9, nll: 1, refNll: 1, argmax: 0, refArgmax: 0 });
  assert.equal(a2.result().kld_max, 0);
});

/** A bigram "decoder": logits at a position depend only on its token (embedding then projection). */
function bigram(V: number, D: number, seed: number, head: 'matmul' | 'split' | 'table' = 'matmul'): { model: Model; logits: (tok: number) => number[] } {
  let s = seed;
  const rnd = () => { s = (s * 1103515245 + 12345) >>> 0; return (s / 2 ** 32) * 4 - 2; };
  const E = Array.from({ length: V * D }, rnd), W = Array.from({ length: D * V }, rnd);
  const g = new Graph('bigram');
  const ids = g.addInput('input_ids', { dtype: 'int64', shape: ['batch_size', 'sequence_length'] });
  const e = g.addInitializer('E', Tensor.f32([V, D], E));
  const h = g.addNode('Gather', [e, ids], ['hidden'], { attrs: { axis: { t: 'int', v: 0 } } }).outputs[0];
  let logits;
  if (head === 'matmul') logits = g.addNode('MatMul', [h, g.addInitializer('W', Tensor.f32([D, V], W))], ['logits']).outputs[0];
  else if (head === 'split') {
    // The head's first 4 output columns and the rest as two MatMuls and a Concat (weight-budget.ts splitSite).
    const cols = (from: number, to: number) => Tensor.f32([D, to - from], Array.from({ length: D * (to - from) }, (_, i) => W[Math.floor(i / (to - from)) * V + from + (i % (to - from))]));
    const parts = [[0, 4], [4, V]].map(([a, b], i) => g.addNode('MatMul', [h, g.addInitializer(`W${i}`, cols(a, b))], [`part${i}`]).outputs[0]);
    logits = g.addNode('Concat', parts, ['logits'], { attrs: { axis: { t: 'int', v: -1 } } }).outputs[0];
  } else {
    // Logits straight from a table (the head op is not row-wise: the gather happens after it).
    const table = Array.from({ length: V * V }, (_, i) => { let x = 0; const t = Math.floor(i / V), v = i % V; for (let d = 0; d < D; d++) x += Math.fround(E[t * D + d]) * Math.fround(W[d * V + v]); return x; });
    logits = g.addNode('Gather', [g.addInitializer('T', Tensor.f32([V, V], table)), ids], ['logits'], { attrs: { axis: { t: 'int', v: 0 } } }).outputs[0];
  }
  logits.type = { dtype: 'float32', shape: ['batch_size', 'sequence_length', V] };
  g.markOutput(logits);
  const f = (x: number) => Math.fround(x);
  return {
    model: new Model(g),
    logits: (tok) => Array.from({ length: V }, (_, v) => { let x = 0; for (let d = 0; d < D; d++) x += f(E[tok * D + d]) * f(W[d * V + v]); return x; }),
  };
}

for (const merge of [true, false]) test(`lockstep evaluation through onnxruntime (${merge ? 'one merged session' : 'a session per model'}) matches the JS definitions token by token`, async () => {
  const V = 11, D = 4;
  const ref = bigram(V, D, 1), q1 = bigram(V, D, 2), q2 = bigram(V, D, 3, 'table'), q3 = bigram(V, D, 2, 'split');
  const tokens = Array.from({ length: 23 }, (_, i) => (i * 7 + 3) % V);
  const r = await evaluateLockstep(ref.model, [{ name: 'q1', model: q1.model }, { name: 'q2', model: q2.model }, { name: 'q3', model: q3.model }], tokens, { ctx: 6, stride: 3, batchSize: 2, merge });
  for (const [name, q] of [['q1', q1], ['q2', q2], ['q3', q3]] as const) {
    const acc = new QualityAccumulator();
    let refNll = 0, nll = 0;
    // Every token after the first is scored exactly once, predicted from the token before it.
    for (let j = 1; j < tokens.length; j++) {
      const c = compareLogits(ref.logits(tokens[j - 1]), q.logits(tokens[j - 1]), tokens[j]);
      acc.add(c);
      refNll += c.refNll; nll += c.nll;
    }
    const want = acc.result(), got = r.variants.get(name)!;
    assert.equal(got.quality.tokens, tokens.length - 1);
    close(got.perplexity.perplexity, Math.exp(nll / (tokens.length - 1)), 1e-4);
    close(r.reference.perplexity, Math.exp(refNll / (tokens.length - 1)), 1e-4);
    close(got.quality.kld_mean, want.kld_mean, 1e-5);
    close(got.quality.kld_p99, want.kld_p99, 1e-5);
    close(got.quality.kld_max, want.kld_max, 1e-5);
    close(got.quality.delta_p_rms_pct, want.delta_p_rms_pct, 1e-4);
    assert.equal(got.quality.same_top_pct, want.same_top_pct);
    assert.ok(want.kld_mean > 0.05, 'the variants really differ from the reference');
  }
});

test('a head split by output columns (two MatMuls and a Concat) is scored on the selected positions only, like a single MatMul', () => {
  for (const head of ['matmul', 'split'] as const) {
    const g = withLogprobHead(bigram(11, 4, 2, head).model, 'compare').graph;
    const heads = g.nodes.filter((n) => n.opType === 'MatMul');
    assert.ok(heads.every((n) => n.inputs[0]!.producer?.opType === 'Gather' && n.inputs[0]!.producer.inputs[1]!.name === 'score_positions'), head);
    assert.deepEqual(g.mustValue('logits').type!.shape, ['batch_size', 'scored', 11]);
  }
});
