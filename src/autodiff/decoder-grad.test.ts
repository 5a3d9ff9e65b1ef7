import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DecoderConfig, DecoderWeights } from '../arch/config.js';
import { loadModel } from '../load/index.js';
import { fixtureDir } from '../testing/fixtures.js';
import { buildDecoder } from '../arch/decoder.js';
import { cloneModel, type Model } from '../ir/graph.js';
import { createSession, ort } from '../runtime/session.js';
import { initDecoderWeights, tinyConfig } from '../train/init.js';
import { buildGradientGraph, gradName, initializersToInputs } from './engine.js';
import { toFloat64 } from './float64.js';
import { gradCheck } from '../testing/gradcheck.js';
import { addCrossEntropyLoss, nextTokenLabels } from './loss.js';

// End to end: dNLL/dw of tiny random GPT-2 and Llama graphs (as buildDecoder makes them) against
// central finite differences, in float64; then the float32 gradient graph (weights fed as inputs,
// as the training loop runs it) against the float64 gradients. Float64 sessions use the 'basic'
// optimisation level: onnxruntime's QuickGelu fusion (SiLU) has only a float kernel.

function weightNames(w: DecoderWeights): string[] {
  const names: string[] = [w.tokenEmbedding.name];
  if (w.positionEmbedding) names.push(w.positionEmbedding.name);
  const lin = (l?: { name: string; bias?: { name: string } }) => { if (l) { names.push(l.name); if (l.bias) names.push(l.bias.name); } };
  const norm = (n: { weight: { name: string }; bias?: { name: string } }) => { names.push(n.weight.name); if (n.bias) names.push(n.bias.name); };
  for (const l of w.layers) {
    norm(l.norm1); norm(l.norm2); lin(l.qkv); lin(l.q); lin(l.k); lin(l.v); lin(l.o); lin(l.gateUp); lin(l.gate); lin(l.up); lin(l.down);
    for (const n of [l.qNorm, l.kNorm, l.postAttnNorm, l.postMlpNorm]) if (n) norm(n);
  }
  norm(w.finalNorm);
  lin(w.lmHead);
  return names;
}

const B = 2, T = 6;

function tokens(vocab: number, seed: number): BigInt64Array {
  let s = seed;
  return BigInt64Array.from({ length: B * T }, () => { s = (s * 1103515245 + 12345) % 2 ** 31; return BigInt(s % vocab); });
}

/** The model with the chosen initializers as graph inputs, and feeds holding their values. */
function withWeightInputs(m: Model, names: string[], ids: BigInt64Array, labels: BigInt64Array) {
  const out = cloneModel(m);
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', ids, [B, T]),
    labels: new ort.Tensor('int64', labels, [B, T]),
  };
  for (const n of names) {
    const t = out.graph.mustValue(n).constant!;
    feeds[n] = new ort.Tensor(t.dtype === 'float64' ? 'float64' : 'float32', t.data as Float32Array, t.dims);
  }
  initializersToInputs(out.graph, names);
  return { model: out, feeds };
}

// Each family's fixture config: windows, rope scaling, q/k and sandwich norms, fused projections, soft-cap.
const familyCase = (name: string, what: string): [string, DecoderConfig, string] => [name, loadModel(fixtureDir(name)).config!, what];

for (const [arch, cfg, what] of [
  ['gpt2', tinyConfig('gpt2'), 'learned positions, LayerNorm, gelu_new, fused qkv, tied Gemm head'],
  ['llama', tinyConfig('llama'), 'RoPE, RMSNorm, SiLU gate, GQA 4/2 heads, untied head'],
  ['llama', tinyConfig('llama', { tieWordEmbeddings: true, numKvHeads: 4 }), 'MHA, tied head'],
  familyCase('qwen2-bias', 'q/k/v biases'),
  familyCase('qwen3-qknorm', 'per-head q/k norms'),
  familyCase('mistral-window', 'sliding window'),
  familyCase('phi3-longrope', 'fused qkv and gate_up, longrope'),
  familyCase('gemma3-text', '(1+w) norms, sandwich norms, local/global rope, soft-cap'),
] as const) {
  test(`NLL gradients of a tiny ${arch} match finite differences in float64 (${what})`, async () => {
    // Weights of std 0.3 at hidden 16; wider fixtures get proportionally less, so softmaxes stay unsaturated.
    const w = initDecoderWeights(cfg, { seed: 7, std: 0.3 * Math.sqrt(16 / cfg.hiddenSize), perturbNorms: true });
    const names = weightNames(w);
    const ids = tokens(cfg.vocabSize, 11);
    const labels = nextTokenLabels(ids, B, T);
    const lossModel = addCrossEntropyLoss(buildDecoder(cfg, w, { kvCache: false }), { ignoreIndex: -100 });

    const f64 = withWeightInputs(toFloat64(lossModel), names, ids, labels);
    const results = await gradCheck(f64.model, { loss: 'loss', wrt: names, feeds: f64.feeds, step: 1e-6, maxElements: 8, optimization: 'basic' });
    const worst = results.reduce((a, r) => (r.relError > a.relError ? r : a));
    console.log(`  ${arch} ${what}: ${results.length} weights, ${results.reduce((s, r) => s + r.checked, 0)} elements, worst rel err ${worst.relError.toExponential(2)} (${worst.name})`);
    for (const r of results) {
      assert.ok(r.maxAbsGrad > 1e-6, `${r.name}: numeric gradient is ~0, the check is vacuous`);
      assert.ok(r.relError < 1e-6, `${r.name}: rel error ${r.relError}`);
    }

    // float32, weights as inputs, full gradient tensors vs the float64 graph's.
    const g64 = await createSession(buildGradientGraph(f64.model, { loss: 'loss', wrt: names }), { threads: 1, optimization: 'basic' });
    const ref = await g64.run(f64.feeds);
    await g64.release();
    const g32m = buildGradientGraph(lossModel, { loss: 'loss', wrt: names, weightsAsInputs: true });
    assert.deepEqual(g32m.graph.inputs.map((v) => v.name).sort(), ['input_ids', 'labels', ...names].sort());
    assert.ok(names.every((n) => lossModel.graph.mustValue(n).constant !== null), 'input model was modified');
    const f32 = withWeightInputs(lossModel, [], ids, labels);
    for (const n of names) f32.feeds[n] = new ort.Tensor('float32', lossModel.graph.mustValue(n).constant!.data as Float32Array, lossModel.graph.mustValue(n).constant!.dims);
    const s32 = await createSession(g32m);
    const got = await s32.run(f32.feeds);
    await s32.release();
    assert.ok(Math.abs(Number(got.loss.data[0]) - Number(ref.loss.data[0])) < 1e-5);
    let worst32 = 0;
    for (const n of names) {
      const a = got[gradName(n)].data as Float32Array, r = ref[gradName(n)].data as Float64Array;
      let d = 0, s = 0;
      for (let i = 0; i < r.length; i++) { d = Math.max(d, Math.abs(a[i] - r[i])); s = Math.max(s, Math.abs(r[i])); }
      worst32 = Math.max(worst32, d / s);
    }
    console.log(`  ${arch}: float32 gradients vs float64: worst rel err ${worst32.toExponential(2)}`);
    assert.ok(worst32 < 1e-4, `float32 gradient rel error ${worst32}`);
  });
}
