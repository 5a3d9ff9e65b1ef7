import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildDecoder } from '../arch/decoder.js';
import type { DecoderWeights } from '../arch/config.js';
import { Tensor } from '../ir/tensor.js';
import type { Model } from '../ir/graph.js';
import { transpose } from '../quant/primitives.js';
import { dequantizeBlocks, rtnQuantize, type BlockFormat, type BlockQuantized } from '../quant/rtn.js';
import { f16ToF32, f32ToF16 } from '../util/half.js';
import { nbitsBytes, packNBits } from '../quant/nbits-pack.js';
import { DecoderRunner } from '../runtime/decoder.js';
import { relL2, runLogits } from '../testing/fixtures.js';
import { randomGpt2Weights, tinyGpt2Config } from '../testing/random-decoder.js';
import { UsageError } from '../util/errors.js';
import { runWeightOnly, type WeightOnlyConfig } from './weight-only.js';
import { splitSite } from './weight-budget.js';
import { calibrationGrams, GptqSession } from './weight-only-calibrate.js';
import { engineOf } from './engine.js';
import { charTokenizer as charTokenizerFor, randomTextFile } from '../testing/calibration.js';
import { selectWeights, siteRows } from './select.js';
import { cloneModel } from '../ir/graph.js';
import { scalesFor } from '../quant/awq.js';
import { foldScales, smoothGroups } from '../quant/smoothquant.js';
import '../engine.js'; // the passes' engine on onnxruntime

const cfg = tinyGpt2Config();
const weights = randomGpt2Weights(cfg, 3);
const fp32 = buildDecoder(cfg, weights, { kvCache: false });
const ids = BigInt64Array.from({ length: 2 * 24 }, (_, i) => BigInt((i * 37 + 5) % cfg.vocabSize));
const quiet = { explain: () => {} };

const logits = (m: Model) => runLogits(m, ids, 2);
const maxAbs = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
const wo = (c: Partial<WeightOnlyConfig> & { kind: WeightOnlyConfig['kind'] }) => runWeightOnly(fp32, c as WeightOnlyConfig, quiet);

/** RTN codes with the scales as stored (float16). */
function rtnStored(rows: Float32Array, n: number, k: number, fmt: BlockFormat): BlockQuantized {
  const q = rtnQuantize(rows, n, k, fmt);
  return { ...q, scales: q.scales.map((x) => f16ToF32(f32ToF16(x))) };
}

/** The FP32 model with every quantized weight replaced by its RTN dequantization (the format's exact meaning). */
function simulated(fmt: BlockFormat): Model {
  const dq = (t: Tensor) => { // [K, N] MatMul weight
    const [k, n] = t.dims;
    const rows = transpose(t.data as Float32Array, k, n);
    return new Tensor('float32', [k, n], transpose(dequantizeBlocks(rtnStored(rows, n, k, fmt)), n, k));
  };
  const [v, e] = weights.tokenEmbedding.tensor.dims;
  const emb = new Tensor('float32', [v, e], dequantizeBlocks(rtnStored(weights.tokenEmbedding.tensor.data as Float32Array, v, e, fmt)));
  const w: DecoderWeights = {
    ...weights,
    tokenEmbedding: { ...weights.tokenEmbedding, tensor: emb },
    layers: weights.layers.map((l) => ({
      ...l,
      qkv: { ...l.qkv!, weight: dq(l.qkv!.weight) }, o: { ...l.o, weight: dq(l.o.weight) },
      up: { ...l.up!, weight: dq(l.up!.weight) }, down: { ...l.down, weight: dq(l.down.weight) },
    })),
  };
  return buildDecoder(cfg, w, { kvCache: false });
}

