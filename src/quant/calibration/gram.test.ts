import assert from 'node:assert/strict';
import { test } from 'node:test';
import '../../engine.js';
import { onnxEngine } from '../../engine.js';
import { cloneModel, type Model } from '../../ir/graph.js';
import type { PassEngine } from '../../passes/engine.js';
import { loadModel } from '../../load/index.js';
import { fixtureDir } from '../../testing/fixtures.js';
import { tinyGpt2 } from '../../testing/random-decoder.js';
import { collectGrams } from './gram.js';
import { stagesOf } from './collect.js';

/** Inputs of the MatMuls with constant weights (every linear layer and the head), with their widths. */
function linearInputs(m: Model): { name: string; k: number }[] {
  const seen = new Map<string, number>();
  for (const n of m.graph.nodes) {
    const w = n.inputs[1];
    if ((n.opType === 'MatMul' || n.opType === 'Gemm') && w?.constant) seen.set(n.inputs[0]!.name, n.opType === 'Gemm' && n.attr('transB', 'int') === 1 ? w.constant.dims[1] : w.constant.dims[0]);
  }
  return [...seen].map(([name, k]) => ({ name, k }));
}

/** Σ xxᵀ by hand from one whole-model run returning the activations themselves. */
async function referenceGrams(m: Model, windows: number[][], inputs: { name: string; k: number }[]): Promise<Map<string, Float64Array>> {
  const probe = cloneModel(m);
  for (const i of inputs) { const v = probe.graph.mustValue(i.name); v.type = { dtype: 'float32', shape: v.type?.shape }; probe.graph.markOutput(v); }
  const run = await onnxEngine.open(probe, { threads: 1 });
  const out = new Map(inputs.map((i) => [i.name, new Float64Array(i.k * i.k)]));
  for (const w of windows) {
    const r = await run.run(BigInt64Array.from(w.map(BigInt)), 1, inputs.map((i) => i.name));
    for (const { name, k } of inputs) {
      const x = r[name].data, g = out.get(name)!;
      for (let t = 0; t < x.length / k; t++) for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) g[a * k + b] += x[t * k + a] * x[t * k + b];
    }
  }
  await run.release();
  return out;
}

/** An engine that records the weight bytes of every model it opens. */
function recording(): { engine: PassEngine; opened: number[] } {
  const opened: number[] = [];
  return { opened, engine: { ...onnxEngine, open: (m, s) => { opened.push(m.graph.initializerBytes()); return onnxEngine.open(m, s); } } };
}

test('stagesOf: each layer\'s nodes in their own stage, embedding and masks before (−1), the final norm and head with the last layer', () => {
  const m = tinyGpt2({ kvCache: true });
  const stage = stagesOf(m.graph);
  for (const n of m.graph.nodes) {
    const layer = /\/layers\.(\d+)\//.exec(n.name);
    if (layer) assert.equal(stage.get(n), Number(layer[1]), n.name);
  }
  const byName = (re: RegExp) => m.graph.nodes.filter((n) => re.test(n.name)).map((n) => stage.get(n));
  assert.ok(byName(/embed_tokens/).every((s) => s === -1));
  assert.ok(byName(/final_norm|ln_f|lm_head/).length > 0 && byName(/final_norm|ln_f|lm_head/).every((s) => s === 1));
});

for (const [what, load] of [
  ['tiny GPT-2 (learned positions, tied head)', () => tinyGpt2({ kvCache: true, seed: 3 })],
  ['tiny Llama (RoPE, GQA, RMSNorm)', () => loadModel(fixtureDir('llama-gqa-tied')).graph({ kvCache: true })],
] as [string, () => Model][]) {
  test(`collectGrams layer by layer equals XᵀX of one whole-model run, holding one layer's weights per session: ${what}`, async () => {
    const m = load();
    const vocab = m.graph.initializers().find((v) => /embed|wte/.test(v.name))!.constant!.dims[0];
    const windows = [0, 1, 2].map((w) => Array.from({ length: 24 + 8 * (w > 0 ? 1 : 0) }, (_, t) => (t * 31 + w * 7 + 5) % vocab));
    const inputs = linearInputs(m);
    const want = await referenceGrams(m, windows, inputs);
    const rec = recording();
    const got = await collectGrams(m, windows, inputs, { engine: rec.engine, session: { threads: 1 } });
    // Computed as upper blocks and mirrored: 2 blocks a side for K = 64, 4 for K = 256.
    const blocked = await collectGrams(m, windows, inputs, { engine: onnxEngine, session: { threads: 1 }, blockWidth: 32 });
    for (const grams of [got, blocked]) {
      for (const { name, k } of inputs) {
        const g = grams.get(name)!, w = want.get(name)!;
        let err = 0, scale = 0;
        for (let j = 0; j < k * k; j++) { err = Math.max(err, Math.abs(g.sum[j] - w[j])); scale = Math.max(scale, Math.abs(w[j])); }
        assert.ok(err <= 1e-4 * scale, `${name}: max error ${err} (scale ${scale})`);
        assert.equal(g.tokens, 24 + 32 + 32);
      }
    }
    // One session per layer, none holding more than its layer's weights plus what every stage recomputes.
    const whole = m.graph.initializerBytes();
    assert.equal(rec.opened.length, 2, 'two layers, two sessions');
    for (const b of rec.opened) assert.ok(b < 0.75 * whole, `a stage session holds ${b} of ${whole} weight bytes`);
  });
}
