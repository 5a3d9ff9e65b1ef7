import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildDecoder } from '../arch/decoder.js';
import { AdamW } from './adamw.js';
import { clipScale, globalNorm } from './clip.js';
import { initDecoderWeights, tinyConfig } from './init.js';
import { loadModel } from '../load/index.js';
import { fixtureDir } from '../testing/fixtures.js';
import { learningRate } from './schedule.js';
import { Trainer } from './trainer.js';

test('learning rate: linear warm-up, then cosine to the floor', () => {
  const s = { peak: 1e-3, warmupSteps: 10, totalSteps: 110, minRatio: 0.1 };
  assert.equal(learningRate(s, 0), 1e-4);
  assert.equal(learningRate(s, 9), 1e-3);
  assert.equal(learningRate(s, 10), 1e-3);
  assert.ok(Math.abs(learningRate(s, 60) - 5.5e-4) < 1e-12);
  assert.ok(Math.abs(learningRate(s, 110) - 1e-4) < 1e-12);
  assert.ok(Math.abs(learningRate(s, 500) - 1e-4) < 1e-12);
});

test('gradient clipping by global norm', () => {
  assert.equal(globalNorm([Float32Array.of(3), Float32Array.of(0, 4)]), 5);
  assert.equal(clipScale(5, 1), 0.2);
  assert.equal(clipScale(0.5, 1), 1);
  assert.equal(clipScale(5, 0), 1);
  assert.throws(() => clipScale(NaN, 1), /gradient norm is NaN/);
});

test('AdamW matches a float64 reference over three steps (decay only where selected)', () => {
  const w = Float32Array.of(0.5, -1.5, 2), b = Float32Array.of(0.25);
  const opt = new AdamW([{ name: 'w', data: w, decay: true }, { name: 'b', data: b, decay: false }], { beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1 });
  const grads = [[Float32Array.of(0.1, -0.2, 0.3), Float32Array.of(1)], [Float32Array.of(-0.4, 0.1, 0.3), Float32Array.of(-2)], [Float32Array.of(0.2, 0.2, -0.1), Float32Array.of(0.5)]];
  const lrs = [0.1, 0.05, 0.02];
  // Reference: the AdamW update written out in float64.
  const ref = [[0.5, -1.5, 2], [0.25]], m = [[0, 0, 0], [0]], v = [[0, 0, 0], [0]];
  grads.forEach((gs, t) => {
    gs.forEach((g, k) => g.forEach((gi, i) => {
      m[k][i] = 0.9 * m[k][i] + 0.1 * gi * 0.5;
      v[k][i] = 0.99 * v[k][i] + 0.01 * (gi * 0.5) ** 2;
      const mh = m[k][i] / (1 - 0.9 ** (t + 1)), vh = v[k][i] / (1 - 0.99 ** (t + 1));
      ref[k][i] = ref[k][i] * (k === 0 ? 1 - lrs[t] * 0.1 : 1) - (lrs[t] * mh) / (Math.sqrt(vh) + 1e-8);
    }));
    opt.step(gs, lrs[t], 0.5);
  });
  [w, b].forEach((p, k) => p.forEach((x, i) => assert.ok(Math.abs(x - ref[k][i]) < 1e-6, `param ${k}[${i}]: ${x} vs ${ref[k][i]}`)));
  assert.equal(opt.t, 3);
});

/** Windows of an arithmetic sequence mod V (next = prev + 3): learnable from one token of context. */
function batchOf(step: number, batch: number, seq: number, vocab: number): BigInt64Array {
  const ids = new BigInt64Array(batch * seq);
  for (let r = 0; r < batch; r++) {
    const start = (step * 13 + r * 29) % vocab;
    for (let t = 0; t < seq; t++) ids[r * seq + t] = BigInt((start + 3 * t) % vocab);
  }
  return ids;
}

for (const arch of ['gpt2', 'llama'] as const) {
  test(`training a tiny ${arch} for 30 steps lowers the loss (AdamW, warm-up + cosine, clipping)`, async () => {
    const cfg = tinyConfig(arch);
    const decoder = buildDecoder(cfg, initDecoderWeights(cfg, { seed: 3 }), { kvCache: false });
    const trainer = await Trainer.create(decoder, {
      schedule: { peak: 3e-2, warmupSteps: 5, totalSteps: 30 },
      adamw: { weightDecay: 0.01 },
      maxGradNorm: 1,
      threads: 1,
    });
    const B = 4, T = 16;
    const losses: number[] = [];
    for (let s = 0; s < 30; s++) {
      const r = await trainer.trainStep(batchOf(s, B, T, cfg.vocabSize), B, T);
      assert.equal(r.step, s);
      assert.ok(Number.isFinite(r.loss) && r.gradNorm > 0);
      losses.push(r.loss);
    }
    const first = losses[0], last = losses.slice(-5).reduce((a, b) => a + b, 0) / 5;
    console.log(`  ${arch}: loss ${first.toFixed(3)} → ${last.toFixed(3)} (mean of the last 5 steps); ln V = ${Math.log(cfg.vocabSize).toFixed(3)}`);
    assert.ok(Math.abs(first - Math.log(cfg.vocabSize)) < 0.1, 'initial loss should be near ln V for a 0.02-std init');
    assert.ok(last < first - 2.5, `loss did not drop enough: ${first} → ${last}`);
    // A held-out batch (unseen start offsets) is learned too, and model() carries the trained weights.
    const held = batchOf(1000, B, T, cfg.vocabSize);
    const { loss: heldLoss } = await trainer.lossAndGradients(held, B, T);
    assert.ok(heldLoss < first - 2.5, `held-out loss ${heldLoss}`);
    const trained = trainer.model();
    const name = trainer.params[0].name;
    assert.deepEqual(trained.graph.mustValue(name).constant!.data, trainer.params[0].data);
    assert.notDeepEqual(decoder.graph.mustValue(name).constant!.data, trainer.params[0].data);
    await trainer.release();
  });
}

const familyConfigs = ['qwen2-bias', 'qwen3-qknorm', 'mistral-window', 'phi3-longrope', 'gemma3-text'].map((n) => [n, loadModel(fixtureDir(n)).config!] as const);
for (const [arch, cfg] of [['gpt2', tinyConfig('gpt2')] as const, ['llama', tinyConfig('llama')] as const, ...familyConfigs]) {
  test(`the KV-cache form (empty cache) gives the full-sequence form's loss and gradients (${arch})`, async () => {
    const w = initDecoderWeights(cfg, { seed: 5, std: 0.2 });
    const B = 2, T = 12;
    const ids = batchOf(7, B, T, cfg.vocabSize);
    const run = async (kvCache: boolean) => {
      const t = await Trainer.create(buildDecoder(cfg, w, { kvCache }), { schedule: { peak: 1e-3, warmupSteps: 0, totalSteps: 1 }, threads: 1 });
      try { return await t.lossAndGradients(ids, B, T); } finally { await t.release(); }
    };
    const full = await run(false), kv = await run(true);
    assert.ok(Math.abs(full.loss - kv.loss) < 1e-5, `loss ${full.loss} vs ${kv.loss}`);
    assert.equal(kv.grads.length, full.grads.length);
    let worst = 0;
    full.grads.forEach((g, i) => { for (let j = 0; j < g.length; j++) worst = Math.max(worst, Math.abs(g[j] - kv.grads[i][j])); });
    assert.ok(worst < 1e-5, `max |Δgrad| ${worst}`);
  });
}
