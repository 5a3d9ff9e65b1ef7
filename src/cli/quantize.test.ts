import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadModel } from '../load/index.js';
import { encodeModelChunks } from '../onnx/write.js';
import { dynamicInt8, dynamicInt8Defaults } from '../passes/dynamic-int8.js';
import type { PassResult } from '../passes/pass.js';
import { DecoderRunner } from '../runtime/decoder.js';
import { fixtureDir, idsTensor, readReference } from '../testing/fixtures.js';
import { main } from './main.js';

const FIXTURE = fixtureDir('gpt2-prefix');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-quantize-'));

/** Run the CLI, capturing what it prints. */
async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [], err: string[] = [];
  const log = console.log, error = console.error;
  console.log = (...a: unknown[]) => { out.push(a.join(' ')); };
  console.error = (...a: unknown[]) => { err.push(a.join(' ')); };
  try { return { code: await main(['quantize', ...args]), out: out.join('\n'), err: err.join('\n') }; } finally { console.log = log; console.error = error; }
}

async function logits(file: string): Promise<Float32Array> {
  const ref = readReference('gpt2-prefix');
  const r = await DecoderRunner.create(loadModel(file).graph({ kvCache: true }), { threads: 1 });
  try { return (await r.run(idsTensor(ref.inputIds), ref.inputIds.length)).logits.data as Float32Array; } finally { await r.release(); }
}

test('quantize writes a loadable folder: the pass output byte for byte, side files, quantlab.json', async () => {
  const out = path.join(tmp(), 'q');
  const r = await cli('--model', FIXTURE, '--method', 'dynamic-int8', '--out', out);
  assert.equal(r.code, 0, r.err);
  const expected = dynamicInt8.run(loadModel(FIXTURE).graph({ kvCache: true }), dynamicInt8Defaults, { explain: () => {} }) as PassResult;
  const bytes = Buffer.concat(encodeModelChunks(expected.model));
  assert.equal(fs.statSync(path.join(out, 'onnx/model.onnx')).size, bytes.length);
  assert.ok(Buffer.from(bytes).equals(fs.readFileSync(path.join(out, 'onnx/model.onnx'))));
  assert.ok(fs.readFileSync(path.join(FIXTURE, 'config.json')).equals(fs.readFileSync(path.join(out, 'config.json'))));
  assert.ok(!fs.existsSync(path.join(out, 'onnx/model.onnx_data')));
  const rec = JSON.parse(fs.readFileSync(path.join(out, 'quantlab.json'), 'utf8'));
  assert.equal(rec.schema, 'quantlab.quantized/1');
  assert.deepEqual(rec.method, dynamicInt8Defaults);
  assert.match(rec.source.hash, /^model\.safetensors sha256:[0-9a-f]{64}$/);
  assert.equal(rec.model.files['onnx/model.onnx'], bytes.length);
  assert.equal(rec.report.converted.length, 10);
  // loadModel reads the folder unchanged (config from config.json), and it runs.
  const loaded = loadModel(out);
  assert.equal(loaded.kind, 'onnx');
  assert.equal(loaded.maxPositions, 64);
  assert.equal((await logits(out)).length, readReference('gpt2-prefix').logits.length);
  assert.match(r.out, /quantized   10 weights/);
});

test('quantize options map to the method config; --overrides and --verbose explain skips', async () => {
  const dir = tmp();
  const ov = path.join(dir, 'ov.json');
  fs.writeFileSync(ov, JSON.stringify({ 'transformer.h.0.*': { skip: true } }));
  const out = path.join(dir, 'q');
  const r = await cli('--model', FIXTURE, '--method', 'dynamic-int8', '--per-tensor', '--asymmetric', '--exclude-op', 'Gather', '--overrides', ov, '--verbose', '--out', out);
  assert.equal(r.code, 0, r.err);
  const rec = JSON.parse(fs.readFileSync(path.join(out, 'quantlab.json'), 'utf8'));
  assert.deepEqual(rec.method, { ...dynamicInt8Defaults, granularity: 'tensor', symmetric: false, select: { excludeOps: ['Gather'], overrides: { 'transformer.h.0.*': { skip: true } } } });
  assert.match(r.err, /MatMul \/layers\.0\/attn\/qkv: skipped, skipped by override 'transformer\.h\.0\.\*'/);
  assert.match(r.err, /Gather embed_tokens: skipped, op type Gather excluded/);
  assert.match(r.err, /MatMul \/layers\.0\/attn\/scores_past: skipped, weight is not a constant/);
  assert.equal(rec.report.converted.length, 5); // layer 1's four weights + the head's int8 table
});

const oneLine = (s: string) => s.trim().split('\n').length === 1;

test('quantize bad options: one-line errors with a usage exit code', async () => {
  const out = path.join(tmp(), 'q');
  let r = await cli('--model', FIXTURE, '--method', 'int3', '--out', out);
  assert.equal(r.code, 2);
  assert.match(r.err, /unknown method 'int3' \(known: dynamic-int8/);
  assert.ok(oneLine(r.err));
  r = await cli('--model', FIXTURE, '--method', 'dynamic-int8', '--block', '32', '--out', out);
  assert.equal(r.code, 2);
  assert.match(r.err, /--block does not apply to dynamic-int8 \(its flags: --per-tensor, --asymmetric, --full-range, --per-token, --algorithm, --calibration, --calib-windows\)/);
  r = await cli('--model', FIXTURE, '--method', 'dynamic-int8', '--exclude', '.', '--out', out);
  assert.equal(r.code, 2);
  assert.match(r.err, /nothing left to quantize: every candidate was skipped: excluded by pattern '\.'/);
  assert.ok(oneLine(r.err));
  r = await cli('--model', FIXTURE, '--method', 'dynamic-int8', '--include', '(', '--out', out);
  assert.equal(r.code, 2);
  assert.match(r.err, /invalid pattern '\('/);
  r = await cli('--model', FIXTURE, '--method', 'dynamic-int8');
  assert.equal(r.code, 2);
  assert.match(r.err, /--out is required/);
  assert.ok(!fs.existsSync(out), 'nothing written on errors');
});

test('quantize refuses an --out that is, or contains, the input model', async () => {
  let r = await cli('--model', FIXTURE, '--method', 'dynamic-int8', '--out', FIXTURE);
  assert.equal(r.code, 1);
  assert.match(r.err, /--out is the input model folder/);
  r = await cli('--model', FIXTURE, '--method', 'dynamic-int8', '--out', path.dirname(FIXTURE));
  assert.equal(r.code, 1);
  assert.match(r.err, /--out contains the input model file/);
  // Re-quantizing a quantized folder into itself is refused too (the input is onnx/model.onnx there).
  const out = path.join(tmp(), 'q');
  assert.equal((await cli('--model', FIXTURE, '--method', 'dynamic-int8', '--out', out)).code, 0);
  r = await cli('--model', out, '--method', 'dynamic-int8', '--out', out);
  assert.equal(r.code, 1);
  assert.match(r.err, /--out is the input model folder/);
});