for (const [kind, bits] of [['int4-weight', 4], ['int8-weight', 8]] as const) {
  for (const symmetric of [true, false]) {
    test(`${kind} ${symmetric ? 'sym' : 'asym'}: MatMulNBits + shared gather compute exactly the RTN-dequantized model (accuracy_level 0)`, async () => {
      const { model } = await wo({ kind, blockSize: 32, symmetric, accuracyLevel: 0 });
      const want = await logits(simulated({ bits, blockSize: 32, symmetric }));
      const got = await logits(model);
      // Same weights, fp32 compute in a different summation order: float rounding only.
      const scale = want.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
      assert.ok(maxAbs(got, want) < 2e-5 * scale + 1e-5, `max diff ${maxAbs(got, want)} (logit scale ${scale})`);
    });
  }
}

test('weight-only logits stay close to FP32 at accuracy_level 4 (int8 activations)', async () => {
  const ref = await logits(fp32);
  // Bounds: one 4-bit RTN block-32 matmul on Gaussian weights has ~0.1 relative L2 error
  // (shared/research/ort-kernels.md); this model chains 8 of them plus the tied embedding and
  // head, measured 0.21-0.22 → bound 0.3. 8-bit: 16x finer grid plus int8 activations (~1e-2) → 0.04.
  const cases: [WeightOnlyConfig['kind'], boolean, number][] = [['int4-weight', true, 0.3], ['int4-weight', false, 0.3], ['int8-weight', true, 0.04], ['int8-weight', false, 0.04]];
  for (const [kind, symmetric, tol] of cases) {
    const e = relL2(await logits((await wo({ kind, symmetric, blockSize: 32 })).model), ref);
    assert.ok(e < tol, `${kind} ${symmetric}: relative L2 ${e} ≥ ${tol}`);
  }
});

test('quantized initializers have the exact packed sizes and the tied table is stored once', async () => {
  const { model, report } = await wo({ kind: 'int4-weight', blockSize: 32, symmetric: false });
  const g = model.graph;
  const E = cfg.hiddenSize, V = cfg.vocabSize, I = cfg.intermediateSize;
  const shapes: [string, number, number][] = [['wte.weight', V, E]];
  for (let i = 0; i < cfg.numLayers; i++) {
    shapes.push([`h.${i}.attn.c_attn.weight`, 3 * E, E], [`h.${i}.attn.c_proj.weight`, E, E], [`h.${i}.mlp.c_fc.weight`, I, E], [`h.${i}.mlp.c_proj.weight`, E, I]);
  }
  for (const [name, n, k] of shapes) {
    const b = g.mustValue(`${name}_Q4`).constant!, s = g.mustValue(`${name}_Q4_scales`).constant!, z = g.mustValue(`${name}_Q4_zp`).constant!;
    assert.deepEqual(b.dims, [n, k / 32, 16]);
    assert.equal(b.byteLength + s.byteLength + z.byteLength, nbitsBytes(n, k, 4, 32, false), name);
    assert.equal(s.byteLength, n * (k / 32) * 2); // float16 scales
    assert.equal(z.byteLength, n * Math.ceil(k / 32 / 2)); // 2 blocks → 1 byte per row
    assert.equal(g.value(name), undefined, `${name}: float copy removed`);
  }
  const b = g.mustValue('wte.weight_Q4');
  assert.deepEqual([...new Set([...b.uses].map((u) => u.node.opType))].sort(), ['Gather', 'MatMulNBits']);
  assert.ok(report.notes.some((n) => n.includes('stored once')));
  // Only the position embedding, biases and norms stay float32.
  const f32 = g.initializers().filter((v) => v.constant!.dtype === 'float32' && !v.name.endsWith('_scales') && v.constant!.size > 1);
  assert.deepEqual(f32.filter((v) => v.constant!.dims.length === 2).map((v) => v.name), ['wpe.weight']);
  assert.equal(nbitsBytes(V, E, 8, 32, true), V * E + V * 2 * 2);
});

