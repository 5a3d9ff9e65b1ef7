import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadModel } from '../load/index.js';
import { fixtureDir, maxAbsDiff, runLogits } from '../testing/fixtures.js';
import { emptyReport } from './pass.js';
import { writeQuantizedFolder } from './output.js';
import { sourceInfo } from './quantize.js';

test('large models go to onnx/model.onnx_data; a later inline write removes the stale data file', () => {
  const src = loadModel(fixtureDir('gpt2-prefix'));
  const model = src.graph({ kvCache: true });
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-out-')), 'q');
  const opts = { source: sourceInfo(src), model, out, method: { kind: 'test' }, report: emptyReport() };
  const weightBytes = model.graph.initializers().reduce((s, v) => s + v.constant!.byteLength, 0);
  const rec = writeQuantizedFolder({ ...opts, externalDataThreshold: 0 });
  const data = path.join(out, 'onnx/model.onnx_data');
  assert.ok(fs.existsSync(data));
  assert.equal(rec.model.files['onnx/model.onnx_data'], fs.statSync(data).size);
  // Tensors of ≥ 1 KiB go to the data file (64-byte aligned); its size is at least their bytes.
  assert.ok(fs.statSync(data).size <= weightBytes + 64 * model.graph.initializers().length && fs.statSync(data).size > weightBytes / 2);
  const loaded = loadModel(out);
  assert.deepEqual(loaded.files.map((f) => path.relative(out, f)), ['onnx/model.onnx', 'onnx/model.onnx_data']);
  assert.equal(loaded.graph({ kvCache: true }).graph.initializers().length, model.graph.initializers().length);
  // transformers.js fetches the data file only when config.json names the model as external.
  const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
  assert.deepEqual(cfg['transformers.js_config'], { use_external_data_format: { 'model.onnx': 1 } });
  writeQuantizedFolder(opts);
  assert.ok(!fs.existsSync(data));
  assert.deepEqual(loadModel(out).files.map((f) => path.relative(out, f)), ['onnx/model.onnx']);
  assert.ok(fs.readFileSync(path.join(out, 'config.json')).equals(fs.readFileSync(path.join(fixtureDir('gpt2-prefix'), 'config.json'))));
});

test('a folder with external data loads in @huggingface/transformers and gives quantlab\'s logits', async () => {
  const src = loadModel(fixtureDir('qwen2-bias'));
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-out-tjs-'));
  const out = path.join(root, 'q');
  writeQuantizedFolder({ source: sourceInfo(src), model: src.graph({ kvCache: true }), out, method: { kind: 'test' }, report: emptyReport(), externalDataThreshold: 0 });
  const { AutoModelForCausalLM, env, Tensor: TjsTensor } = await import('@huggingface/transformers');
  env.allowRemoteModels = false;
  env.localModelPath = root + path.sep;
  const ids = [[3, 17, 42, 5, 9, 33]];
  const m = await AutoModelForCausalLM.from_pretrained('q', { dtype: 'fp32', device: 'cpu' } as never);
  try {
    const input = new TjsTensor('int64', BigInt64Array.from(ids[0], BigInt), [1, ids[0].length]);
    const out2 = await (m as unknown as { (x: unknown): Promise<{ logits: { data: Float32Array } }> })({ input_ids: input, attention_mask: new TjsTensor('int64', new BigInt64Array(ids[0].length).fill(1n), [1, ids[0].length]) });
    const ours = await runLogits(src.graph({ kvCache: false }), BigInt64Array.from(ids[0], BigInt), 1);
    assert.ok(maxAbsDiff(out2.logits.data, ours) < 1e-4);
  } finally { await m.dispose(); fs.rmSync(root, { recursive: true, force: true }); }
});

test('an --out holding a safetensors checkpoint is refused (it would shadow the ONNX model)', () => {
  const src = loadModel(fixtureDir('gpt2-prefix'));
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-out-'));
  fs.writeFileSync(path.join(out, 'model.safetensors'), '');
  assert.throws(() => writeQuantizedFolder({ source: sourceInfo(src), model: src.graph({ kvCache: true }), out, method: { kind: 'test' }, report: emptyReport() }), /already holds model\.safetensors/);
});
