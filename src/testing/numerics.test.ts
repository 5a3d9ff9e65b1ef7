import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { readSafetensors, writeSafetensors } from '../hf/safetensors.js';
import { Tensor } from '../ir/tensor.js';
import { loadModel } from '../load/index.js';
import { onnxEngine } from '../engine.js';
import { evaluateLockstep } from '../eval/lockstep.js';
import { perplexity } from '../eval/perplexity.js';
import { collectActivationStats } from '../quant/calibration/collect.js';
import { collectGrams } from '../quant/calibration/gram.js';
import { trainRun } from '../train/run.js';
import { InputError, UsageError } from '../util/errors.js';
import { fixtureDir } from './fixtures.js';
import { tinyGpt2 } from './random-decoder.js';

// NaN/Inf anywhere a number enters or is made — a weight on load, an activation in calibration, a
// log-probability in evaluation, the loss in training — is refused and named, never averaged in.

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-nan-'));

/** A copy of a fixture folder with one element of one weight replaced. */
function poisoned(value: number): { dir: string; name: string } {
  const src = fixtureDir('llama3-rope'), dir = tmp();
  fs.copyFileSync(path.join(src, 'config.json'), path.join(dir, 'config.json'));
  const tensors = new Map([...readSafetensors(path.join(src, 'model.safetensors')).tensors].map(([k, t]) => [k, new Tensor(t.dtype, t.dims, t.data.slice() as Float32Array)]));
  const name = 'model.layers.1.mlp.down_proj.weight';
  (tensors.get(name)!.data as Float32Array)[7] = value;
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
  return { dir, name };
}

test('a NaN or ±Inf weight is refused on load, naming the file, the tensor and the element', () => {
  for (const v of [NaN, Infinity, -Infinity]) {
    const { dir, name } = poisoned(v);
    try {
      const g = loadModel(dir).graph({ kvCache: true });
      const read = () => { for (const w of g.graph.initializers()) void w.constant!.data; };
      assert.throws(read, (e: unknown) => e instanceof InputError && e.message === `${path.join(dir, 'model.safetensors')}: tensor '${name}' holds ${Number.isNaN(v) ? 'NaN' : v} at element 7 (a weight must be finite)`);
    } finally { fs.rmSync(dir, { recursive: true, force: true }); }
  }
});

/** A tiny GPT-2 whose first MLP output overflows float32 (finite weights, infinite activations). */
function overflowing() {
  const m = tinyGpt2({ seed: 2 });
  const w = m.graph.initializers().find((v) => v.name === 'h.0.mlp.c_fc.weight')!;
  w.constant = new Tensor('float32', w.constant!.dims, (w.constant!.data as Float32Array).map((x) => x * 3e38));
  return m;
}

test('an activation that overflows in calibration is named with its calibration window', async () => {
  const m = overflowing();
  const tensor = m.graph.nodes.find((n) => n.name === '/layers.0/mlp/down_proj')!.inputs[0]!.name;
  await assert.rejects(collectActivationStats(m, [[1, 2, 3, 4, 5, 6]], { tensors: [tensor], engine: onnxEngine, session: { threads: 1 } }),
    new RegExp(`^Error: calibration: activation '${tensor.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}' is (-?Infinity|NaN) in calibration window 0`));
});

test('an activation that overflows is named with its calibration window by the Gram collection too (whole and in blocks)', async () => {
  const m = overflowing();
  const tensor = m.graph.nodes.find((n) => n.name === '/layers.0/mlp/down_proj')!.inputs[0]!.name;
  for (const blockWidth of [512, 64]) {
    await assert.rejects(collectGrams(m, [[1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2]], [{ name: tensor, k: 256 }], { engine: onnxEngine, session: { threads: 1 }, blockWidth }),
      new RegExp(`^Error: calibration: activation '${tensor.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}' is (-?Infinity|NaN) in calibration window 0`));
  }
});

test('evaluation refuses non-finite log-probabilities, naming the token and window', async () => {
  await assert.rejects(perplexity(overflowing(), Array.from({ length: 40 }, (_, i) => i % 50), { ctx: 16, stride: 16, session: { threads: 1 } }),
    /log-probability of token \d+ \(window 0\) is NaN: its logits are not finite/);
});

test('a lockstep comparison refuses a variant with non-finite log-probabilities, naming it', async () => {
  await assert.rejects(evaluateLockstep(tinyGpt2({ seed: 2 }), [{ name: 'broken', model: overflowing() }], Array.from({ length: 40 }, (_, i) => i % 50), { ctx: 16, stride: 16, session: { threads: 1 } }),
    /^Error: broken: log-probability of scored token \d+ \(window 0\) is NaN: its logits are not finite/);
});

test('training stops at the step whose loss becomes NaN and keeps the last good checkpoint', async () => {
  const src = fixtureDir('gpt2-prefix');
  const lm = loadModel(src);
  const out = tmp();
  try {
    const stream = Array.from({ length: 2000 }, (_, i) => (i * 7 + (i >> 5)) % lm.config!.vocabSize);
    const opts = { sourceDir: src, cfg: lm.config!, decoder: lm.graph({ kvCache: false }), trainTokens: stream, out, steps: 40, batch: 2, seq: 16, warmup: 1, saveEvery: 1, seed: 1, threads: 1, dataId: 'pattern', maxGradNorm: 0 };
    let err: unknown;
    try { await trainRun({ ...opts, lr: 1e12 }); } catch (e) { err = e; }
    assert.ok(err instanceof UsageError, String(err));
    const m = /the (loss|gradient norm) became (NaN|-?Infinity) at step (\d+) .*the last good checkpoint is (\S+) \(step (\d+)\)/.exec((err as Error).message);
    assert.ok(m, (err as Error).message);
    const [bad, good] = [Number(m[3]), Number(m[5])];
    assert.equal(good, bad - 1);
    const state = JSON.parse(fs.readFileSync(path.join(m[4], 'trainer_state.json'), 'utf8')) as { step: number };
    assert.equal(state.step, good);
    for (const t of readSafetensors(path.join(m[4], 'model.safetensors')).tensors.values()) {
      assert.ok((t.data as Float32Array).every(Number.isFinite), 'the kept checkpoint holds only finite weights');
    }
  } finally { fs.rmSync(out, { recursive: true, force: true }); }
});