test('int8-row embedding: int8 table + per-row scale, head still MatMulNBits', async () => {
  const { model } = await wo({ kind: 'int4-weight', blockSize: 32, embedding: 'int8-row' });
  const g = model.graph;
  assert.equal(g.mustValue('wte.weight_int8').constant!.byteLength, cfg.vocabSize * cfg.hiddenSize);
  assert.ok(g.value('wte.weight_Q4'));
  assert.ok(relL2(await logits(model), await logits(fp32)) < 0.3);
});

test('KV-cache graph: prefill + one decode step give the full-sequence logits of the quantized model', async () => {
  const kv = (await runWeightOnly(buildDecoder(cfg, weights, { kvCache: true }), { kind: 'int4-weight', blockSize: 32 } as WeightOnlyConfig, quiet)).model;
  const full = (await runWeightOnly(fp32, { kind: 'int4-weight', blockSize: 32 } as WeightOnlyConfig, quiet)).model;
  const seq = BigInt64Array.from([3n, 14n, 15n, 92n, 65n]);
  const rf = await DecoderRunner.create(full, { threads: 1 });
  const want = (await rf.run(seq, 1)).logits.data as Float32Array;
  await rf.release();
  const r = await DecoderRunner.create(kv, { threads: 1 });
  const cache = r.newCache();
  await r.step(seq.subarray(0, 4), 1, cache);
  const o2 = await r.step(seq.subarray(4), 1, cache);
  await r.release();
  const last = want.subarray(4 * cfg.vocabSize);
  // acc 4 quantizes activations per call (M differs), so allow int8-activation noise.
  assert.ok(relL2(o2.logits.data as Float32Array, last) < 0.02, `relL2 ${relL2(o2.logits.data as Float32Array, last)}`);
});

test('bad options give one-line usage errors', async () => {
  const msg = async (c: Partial<WeightOnlyConfig>) => {
    try { await wo({ kind: 'int4-weight', ...c }); } catch (e) { assert.ok(e instanceof UsageError, String(e)); assert.ok(!e.message.includes('\n')); return e.message; }
    assert.fail('no error');
  };
  assert.match(await msg({ blockSize: 128 }), /block size 128 does not divide the input dimension of embed_tokens \(K=64\) and 7 more/);
  assert.match(await msg({ blockSize: 24 }), /power of two/);
  assert.match(await msg({ algorithm: 'gptq9' as 'gptq' }), /unknown algorithm 'gptq9'/);
  assert.match(await msg({ select: { exclude: ['.'] } }), /nothing left to quantize/);
  const why: string[] = [];
  const { model } = await runWeightOnly(fp32, { kind: 'int4-weight', blockSize: 128, blockFallback: true } as WeightOnlyConfig, { explain: (s) => why.push(s) });
  assert.ok(why.some((s) => /\/layers\.1\/mlp\/down_proj: block 128 does not divide K=256/.test(s)) === false); // 256 is divisible
  assert.ok(why.some((s) => /block 128 does not divide K=64, using block 64/.test(s)));
  assert.equal(model.graph.nodes.filter((n) => n.opType === 'MatMulNBits' && n.attr('block_size', 'int') === 128).length, 2); // the two down_proj (K=256)
});

const charTokenizer = charTokenizerFor(cfg.vocabSize);
const calibFile = () => randomTextFile(11, 6000);

