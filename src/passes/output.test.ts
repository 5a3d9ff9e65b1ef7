import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadModel } from '../load/index.js';
import { fixtureDir } from '../testing/fixtures.js';
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
  writeQuantizedFolder(opts);
  assert.ok(!fs.existsSync(data));
  assert.deepEqual(loadModel(out).files.map((f) => path.relative(out, f)), ['onnx/model.onnx']);
});

test('an --out holding a safetensors checkpoint is refused (it would shadow the ONNX model)', () => {
  const src = loadModel(fixtureDir('gpt2-prefix'));
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-out-'));
  fs.writeFileSync(path.join(out, 'model.safetensors'), '');
  assert.throws(() => writeQuantizedFolder({ source: sourceInfo(src), model: src.graph({ kvCache: true }), out, method: { kind: 'test' }, report: emptyReport() }), /already holds model\.safetensors/);
});
