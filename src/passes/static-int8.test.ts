import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hasVnni } from '../util/cpu.js';
import { test } from 'node:test';
import { textDataset } from '../data/index.js';
import type { Model } from '../ir/graph.js';
import { relL2, runLogits } from '../testing/fixtures.js';
import { createSession } from '../runtime/session.js';
import { readModel } from '../onnx/read.js';
import { assertNotCalibratedOn, assertNotEvaluationText, CALIBRATION_METADATA, loadCalibrationText } from '../quant/calibration/source.js';
import { applySmoothing, smoothGroups } from '../quant/smoothquant.js';
import { cloneModel } from '../ir/graph.js';
import { tinyGpt2 } from '../testing/random-decoder.js';
import { charTokenizer as charTokenizerFor, randomTextFile } from '../testing/calibration.js';
import { UsageError } from '../util/errors.js';
import { dynamicInt8, dynamicInt8Defaults } from './dynamic-int8.js';
import { staticInt8, staticInt8Defaults, type StaticInt8Config, type TextPassContext } from './static-int8.js';
import '../engine.js'; // the passes' engine on onnxruntime

const VOCAB = 96;
const charTokenizer = charTokenizerFor(VOCAB);
const calibFile = () => randomTextFile(7, 4000);

const logits = (m: Model, ids: number[]) => runLogits(m, BigInt64Array.from(ids.map(BigInt)), 1);

const ids = Array.from({ length: 48 }, (_, i) => (i * 37 + 11) % VOCAB);
/** Share of positions whose argmax over the vocabulary agrees. */
const top1 = (a: Float32Array, b: Float32Array) => {
  let same = 0;
  const n = a.length / VOCAB;
  const am = (x: Float32Array, r: number) => { let k = 0; for (let j = 1; j < VOCAB; j++) if (x[r * VOCAB + j] > x[r * VOCAB + k]) k = j; return k; };
  for (let r = 0; r < n; r++) if (am(a, r) === am(b, r)) same++;
  return same / n;
};

test('static-int8 QDQ model: int8 weights and Q/DQ activations, logits close to FP32', async () => {
  const fp32 = tinyGpt2({ kvCache: true, seed: 3 });
  const ctx: TextPassContext = { explain: () => {}, tokenizer: charTokenizer, session: { threads: 1 } };
  const cfg: StaticInt8Config = { ...staticInt8Defaults, calibration: calibFile(), calibWindows: 6, calibCtx: 64, calibMethod: 'percentile', percentile: 99.99 };
  const { model, report } = await staticInt8.run(fp32, cfg, ctx);
  const ops = model.graph.nodes.map((n) => n.opType);
  // 2 layers × (qkv, o, fc, proj) → 8 weight DQs + 8 activation Q/DQ pairs (each MatMul input is its own tensor).
  assert.equal(ops.filter((o) => o === 'QuantizeLinear').length, 8);
  assert.equal(ops.filter((o) => o === 'DequantizeLinear').length, 16);
  const int8 = model.graph.initializers().filter((v) => v.constant!.dtype === 'int8' && v.constant!.dims.length === 2);
  // 8 MatMul weights + the shared int8 embedding / head table + the position table.
  assert.equal(int8.length, 10);
  assert.ok(report.notes.some((n) => n.startsWith('int8 share: 100.0%')));
  // The model records its calibration text; evaluating on that same text is refused.
  const calibText = fs.readFileSync(cfg.calibration, 'utf8');
  assert.throws(() => assertNotCalibratedOn(model.metadata, textDataset('x', calibText, 'x')), /calibrated on/);
  assert.doesNotThrow(() => assertNotCalibratedOn(model.metadata, textDataset('y', 'held-out text', 'y')));
  assert.match(model.metadata[CALIBRATION_METADATA], /"sha256"/);
  // onnxruntime fuses every Q/DQ MatMul into MatMulIntegerToFloat (the int8 kernel), the head into DynamicQuantizeMatMul.
  const optimized = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-opt-')), 'opt.onnx');
  await (await createSession(model, { threads: 1, optimizedModelPath: optimized })).release();
  const fused = readModel(optimized).graph.nodes.map((n) => n.opType);
  assert.equal(fused.filter((o) => o === 'MatMulIntegerToFloat').length, 8);
  assert.equal(fused.filter((o) => o === 'DynamicQuantizeMatMul').length, 1);
  assert.equal(fused.filter((o) => o === 'DequantizeLinear').length, 0);
  const ref = await logits(fp32, ids);
  const q = await logits(model, ids);
  const e = relL2(q, ref);
  // Random weights make this tiny model unusually sensitive: dynamic-int8 (run-time activation ranges) is
  // the yardstick; fixed calibrated ranges may cost a little more. A single int8 MatMul must be near-exact.
  const dyn = relL2(await logits((await dynamicInt8.run(fp32, dynamicInt8Defaults, ctx)).model, ids), ref);
  assert.ok(e < 0.06 && e <= 1.5 * dyn, `relative logit error ${e} (dynamic-int8 ${dyn})`);
  // Full-range weights: without VNNI onnxruntime's u8s8 kernel (AVX2 vpmaddubsw) saturates its int16 pair
  // sums, twice the error (why reduceRange is the default); with VNNI (int32 dot products) it is exact and
  // the finer weight grid is at least as good.
  const full = relL2(await logits((await staticInt8.run(fp32, { ...cfg, reduceRange: false }, ctx)).model, ids), ref);
  console.log(`  ${hasVnni() ? 'VNNI' : 'no VNNI'}: relative logit error reduced-range ${e.toFixed(4)}, full-range ${full.toFixed(4)}`);
  if (hasVnni()) assert.ok(full < e, `VNNI: full-range ${full} should beat reduced-range ${e}`);
  else assert.ok(full > 1.5 * e, `AVX2: full-range ${full} should saturate (reduced-range ${e})`);
  assert.ok(top1(q, ref) >= 0.85, `top-1 agreement ${top1(q, ref)}`);
  const one = await staticInt8.run(fp32, { ...cfg, head: 'float', select: { include: ['mlp/down_proj'] } }, ctx);
  assert.equal(one.model.graph.nodes.filter((n) => n.opType === 'QuantizeLinear').length, 2);
  assert.ok(relL2(await logits(one.model, ids), ref) < 0.025);
  // Calibration matters: a range 50× too small (everything clipped) is far worse.
  const mis = await staticInt8.run(fp32, { ...cfg, calibMethod: 'percentile', percentile: 1 }, ctx);
  assert.ok(relL2(await logits(mis.model, ids), ref) > 5 * e);
});

