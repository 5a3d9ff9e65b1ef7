import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseParams, dequantize, groupShape, packInt4, quantize, quantizeMatrix, roundEven, transpose, unpackInt4, type QuantScheme } from './primitives.js';

const f32 = (xs: number[]) => Float32Array.from(xs);

test('roundEven rounds halves to even like ONNX QuantizeLinear', () => {
  assert.deepEqual([2.5, 3.5, -2.5, -3.5, 0.5, -0.5, 1.4999, 2.6, -1.5, 0.49999999999999994, -0.49999999999999994, 2.4999999999999996].map((v) => roundEven(v) + 0), [2, 4, -2, -4, 0, 0, 1, 3, -2, 0, 0, 2]);
  // Against the plain definition (Math.round, then halves to even) on random values and exact halves.
  let seed = 7;
  for (let i = 0; i < 200000; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const v = ((seed / 2 ** 32 - 0.5) * 600) / (i % 2 ? 1 : 0.0137), x = i % 3 ? v : Math.round(v * 2) / 2;
    let want = Math.round(x);
    if (want - x === 0.5 && (want & 1) !== 0) want -= 1;
    if (roundEven(x) !== want) assert.fail(`roundEven(${x}) = ${roundEven(x)}, want ${want}`);
  }
});

test('symmetric int8 per-channel along axis 0: one scale per column, absmax/127', () => {
  // [K=3, N=2]: column 0 = [1.1, -2, 0.5], column 1 = [0, 0, 0]
  const x = f32([1.1, 0, -2, 0, 0.5, 0]);
  const s: QuantScheme = { type: 'int8', symmetric: true, granularity: 'channel', axis: 0 };
  const p = chooseParams(x, 3, 2, s);
  assert.deepEqual(p.dims, [1, 2]);
  assert.deepEqual([...p.scale], [Math.fround(2 / 127), 1]);
  assert.deepEqual([...p.zeroPoint], [0, 0]);
  const q = quantize(x, 3, 2, s, p);
  assert.ok(q instanceof Int8Array);
  // 1.1/(2/127) = 69.85 → 70, -2 → -127, 0.5 → 31.75 → 32; the all-zero column gets scale 1
  assert.deepEqual([...q], [70, 0, -127, 0, 32, 0]);
  const d = dequantize(q, 3, 2, s, p);
  assert.deepEqual([...d], [70, 0, -127, 0, 32, 0].map((v, i) => Math.fround(v * p.scale[i % 2])));
});

test('asymmetric uint8 per-tensor maps [min(x,0), max(x,0)] onto 0..255', () => {
  const x = f32([-1, 0, 1, 3]);
  const s: QuantScheme = { type: 'uint8', symmetric: false, granularity: 'tensor', axis: 0 };
  const { q, params } = quantizeMatrix(x, 2, 2, s);
  assert.deepEqual(params.dims, [1, 1]);
  assert.equal(params.scale[0], Math.fround(4 / 255));
  assert.equal(params.zeroPoint[0], 64); // 0 - (-1)/(4/255) = 63.75 → 64
  assert.deepEqual([...q], [0, 64, 128, 255]); // -1 → -63.75 → -64 (+64); 1 → 64 (+64); 3 → 191.25 → 191 (+64)
  // A positive-only tensor still represents 0 exactly.
  const p2 = chooseParams(f32([2, 4]), 1, 2, s);
  assert.equal(p2.zeroPoint[0], 0);
  assert.equal(p2.scale[0], Math.fround(4 / 255));
});

test('int4 blocks along axis 0 and along axis 1 use the documented scale layout', () => {
  // [4, 2] with block 2 along axis 0 → scales [2, 2]
  const x = f32([7, -1, -14, 1, 0.6, 2.2, 1, -4]);
  const s0: QuantScheme = { type: 'int4', symmetric: true, granularity: 'block', axis: 0, blockSize: 2 };
  const p0 = chooseParams(x, 4, 2, s0);
  assert.deepEqual(p0.dims, [2, 2]);
  assert.deepEqual([...p0.scale], [2, Math.fround(1 / 7), Math.fround(1 / 7), Math.fround(4 / 7)]);
  const q0 = quantize(x, 4, 2, s0, p0);
  assert.deepEqual([...q0], [4, -7, -7, 7, 4, 4, 7, -7]); // 7/2 = 3.5 → 4 (even), 0.6·7 = 4.2 → 4, 2.2·7/4 = 3.85 → 4
  // Same data, block 2 along axis 1 → scales [4, 1]
  const s1: QuantScheme = { ...s0, axis: 1 };
  const p1 = chooseParams(x, 4, 2, s1);
  assert.deepEqual(p1.dims, [4, 1]);
  assert.deepEqual([...p1.scale], [1, 2, Math.fround(Math.fround(2.2) / 7), Math.fround(4 / 7)]);
  // uint4 symmetric: zero point 8, values 1..15
  const su: QuantScheme = { ...s0, type: 'uint4' };
  const qu = quantize(x, 4, 2, su, chooseParams(x, 4, 2, su));
  assert.deepEqual([...qu], [...q0].map((v) => v + 8));
});

