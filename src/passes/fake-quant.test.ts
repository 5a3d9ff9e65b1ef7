import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildDecoder } from '../arch/decoder.js';
import { chooseParams, dequantize, quantize, type QuantScheme } from '../quant/primitives.js';
import { createSession, ort } from '../runtime/session.js';
import { defaultTrainable } from '../autodiff/trainable.js';
import '../engine.js';
import { initDecoderWeights, tinyConfig } from '../train/init.js';
import { Trainer } from '../train/trainer.js';
import { insertFakeQuant, maxAbsRanges, weightMatMuls } from './fake-quant.js';

const B = 4, T = 16;

function batchOf(step: number, vocab: number): BigInt64Array {
  const ids = new BigInt64Array(B * T);
  for (let r = 0; r < B; r++) for (let t = 0; t < T; t++) ids[r * T + t] = BigInt(((step * 13 + r * 29) + 3 * t) % vocab);
  return ids;
}

test('fake-quantized weights equal static-int8 per-channel quantization (reduce_range) bit for bit', async () => {
  const cfg = tinyConfig('gpt2');
  const dec = buildDecoder(cfg, initDecoderWeights(cfg, { seed: 2, std: 0.3 }), { kvCache: false });
  const fq = insertFakeQuant(dec);
  assert.equal(fq.nodes.length, weightMatMuls(dec).length);
  assert.equal(fq.weightScales.length, fq.nodes.length);
  const node = fq.model.graph.nodes.find((n) => n.name === fq.nodes[0])!;
  const w = dec.graph.nodes.find((n) => n.name === fq.nodes[0])!.inputs[1]!.constant!;
  const out = node.inputs[1]!;
  out.type = { dtype: 'float32' };
  fq.model.graph.markOutput(out);
  const s = await createSession(fq.model, { threads: 1 });
  const got = (await s.run({ input_ids: new ort.Tensor('int64', batchOf(0, cfg.vocabSize), [B, T]) }, [out.name]))[out.name].data as Float32Array;
  await s.release();
  // What static-int8's weightDq stores for a [K, N] MatMul weight: symmetric int8 per output channel, scale·127/64.
  const [R, C] = w.dims;
  const scheme: QuantScheme = { type: 'int8', symmetric: true, granularity: 'channel', axis: 0 };
  const x = w.data as Float32Array;
  const p = chooseParams(x, R, C, scheme);
  for (let i = 0; i < p.scale.length; i++) p.scale[i] *= 127 / 64;
  const ref = dequantize(quantize(x, R, C, scheme, p), R, C, scheme, p);
  assert.deepEqual([...got], [...ref]);
});

test('quantization-aware training: a fake-quantized tiny GPT-2 learns, activation scales are trained', async () => {
  const cfg = tinyConfig('gpt2');
  const dec = buildDecoder(cfg, initDecoderWeights(cfg, { seed: 3 }), { kvCache: false });
  const inputs = [...new Set(weightMatMuls(dec).map((n) => n.inputs[0]!.name))];
  const ranges = await maxAbsRanges(dec, inputs, [0, 1].flatMap((s) => Array.from({ length: B }, (_, r) => Array.from(batchOf(s, cfg.vocabSize).subarray(r * T, (r + 1) * T), Number))), { session: { threads: 1 } });
  const fq = insertFakeQuant(dec, { activationRanges: ranges });
  assert.equal(fq.activationScales.length, inputs.length);
  const params = [...defaultTrainable(fq.model), ...fq.activationScales];
  const trainer = await Trainer.create(fq.model, {
    params, stopGradient: fq.weightScales, schedule: { peak: 3e-2, warmupSteps: 5, totalSteps: 30 }, threads: 1,
  });
  const scale0 = Array.from(fq.activationScales, (n) => fq.model.graph.mustValue(n).constant!.data[0] as number);
  const losses: number[] = [];
  for (let s = 0; s < 30; s++) losses.push((await trainer.trainStep(batchOf(s, cfg.vocabSize), B, T)).loss);
  const last = losses.slice(-5).reduce((a, b) => a + b, 0) / 5;
  console.log(`  QAT gpt2: loss ${losses[0].toFixed(3)} → ${last.toFixed(3)}; ${fq.nodes.length} weights and ${inputs.length} activations fake-quantized`);
  assert.ok(last < losses[0] - 2.5, `QAT loss ${losses[0]} → ${last}`);
  const trained = trainer.model();
  const moved = fq.activationScales.filter((n, i) => trained.graph.mustValue(n).constant!.data[0] !== scale0[i]);
  assert.equal(moved.length, fq.activationScales.length, 'every activation scale should receive a gradient');
  await trainer.release();
});

test('fake-quantized tied table: per row, read by the embedding Gather and the Gemm head alike, as dynamic-int8 stores it', async () => {
  const cfg = tinyConfig('gpt2');
  const dec = buildDecoder(cfg, initDecoderWeights(cfg, { seed: 2, std: 0.3 }), { kvCache: false });
  const head = dec.graph.nodes.find((n) => n.opType === 'Gemm')!;
  const table = head.inputs[1]!;
  const fq = insertFakeQuant(dec, { nodes: [head.name], tables: [{ name: table.name, reduceRange: true }] });
  const g = fq.model.graph;
  // Every consumer of the table now reads the one fake-quantized copy.
  const dq = g.nodes.find((n) => n.opType === 'Gemm')!.inputs[1]!;
  assert.equal(dq.producer!.opType, 'DequantizeLinear');
  assert.ok([...g.mustValue(table.name).uses].every((u) => u.node.name.startsWith('/fake_quant/') || u.node.name.startsWith('fake_quant/')));
  assert.ok(g.nodes.filter((n) => n.opType === 'Gather' && n.inputs[0] === dq).length === 1, 'the embedding Gather reads the fake-quantized table');
  dq.type = { dtype: 'float32' };
  g.markOutput(dq);
  const s = await createSession(fq.model, { threads: 1 });
  const got = (await s.run({ input_ids: new ort.Tensor('int64', batchOf(0, cfg.vocabSize), [B, T]) }, [dq.name]))[dq.name].data as Float32Array;
  await s.release();
  const [R, C] = table.constant!.dims;
  const scheme: QuantScheme = { type: 'int8', symmetric: true, granularity: 'channel', axis: 1, reduceRange: true };
  const x = table.constant!.data as Float32Array;
  const p = chooseParams(x, R, C, scheme);
  const ref = dequantize(quantize(x, R, C, scheme, p), R, C, scheme, p);
  // Scales agree to the last bit but for float32 rounding of amax/127·127/64 vs amax/64: allow a rare one-code flip.
  let flips = 0;
  for (let i = 0; i < ref.length; i++) {
    const step = p.scale[Math.floor(i / C)];
    const d = Math.abs(got[i] - ref[i]);
    assert.ok(d <= step * 1.0001 + 1e-7, `element ${i}: ${got[i]} vs ${ref[i]}`);
    if (d > 1e-6 * step) flips++;
  }
  assert.ok(flips <= ref.length * 1e-3, `${flips} of ${ref.length} codes differ`);
});