test('every calibration method and uint8 activations give logits close to FP32', async () => {
  const fp32 = tinyGpt2({ kvCache: false, seed: 5 });
  const ctx: TextPassContext = { explain: () => {}, tokenizer: charTokenizer, session: { threads: 1 } };
  const base: StaticInt8Config = { ...staticInt8Defaults, calibration: calibFile(), calibWindows: 4, calibCtx: 64 };
  const ref = await logits(fp32, ids);
  for (const over of [{ calibMethod: 'minmax' }, { calibMethod: 'entropy' }, { calibMethod: 'mse' }, { calibMethod: 'mse', activations: 'uint8' }, { calibMethod: 'minmax', smoothquant: 0.5 }] as Partial<StaticInt8Config>[]) {
    const { model } = await staticInt8.run(fp32, { ...base, ...over }, ctx);
    const e = relL2(await logits(model, ids), ref);
    assert.ok(e < 0.08, `${JSON.stringify(over)}: relative logit error ${e}`);
  }
});

test('SmoothQuant folding alone leaves the float model unchanged', async () => {
  const fp32 = tinyGpt2({ kvCache: false, seed: 9 });
  const m = cloneModel(fp32);
  const groups = smoothGroups(m.graph);
  // norm1 → qkv and norm2 → MLP up in each of 2 layers; the final norm feeds the tied Gemm head (not folded).
  assert.equal(groups.length, 4);
  const act = new Float32Array(64).map((_, j) => 0.5 + (j % 7) * 3);
  for (const g of groups) applySmoothing(g, act, 0.5);
  assert.notEqual(m.graph.mustValue(groups[0].gamma.name).constant, fp32.graph.mustValue(groups[0].gamma.name).constant);
  const e = relL2(await logits(m, ids), await logits(fp32, ids));
  assert.ok(e < 1e-5, `smoothing changed logits by ${e}`);
});

test('calibration text identical to an evaluation split is refused', () => {
  const evalSet = textDataset('brown/test', 'the same words', 'x');
  assert.throws(() => assertNotEvaluationText(textDataset('my-calib.txt', 'the same words', 'y'), [evalSet]), UsageError);
  assert.doesNotThrow(() => assertNotEvaluationText(textDataset('train', 'other words', 'z'), [evalSet]));
  assert.throws(() => loadCalibrationText('brown', 'test'), /evaluation split brown\/test/);
  assert.ok(loadCalibrationText('brown', 'train').text.length > 1e6);
});

test('fallback: sensitivity ranking, most sensitive MatMuls kept in float until the held-out budget holds', async () => {
  const fp32 = tinyGpt2({ kvCache: false, seed: 3 });
  const ctx: TextPassContext = { explain: () => {}, tokenizer: charTokenizer, session: { threads: 1 } };
  const cfg: StaticInt8Config = { ...staticInt8Defaults, calibration: calibFile(), calibWindows: 2, calibCtx: 64, sensitivityWindows: 2, fallbackWindows: 3 };
  const loose = await staticInt8.run(fp32, { ...cfg, maxPplIncrease: 1000 }, ctx);
  const ranking = loose.report.notes.filter((n) => /^ {2}[+-]\d/.test(n)).map((n) => n.trim().split(/\s+/)[1]);
  assert.equal(ranking.length, 8);
  assert.ok(loose.report.notes.includes('kept out of static int8: none'));
  assert.equal(loose.model.graph.nodes.filter((n) => n.opType === 'QuantizeLinear').length, 8);
  // Budget 0: the kept MatMuls are the top of the same ranking, and only the rest carry Q/DQ.
  const strict = await staticInt8.run(fp32, { ...cfg, maxPplIncrease: 0 }, ctx);
  const kept = strict.report.skipped.filter((s) => s.reason.startsWith('kept in float')).map((s) => s.node);
  assert.ok(kept.length >= 1);
  assert.deepEqual(kept, ranking.slice(0, kept.length));
  assert.equal(strict.model.graph.nodes.filter((n) => n.opType === 'QuantizeLinear').length, 8 - kept.length);
  const share = strict.report.notes.find((n) => n.startsWith('int8 share:'))!;
  assert.match(share, new RegExp(`\\(${8 - kept.length}/8 static MatMuls`));
});
