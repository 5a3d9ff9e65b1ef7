import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { readSafetensors } from '../hf/safetensors.js';
import { loadModel } from '../load/index.js';
import { createSession, ort } from '../runtime/session.js';
import { fixtureDir } from '../testing/fixtures.js';
import { writeModelFolder } from './checkpoint.js';
import { defaultTrainable } from '../autodiff/trainable.js';
import { Trainer } from './trainer.js';
import { trainRun, type TrainRunOptions } from './run.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-train-'));

async function logits(dir: string, ids: BigInt64Array): Promise<Float32Array> {
  const s = await createSession(loadModel(dir).graph({ kvCache: false }), { threads: 1 });
  const out = (await s.run({ input_ids: new ort.Tensor('int64', ids, [1, ids.length]) })).logits.data as Float32Array;
  await s.release();
  return out;
}

for (const name of ['gpt2-prefix', 'llama-gqa-untied', 'llama-gqa-tied', 'llama3-rope', 'qwen2-bias', 'qwen3-qknorm', 'mistral-window', 'phi3-longrope', 'gemma3-text']) {
  test(`a saved model folder reloads to the same logits (${name}: Hugging Face layout restored)`, async () => {
    const src = fixtureDir(name);
    const lm = loadModel(src);
    const dec = lm.graph({ kvCache: false });
    const t = await Trainer.create(dec, { schedule: { peak: 0, warmupSteps: 1, totalSteps: 1 }, threads: 1 });
    const out = tmp();
    try {
      writeModelFolder(out, src, lm.config!, t.params, t.dims);
      const ids = BigInt64Array.from([1, 5, 9, 2, 7, 3], BigInt);
      assert.deepEqual(await logits(out, ids), await logits(src, ids));
      assert.equal(t.params.length, defaultTrainable(dec).length);
    } finally { await t.release(); fs.rmSync(out, { recursive: true, force: true }); }
  });
}

test('an interrupted run resumes to the same weights as an uninterrupted one; validation and refusals', async () => {
  const src = fixtureDir('gpt2-prefix');
  const lm = loadModel(src);
  const stream = Array.from({ length: 3000 }, (_, i) => (i * 7 + (i >> 5)) % lm.config!.vocabSize);
  const base: TrainRunOptions = {
    sourceDir: src, cfg: lm.config!, decoder: lm.graph({ kvCache: false }), trainTokens: stream.slice(0, 2500),
    valTokens: stream.slice(2500), valCtx: 32, out: '', steps: 6, batch: 2, seq: 16, lr: 3e-3, warmup: 2,
    evalEvery: 3, saveEvery: 3, seed: 1, threads: 1, dataId: 'pattern',
  };
  const a = tmp(), b = tmp();
  try {
    const ra = await trainRun({ ...base, out: a });
    assert.equal(ra.steps, 6);
    assert.deepEqual(ra.validation.map((v) => v.step), [0, 3, 6]);
    assert.ok(ra.validation[2].perplexity < ra.validation[0].perplexity, 'validation perplexity should drop on the patterned text');
    const rb1 = await trainRun({ ...base, out: b, until: 3 });
    assert.equal(rb1.steps, 3);
    await assert.rejects(trainRun({ ...base, out: b }), /already holds a checkpoint/);
    await assert.rejects(trainRun({ ...base, out: b, resume: true, batch: 3 }), /made with batch = 2, this run has 3/);
    const rb2 = await trainRun({ ...base, out: b, resume: true });
    assert.equal(rb2.startStep, 3);
    assert.equal(rb2.steps, 6);
    const wa = readSafetensors(path.join(a, 'model.safetensors')).tensors, wb = readSafetensors(path.join(b, 'model.safetensors')).tensors;
    assert.deepEqual([...wa.keys()].sort(), [...wb.keys()].sort());
    for (const [k, t] of wa) assert.deepEqual(wb.get(k)!.data, t.data, `${k} differs after resume`);
    const state = JSON.parse(fs.readFileSync(path.join(b, 'checkpoint', 'trainer_state.json'), 'utf8'));
    assert.equal(state.step, 6);
    assert.equal(state.history.length, 6);
    // The trained folder is a model quantlab loads; its weights moved away from the source.
    const ids = BigInt64Array.from([1, 2, 3, 4], BigInt);
    assert.notDeepEqual(await logits(a, ids), await logits(src, ids));
  } finally {
    fs.rmSync(a, { recursive: true, force: true });
    fs.rmSync(b, { recursive: true, force: true });
  }
});