test('calibrated algorithms: GPTQ and importance RTN beat RTN on held-out tokens; the calibration is recorded', async () => {
  const calibration = calibFile();
  const ctx = { explain: () => {}, tokenizer: charTokenizer, session: { threads: 1 } };
  const ref = await logits(fp32);
  const base = { kind: 'int4-weight' as const, blockSize: 16, calibration, calibWindows: 8, calibCtx: 64 };
  const err = async (c: Partial<WeightOnlyConfig>) => {
    const r = await runWeightOnly(fp32, { ...base, ...c } as WeightOnlyConfig, ctx);
    return { e: relL2(await logits(r.model), ref), r };
  };
  const rtn = await err({});
  const gptq = await err({ algorithm: 'gptq' });
  const imp = await err({ importance: true });
  // Measured (random weights, so the gains are small): RTN 0.220, GPTQ 0.190, importance RTN 0.208 (relative L2 of the logits).
  assert.ok(gptq.e < 0.93 * rtn.e, `GPTQ ${gptq.e} vs RTN ${rtn.e}`);
  assert.ok(imp.e < rtn.e, `importance RTN ${imp.e} vs RTN ${rtn.e}`);
  assert.equal(JSON.parse(gptq.r.model.metadata['quantlab.calibration']).windows, 8);
  assert.ok(gptq.r.report.notes.some((n) => /^calibration: .*8 windows of 64 tokens/.test(n)));
  assert.equal(rtn.r.model.metadata['quantlab.calibration'], undefined);
  // Without a tokenizer the calibrated algorithms refuse in one line.
  await assert.rejects(runWeightOnly(fp32, { ...base, algorithm: 'gptq' } as WeightOnlyConfig, quiet), /needs the model's tokenizer/);
});

test('GPTQ quantizes each layer as soon as the layer-by-layer calibration has its statistics: the same codes and scales as from every Gram matrix at once', async () => {
  const calibration = calibFile();
  const ctx = { explain: () => {}, tokenizer: charTokenizer, session: { threads: 1 } };
  const fmt: BlockFormat = { bits: 4, blockSize: 16, symmetric: true };
  const streamed = (await runWeightOnly(fp32, { kind: 'int4-weight', blockSize: 16, calibration, calibWindows: 8, calibCtx: 64, algorithm: 'gptq' } as WeightOnlyConfig, ctx)).model.graph;
  const m = cloneModel(fp32);
  const sites = selectWeights(m, undefined, quiet, { ops: ['MatMul'] }).sites;
  const { grams } = await calibrationGrams(m, sites, { calibration, calibSplit: 'train', calibWindows: 8, calibCtx: 64 }, ctx, 'test');
  const gptq = await GptqSession.open({ damp: 0.01, tiedDamp: 0.3 }, engineOf({}, 'test'), ctx.session);
  for (const s of sites) {
    const want = packNBits(await gptq.quantize(s.node.inputs[0]!.name, grams.get(s.node.inputs[0]!.name)!, siteRows(s), s.outDim, fmt, false));
    assert.deepEqual(streamed.mustValue(`${s.weight.name}_Q4`).constant!.data, want.b.data, `${s.weight.name}: codes`);
    assert.deepEqual(streamed.mustValue(`${s.weight.name}_Q4_scales`).constant!.data, want.scales.data, `${s.weight.name}: scales`);
  }
  await gptq.release();
});

test('AWQ: scales folded into the norms leave the float model unchanged; the rounded model is no worse than RTN', async () => {
  const calibration = calibFile();
  const ctx = { explain: () => {}, tokenizer: charTokenizer, session: { threads: 1 } };
  const m = cloneModel(fp32);
  const sites = selectWeights(m, undefined, quiet, { ops: ['MatMul'] }).sites;
  const { grams } = await calibrationGrams(m, sites, { calibration, calibSplit: 'train', calibWindows: 4, calibCtx: 64 }, ctx, 'test');
  // Fold α = 0.5 scales (not searched) so the check never depends on the search choosing α > 0.
  for (const grp of smoothGroups(m.graph)) {
    const gram = grams.get(grp.activation.name)!;
    foldScales(grp, scalesFor(Float64Array.from({ length: gram.k }, (_, i) => Math.sqrt(gram.sum[i * gram.k + i])), 0.5));
  }
  assert.notEqual(m.graph.mustValue(smoothGroups(m.graph)[0].gamma.name).constant, fp32.graph.mustValue(smoothGroups(m.graph)[0].gamma.name).constant);
  const ref = await logits(fp32);
  assert.ok(relL2(await logits(m), ref) < 1e-5);
  const q = await runWeightOnly(fp32, { kind: 'int4-weight', blockSize: 16, algorithm: 'awq', calibration, calibWindows: 8, calibCtx: 64 } as WeightOnlyConfig, ctx);
  const rtn = await runWeightOnly(fp32, { kind: 'int4-weight', blockSize: 16 } as WeightOnlyConfig, quiet);
  assert.ok(q.report.notes.some((n) => n.startsWith('awq: scales folded into the norms of')), q.report.notes.join('; '));
  assert.ok(relL2(await logits(q.model), ref) < 1.05 * relL2(await logits(rtn.model), ref));
});

test('size budget: a table split between two formats by output rows computes the same function; budgets are used within 2% and never exceeded', async () => {
  const untiedCfg = tinyGpt2Config({ tieWordEmbeddings: false });
  const untied = buildDecoder(untiedCfg, randomGpt2Weights(untiedCfg, 5), { kvCache: false });
  // The split itself: two MatMuls and a Concat, the float model's logits unchanged.
  const m = cloneModel(untied);
  const site = selectWeights(m, undefined, quiet, { ops: ['MatMul'] }).sites.find((s) => s.weight.name === 'lm_head.weight')!;
  const [a, b] = splitSite(m.graph, site, 40);
  assert.deepEqual([a.weight.constant!.dims, b.weight.constant!.dims], [[64, 40], [64, 56]]);
  const ref = await runLogits(untied, ids, 2);
  assert.ok(relL2(await runLogits(m, ids, 2), ref) < 1e-6);

  const paramsOf = (model: typeof untied) => model.graph.initializers().reduce((s, v) => s + v.constant!.size, 0);
  const params = paramsOf(untied);
  const ctx = { explain: () => {}, tokenizer: charTokenizer, session: { threads: 1 } };
  let splits = 0;
  for (const percent of [20, 24, 28]) {
    // GPTQ at one budget: the search then predicts each format's error as GPTQ rounds it.
    const algorithm = percent === 24 ? 'gptq' : 'rtn';
    const r = await runWeightOnly(untied, { kind: 'int4-weight', algorithm, calibration: calibFile(), calibWindows: 4, calibCtx: 64, budget: { percent } } as WeightOnlyConfig, ctx);
    const bytes = r.model.graph.initializerBytes();
    const limit = (percent / 100) * 4 * params;
    assert.ok(bytes <= limit && bytes >= 0.98 * limit, `${percent}%: ${bytes} bytes of ${limit}`);
    const concat = r.model.graph.nodes.filter((n) => n.name.endsWith('_concat_rows'));
    if (concat.length) {
      splits++;
      const parts = concat[0].inputs.map((v) => v!.producer!);
      assert.deepEqual(parts.map((p) => p.opType), ['MatMulNBits', 'MatMulNBits']);
      assert.ok(parts[0].attr('bits', 'int')! * 1000 + 1000 / parts[0].attr('block_size', 'int')! > parts[1].attr('bits', 'int')! * 1000 + 1000 / parts[1].attr('block_size', 'int')!, 'the first rows take the larger format');
    }
    assert.ok(relL2(await logits(r.model), await logits(untied)) < 0.5);
  }
  assert.ok(splits >= 1, 'some budget split a table');
  // An int8-row embedding counts as the int8 table it becomes (in addition to a tied head's table).
  for (const [model, n] of [[untied, params], [fp32, paramsOf(fp32)]] as const) {
    const r = await runWeightOnly(model, { kind: 'int4-weight', embedding: 'int8-row', calibration: calibFile(), calibWindows: 4, calibCtx: 64, budget: { percent: 30 } } as WeightOnlyConfig, ctx);
    const bytes = r.model.graph.initializerBytes();
    assert.ok(bytes <= 0.3 * 4 * n && bytes >= 0.98 * 0.3 * 4 * n, `int8-row embedding: ${bytes} bytes of ${0.3 * 4 * n}`);
  }
});
