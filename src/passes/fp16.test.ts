import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildDecoder } from '../arch/decoder.js';
import { Tensor } from '../ir/tensor.js';
import type { Model } from '../ir/graph.js';
import { DecoderRunner } from '../runtime/decoder.js';
import { relL2, runLogits } from '../testing/fixtures.js';
import { randomGpt2Weights, tinyGpt2Config } from '../testing/random-decoder.js';
import { UsageError } from '../util/errors.js';
import { f16ToF32 } from '../util/half.js';
import { runFp16, runFp16Method, toHalf, type Fp16Config } from './fp16.js';
import { activationRanges } from './fp16-overflow.js';
import { inferDtypes } from '../ir/types.js';
import '../engine.js'; // the passes' engine on onnxruntime

const cfg = tinyGpt2Config();
const weights = randomGpt2Weights(cfg, 5);
const fp32 = buildDecoder(cfg, weights, { kvCache: true });
const ids = BigInt64Array.from({ length: 2 * 24 }, (_, i) => BigInt((i * 29 + 3) % cfg.vocabSize));
const quiet = { explain: () => {} };
const conv = (c: Partial<Fp16Config>) => runFp16(fp32, { kind: 'fp16', ...c } as Fp16Config, quiet).model;

const logits = (m: Model) => runLogits(m, ids, 2);

test('fp16 / bf16 logits stay close to FP32', async () => {
  const ref = await logits(fp32);
  // FP16 rounds weights and activations to 11 significant bits (unit roundoff 4.9e-4); a few
  // roundings compound over 2 layers: measured 6e-4, bound 2e-3. BF16 (storage) rounds weights
  // to 8 bits (3.9e-3): measured 4e-3, bound 1e-2.
  const cases: [Partial<Fp16Config>, number][] = [[{ compute: 'half' }, 2e-3], [{ compute: 'float' }, 2e-3], [{ kind: 'bf16' }, 1e-2]];
  for (const [c, tol] of cases) {
    const e = relL2(await logits(conv(c)), ref);
    assert.ok(e < tol, `${JSON.stringify(c)}: relative L2 ${e} ≥ ${tol}`);
    assert.ok(e > 0, 'the conversion changed something');
  }
});

test('fp16: weights stored half (tied table once), I/O stays FP32, fragile ops see FP32, no Cast round trips', () => {
  const m = conv({ compute: 'half' });
  const g = m.graph;
  const types = inferDtypes(g);
  // Every 2-D weight is float16 with exactly half the bytes; the tied embedding is stored once.
  for (const v of fp32.graph.initializers().filter((x) => x.constant!.dims.length === 2)) {
    const h = g.mustValue(`${v.name}_fp16`).constant!;
    assert.equal(h.dtype, 'float16');
    assert.equal(h.byteLength, v.constant!.byteLength / 2, v.name);
    assert.equal(g.value(v.name), undefined, `${v.name}: no float32 copy`);
  }
  for (const v of [...g.inputs, ...g.outputs]) if (v.name !== 'input_ids' && v.name !== 'attention_mask' && v.name !== 'position_ids') assert.equal(v.type?.dtype, 'float32', v.name);
  for (const n of g.nodes) {
    if (['LayerNormalization', 'Softmax'].includes(n.opType) || n.name.startsWith('/lm_head/')) {
      for (const x of n.inputs) if (x && !['int64', 'bool'].includes(types.get(x)!)) assert.equal(types.get(x), 'float32', `${n.name} input ${x.name}`);
    }
    if (n.opType === 'Cast') {
      const inner = n.inputs[0]?.producer;
      assert.ok(!(inner?.opType === 'Cast' && inner.inputs[0] && types.get(inner.inputs[0]) === types.get(n.outputs[0])), `round trip at ${n.name}`);
    }
  }
  // The additive mask's lowest float is clamped to -65504, not -inf.
  const total = (mm: Model) => mm.graph.initializers().reduce((s, v) => s + v.constant!.byteLength, 0);
  assert.ok(total(m) <= 0.51 * total(fp32), `${total(m)} vs ${total(fp32)}`);
});