test('per-row int8 (axis 1, channel) of an embedding table', () => {
  const x = f32([0.5, -0.3, 10, 6]);
  const s: QuantScheme = { type: 'int8', symmetric: true, granularity: 'channel', axis: 1 };
  const { q, params } = quantizeMatrix(x, 2, 2, s);
  assert.deepEqual(params.dims, [2, 1]);
  assert.deepEqual([...params.scale], [Math.fround(0.5 / 127), Math.fround(10 / 127)]);
  assert.deepEqual([...q], [127, -76, 127, 76]); // -0.3·254 = -76.2 → -76, 6·12.7 = 76.2 → 76
});

test('groupShape rejects blocks that do not divide the axis', () => {
  assert.throws(() => groupShape(192, 8, { granularity: 'block', axis: 0, blockSize: 128 }), /dimension 192 is not divisible by block 128/);
  assert.deepEqual(groupShape(256, 8, { granularity: 'block', axis: 0, blockSize: 128 }).dims, [2, 8]);
});

test('int4 packing is two per byte, low nibble first, and round-trips', () => {
  assert.deepEqual([...packInt4([1, 2, -1, -8, 7])], [0x21, 0x8f, 0x07]);
  assert.deepEqual([...unpackInt4(Uint8Array.from([0x21, 0x8f, 0x07]), 5, true)], [1, 2, -1, -8, 7]);
  assert.deepEqual([...unpackInt4(Uint8Array.from([0x21, 0x8f]), 4, false)], [1, 2, 15, 8]);
});

test('quantize + dequantize error is at most half a step; 100 MB/s class speed', () => {
  const K = 768, N = 3072;
  const x = new Float32Array(K * N);
  let seed = 1;
  for (let i = 0; i < x.length; i++) { seed = (seed * 1103515245 + 12345) >>> 0; x[i] = (seed / 2 ** 32 - 0.5) * 0.2; }
  const s: QuantScheme = { type: 'int8', symmetric: true, granularity: 'channel', axis: 0 };
  const t0 = performance.now();
  const { q, params } = quantizeMatrix(x, K, N, s);
  const ms = performance.now() - t0;
  const d = dequantize(q, K, N, s, params);
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(d[i] - x[i]) / params.scale[i % N]);
  assert.ok(worst <= 0.5 + 1e-5, `max error ${worst} steps`);
  console.log(`  quantized ${(x.length * 4 / 1e6).toFixed(1)} MB fp32 in ${ms.toFixed(0)} ms`);
});

test('transpose swaps rows and columns for any element type', () => {
  assert.deepEqual([...transpose(Int8Array.from([1, 2, 3, 4, 5, 6]), 2, 3)], [1, 4, 2, 5, 3, 6]);
});

test('reduceRange: symmetric int8 uses -64..64 (scale absmax/64), asymmetric uint8 uses 0..127', () => {
  const x = f32([1.28, -0.64, 0.3, -1]);
  const s: QuantScheme = { type: 'int8', symmetric: true, granularity: 'tensor', axis: 0, reduceRange: true };
  const { q, params } = quantizeMatrix(x, 1, 4, s);
  assert.equal(params.scale[0], Math.fround(1.28 / 64));
  assert.deepEqual([...q], [64, -32, 15, -50]);
  const a: QuantScheme = { type: 'uint8', symmetric: false, granularity: 'tensor', axis: 0, reduceRange: true };
  const r = quantizeMatrix(f32([-1, 0, 1.54]), 1, 3, a);
  assert.equal(r.params.scale[0], Math.fround(2.54 / 127));
  assert.equal(r.params.zeroPoint[0], 50);
  assert.deepEqual([...r.q], [0, 50, 127]);
});
