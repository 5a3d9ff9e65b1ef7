import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { Model } from '../ir/graph.js';
import { encodeModel } from '../onnx/write.js';
import { CALIBRATION_METADATA } from '../quant/calibration/source.js';
import { maxAbsDiff, runLogits } from '../testing/fixtures.js';
import { tinyGpt2 } from '../testing/random-decoder.js';
import { UsageError } from '../util/errors.js';
import { qatInt8, qatInt8Defaults, type QatInt8Config } from './qat-int8.js';
import { staticInt8, staticInt8Defaults, type TextPassContext } from './static-int8.js';
import '../engine.js'; // the passes' engine on onnxruntime

const VOCAB = 96;
const tokenizer = { encode: (s: string) => Array.from(s, (ch) => ch.charCodeAt(0) % VOCAB) };
const ctx: TextPassContext = { explain: () => {}, tokenizer, session: { threads: 1 } };

/** A learnable text: a short phrase repeated with a varying count prefix. */
function textFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-qat-'));
  const f = path.join(dir, 'train.txt');
  let s = '';
  for (let i = 0; s.length < 6000; i++) s += `${i % 7} the cat sat on the mat. `;
  fs.writeFileSync(f, s);
  return f;
}

/** Mean next-token NLL of a model over one window of the text. */
async function nll(m: Model, text: string, n = 64): Promise<number> {
  const ids = tokenizer.encode(text.slice(0, n));
  const lg = await runLogits(m, BigInt64Array.from(ids.map(BigInt)), 1);
  let sum = 0;
  for (let t = 0; t + 1 < n; t++) {
    const row = lg.subarray(t * VOCAB, (t + 1) * VOCAB);
    let mx = -Infinity;
    for (const x of row) mx = Math.max(mx, x);
    let z = 0;
    for (const x of row) z += Math.exp(x - mx);
    sum += mx + Math.log(z) - row[ids[t + 1]];
  }
  return sum / (n - 1);
}

/** The serialized model without the calibration record (QAT records its training text there, static-int8 its calibration text). */
function bytesOf(m: Model): Uint8Array {
  const { [CALIBRATION_METADATA]: _, ...rest } = m.metadata;
  const saved = m.metadata;
  m.metadata = rest;
  try { return encodeModel(m); } finally { m.metadata = saved; }
}

const base = (file: string): QatInt8Config => ({ ...qatInt8Defaults, dataset: file, calibration: file, calibWindows: 4, batch: 4, seq: 32, threads: 1 });

test('qat-int8 with lr 0 and fixed scales writes exactly the static-int8 model (same bytes)', async () => {
  const file = textFile();
  const fp32 = tinyGpt2({ kvCache: true, seed: 3 });
  const qat = await qatInt8.run(fp32, { ...base(file), steps: 1, lr: 0, learnScales: false }, ctx);
  const st = await staticInt8.run(fp32, { ...staticInt8Defaults, calibration: file, calibWindows: 4, calibMethod: qatInt8Defaults.calibMethod, head: qatInt8Defaults.head }, ctx);
  assert.deepEqual(bytesOf(qat.model), bytesOf(st.model));
  assert.ok(qat.report.notes.some((n) => n.startsWith('int8 share: 100.0%')));
});

test('qat-int8 fine-tunes through fake quantization: the converted INT8 model fits the text better, same size and ops as static-int8', async () => {
  const file = textFile();
  const text = fs.readFileSync(file, 'utf8');
  const fp32 = tinyGpt2({ kvCache: true, seed: 3 });
  const st = await staticInt8.run(fp32, { ...staticInt8Defaults, calibration: file, calibWindows: 4, calibMethod: qatInt8Defaults.calibMethod, head: qatInt8Defaults.head }, ctx);
  const qat = await qatInt8.run(fp32, { ...base(file), steps: 40, lr: 1e-2, warmup: 4 }, ctx);
  const before = await nll(st.model, text), after = await nll(qat.model, text);
  console.log(`  qat tiny gpt2: NLL on the training text ${before.toFixed(3)} (static-int8) → ${after.toFixed(3)} (qat-int8)`);
  assert.ok(after < before - 1, `QAT NLL ${after} vs static ${before}`);
  // Same format: identical op histogram and serialized size (only values differ).
  const ops = (m: Model) => m.graph.nodes.map((n) => n.opType).sort().join(',');
  assert.equal(ops(qat.model), ops(st.model));
  assert.equal(bytesOf(qat.model).length, bytesOf(st.model).length);
  // The learned activation ranges went into the model: some Q scale differs from static's calibrated one.
  const scales = (m: Model) => m.graph.nodes.filter((n) => n.opType === 'QuantizeLinear').map((n) => n.inputs[1]!.constant!.data[0] as number);
  assert.ok(maxAbsDiff(scales(qat.model), scales(st.model)) > 0);
  assert.ok(qat.report.notes.some((n) => /qat: training loss [\d.]+ .* → [\d.]+/.test(n)));
});

test('qat-int8 refuses bad options and an evaluation split as training text', async () => {
  const fp32 = tinyGpt2({ kvCache: true, seed: 3 });
  const file = textFile();
  await assert.rejects(async () => qatInt8.run(fp32, { ...base(file), steps: 0 }, ctx), (e: Error) => e instanceof UsageError && /--steps must be a positive integer/.test(e.message));
  await assert.rejects(async () => qatInt8.run(fp32, { ...base(file), lr: -1 }, ctx), /--lr must be a non-negative number/);
  // The calibration it starts from is checked as static-int8 checks it, under qat-int8's name.
  await assert.rejects(async () => qatInt8.run(fp32, { ...base(file), calibWindows: 0 }, ctx), /qat-int8: --calib-windows must be a positive integer, got 0/);
  await assert.rejects(async () => qatInt8.run(fp32, { ...base(file), dataset: 'brown', trainSplit: 'test' }, ctx), /evaluation split/);
});