test('toHalf clamps into the FP16 range instead of overflowing to infinity', () => {
  const { data, clamped } = toHalf(Float32Array.of(1e6, -3.4e38, 1.5, 65504, 1e-9), 'float16');
  assert.equal(clamped, 2);
  assert.deepEqual([...data].map(f16ToF32), [65504, -65504, 1.5, 65504, 0]);
});

test('fp16 KV-cache decode matches the converted full-sequence logits', async () => {
  const m = conv({ compute: 'half' });
  const seq = BigInt64Array.from([5n, 6n, 70n, 8n, 9n]);
  const r = await DecoderRunner.create(m, { threads: 1 });
  try {
    const full = (await r.run(seq, 1)).logits.data as Float32Array;
    const cache = r.newCache();
    const o1 = await r.step(seq.subarray(0, 4), 1, cache);
    const o2 = await r.step(seq.subarray(4), 1, cache);
    // The cache stays FP32 at the graph's edge (the in-place form returns the new rows).
    assert.equal(r.cachePath, 'in-place');
    assert.equal((o1['new_key_values.0.key'] as { type: string }).type, 'float32');
    // Same half arithmetic, different row count per call: a few half-ulps at most.
    assert.ok(relL2(o2.logits.data as Float32Array, full.subarray(4 * cfg.vocabSize)) < 2e-3);
  } finally { await r.release(); }
});

test('overflow check reports the activations beyond 65504', async () => {
  // A final-norm bias of 1e5 pushes the LM head input (and the logits) beyond the FP16 range.
  const w = randomGpt2Weights(cfg, 5);
  w.finalNorm = { ...w.finalNorm, bias: { name: 'ln_f.bias', tensor: new Tensor('float32', [cfg.hiddenSize], new Float32Array(cfg.hiddenSize).fill(1e5)) } };
  const model = buildDecoder(cfg, w, { kvCache: true });
  const { overflows, ranges } = await activationRanges(model, Array.from({ length: 40 }, (_, i) => i % cfg.vocabSize), { ctx: 20 });
  assert.ok(overflows.some((o) => o.op === 'LayerNormalization' && o.node === 'final_norm'));
  assert.ok(overflows.every((o) => o.maxAbs > 65504));
  const ok = await activationRanges(fp32, [1, 2, 3, 4]);
  assert.equal(ok.overflows.length, 0);
  // The additive causal mask holds the lowest float by design: counted as sentinels, not overflow.
  assert.ok(ok.ranges.some((r) => r.node === '/mask/Where' && r.sentinels > 0 && r.maxAbs === 0));
  assert.ok(ok.ranges[0].maxAbs > 1 && ranges.length === ok.ranges.length);
});

test('overflowCheck option runs the check on calibration text and reports in the notes', async () => {
  const w = randomGpt2Weights(cfg, 5);
  w.finalNorm = { ...w.finalNorm, bias: { name: 'ln_f.bias', tensor: new Tensor('float32', [cfg.hiddenSize], new Float32Array(cfg.hiddenSize).fill(1e5)) } };
  const model = buildDecoder(cfg, w, { kvCache: true });
  const why: string[] = [];
  const tokenizer = { encode: (t: string) => t.split(/\s+/).map((x) => x.length % cfg.vocabSize) };
  const r = await runFp16Method(model, { kind: 'fp16', overflowCheck: true, calibTokens: 300 } as Fp16Config, { explain: (s: string) => why.push(s), tokenizer } as never);
  assert.ok(r.report.notes.some((n) => /overflow check \(brown\/train, 300 tokens\): \d+ activations exceed/.test(n)), r.report.notes.join(' | '));
  assert.ok(why.some((s) => s.startsWith('LayerNormalization final_norm: |max|')));
  await assert.rejects(runFp16Method(model, { kind: 'fp16', overflowCheck: true } as Fp16Config, quiet), /needs the model tokenizer/);
});

test('bad fp16 options give one-line usage errors', () => {
  assert.throws(() => runFp16(fp32, { kind: 'bf16', compute: 'half' } as Fp16Config, quiet), (e: unknown) => e instanceof UsageError && /no bfloat16 kernels/.test(e.message));
  assert.throws(() => runFp16(fp32, { kind: 'fp16', compute: 'fast' } as unknown as Fp16Config, quiet), UsageError);
  assert.throws(() => runFp16(fp32, { kind: 'fp16', keepFloatNodes: ['('] } as Fp16Config, quiet), UsageError);
});
