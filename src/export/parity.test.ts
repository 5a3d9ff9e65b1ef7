import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadModel } from '../load/index.js';
import { fixtureDir } from '../testing/fixtures.js';
import { transformersJsIoProblems } from './io-check.js';
import { compare, listVariants } from './parity.js';

test('listVariants maps transformers.js file suffixes to dtypes, fp32 first', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-variants-'));
  try {
    fs.mkdirSync(path.join(dir, 'onnx'));
    for (const f of ['model_q4f16.onnx', 'model_quantized.onnx', 'model.onnx', 'model_q4.onnx', 'model.onnx_data', 'model_q4.quantlab.json', 'decoder_model.onnx']) {
      fs.writeFileSync(path.join(dir, 'onnx', f), '');
    }
    assert.deepEqual(listVariants(dir).map((v) => `${v.dtype}=${path.basename(v.file)}`), ['fp32=model.onnx', 'q8=model_quantized.onnx', 'q4=model_q4.onnx', 'q4f16=model_q4f16.onnx']);
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
});

test('transformers.js I/O check: KV-cache graph passes, full-sequence graph names what is missing', () => {
  const m = loadModel(fixtureDir('llama-gqa-untied'));
  assert.deepEqual(transformersJsIoProblems(m.graph({ kvCache: true }), m.config!), []);
  const p = transformersJsIoProblems(m.graph({ kvCache: false }), m.config!);
  assert.ok(p.includes('missing input attention_mask') && p.includes('missing input past_key_values.1.value') && p.includes('missing output present.0.key'), p.join('; '));
  assert.equal(p.length, 2 + 4 + 4);
});

test('compare: a differing token is a near-tie only when the reference gap is within 2·tolerance', () => {
  const row = (a: number, b: number) => Float32Array.from([a, b, -5]);
  // One prompt row (predicts tokens[0]) → logits rows line up with tokens.
  const ref = { tokens: [0, 0], logits: [row(1, 0.95), row(1, 0)] };
  const flip = { tokens: [1, 0], logits: [row(0.97, 0.98), row(1, 0)] };
  const c = compare(ref, flip, 0.05);
  assert.deepEqual([c.tokenAgree, c.ties, c.ok], [1, 1, true]);
  assert.ok(Math.abs(c.maxAbs - 0.03) < 1e-6);
  // Same flip where the reference leads by 1.0: a real mismatch even though logits are close enough elsewhere.
  const far = compare({ tokens: [0, 0], logits: [row(1, 0), row(1, 0)] }, { tokens: [1, 0], logits: [row(1, 0), row(1, 0)] }, 0.05);
  assert.deepEqual([far.tokenAgree, far.ties, far.ok], [1, 0, false]);
  // Logits beyond tolerance fail even with equal tokens.
  assert.equal(compare(ref, { tokens: [0, 0], logits: [row(1.2, 0.95), row(1, 0)] }, 0.05).ok, false);
});
