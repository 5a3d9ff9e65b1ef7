import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DType } from '../ir/dtype.js';
import { Graph, Model, type Value } from '../ir/graph.js';
import { numel, Tensor } from '../ir/tensor.js';
import { loadModel } from '../load/index.js';
import { baseName, modelSize } from './size.js';

function zeros(dtype: DType, dims: number[]): Tensor {
  const n = numel(dims);
  const T = { float32: Float32Array, float16: Uint16Array, int8: Int8Array, uint8: Uint8Array, int64: BigInt64Array } as const;
  if (dtype === 'int4') return new Tensor(dtype, dims, new Uint8Array(Math.ceil(n / 2)));
  return new Tensor(dtype, dims, new (T[dtype as keyof typeof T])(n));
}

/** A structural graph (not meant to run) mixing float, int8, 4-bit, tied and anonymous weights. */
function tinyGraph(): Model {
  const g = new Graph('t');
  const x = g.addInput('x', { dtype: 'float32', shape: ['n', 8] });
  const ids = g.addInput('ids', { dtype: 'int64', shape: ['n'] });
  const w = (name: string, dtype: DType, dims: number[]): Value => g.addInitializer(name, zeros(dtype, dims));
  const op = (type: string, name: string, inputs: (Value | null)[], attrs = {}, domain = '') => g.addNode(type, inputs, [`${name}_out`], { name, attrs, domain }).outputs[0];

  op('MatMul', '/layers.0/attn/q_proj', [x, w('layers.0.attn.q_proj.weight', 'float32', [8, 8])]);
  op('MatMul', '/layers.0/mlp/up_proj', [x, w('onnx::MatMul_7', 'float32', [8, 16])]); // grouped by its consumer's name
  // Dynamic int8: X_quantized + X_zero_point into MatMulInteger, X_scale into a Mul.
  const mi = op('MatMulInteger', 'mm_int', [x, w('layers.0.mlp.down_proj.weight_quantized', 'int8', [16, 8]), null, w('layers.0.mlp.down_proj.weight_zero_point', 'int8', [8])]);
  op('Mul', 'rescale', [mi, w('layers.0.mlp.down_proj.weight_scale', 'float32', [8])]);
  // 4-bit blockwise: K=32, N=8, block 32 → B is [8, 1, 16] bytes holding 256 weights; anonymous scales follow B.
  op('MatMulNBits', 'MatMulNBits_0', [x, w('model.layers.0.self_attn.o_proj.weight_Q4', 'uint8', [8, 1, 16]), w('onnx::scales_3', 'float16', [8])],
    { K: { t: 'int', v: 32 }, N: { t: 'int', v: 8 }, bits: { t: 'int', v: 4 }, block_size: { t: 'int', v: 32 } }, 'com.microsoft');
  op('DequantizeLinear', 'dq', [w('lm_head.weight_quantized', 'int4', [3, 5]), w('lm_head.weight_scale', 'float32', [])]);
  op('Gather', 'g0', [w('tok_table', 'float16', [10, 8]), ids]); // anonymous table read by Gather → embeddings
  // Tied embedding kept float for the Gather and int8 for the head: one set of parameters.
  op('Gather', 'g1', [w('model.embed_tokens.weight', 'float32', [10, 8]), ids]);
  // The head's int8 copy: storage of the head, parameters already counted with the embedding.
  op('MatMulInteger', '/lm_head/MatMulInteger', [x, w('model.embed_tokens.weight_quantized', 'int8', [8, 10])]);
  op('Mul', 'n', [x, w('model.norm.weight', 'float32', [8])]);
  op('Relu', 'r', [w('unnamed_w', 'float32', [4, 4])]);
  op('Reshape', 'rs', [x, w('const_0', 'int64', [2])]);
  op('Mul', 'rot', [x, w('rotary.inv_freq', 'float32', [4])]);
  return new Model(g);
}

test('size: exact counts and bytes per group and dtype on a mixed float/int8/int4 graph', () => {
  const s = modelSize(tinyGraph());
  assert.deepEqual(s.by_group, {
    attention: { count: 64 + 256, bytes: 256 + 128 + 16 },
    mlp: { count: 128 + 128, bytes: 512 + 128 + 8 + 32 },
    lm_head: { count: 15, bytes: 8 + 4 + 80 },
    embeddings: { count: 80 + 80, bytes: 160 + 320 },
    norms: { count: 8, bytes: 32 },
    other: { count: 16, bytes: 64 + 16 + 16 },
  });
  assert.equal(s.param_count, 775);
  assert.equal(s.param_bytes, 1748);
  assert.equal(s.constant_bytes, 32);
  assert.equal(s.file_bytes, null);
  assert.deepEqual(s.by_dtype, {
    float32: { count: 296, bytes: 1236 }, int8: { count: 128, bytes: 216 }, uint8: { count: 256, bytes: 128 },
    float16: { count: 80, bytes: 176 }, int4: { count: 15, bytes: 8 }, int64: { count: 0, bytes: 16 },
  });
});

test('size: a 4-bit table shared by the embedding Gather and the head MatMulNBits counts once, as embeddings', () => {
  const g = new Graph('tied');
  const x = g.addInput('x', { dtype: 'float32', shape: ['n', 16] });
  const ids = g.addInput('ids', { dtype: 'int64', shape: ['n'] });
  const b = g.addInitializer('transformer.wte.weight_Q4', zeros('uint8', [10, 1, 8])); // N=10 rows, K=16 → 160 weights
  const sc = g.addInitializer('transformer.wte.weight_Q4_scales', zeros('float32', [10]));
  g.addNode('Gather', [b, ids], ['rows'], { name: '/embed_tokens/gather_codes' });
  g.addNode('Gather', [sc, ids], ['srows'], { name: '/embed_tokens/gather_scales' });
  g.addNode('MatMulNBits', [x, b, sc], ['logits'], { name: '/lm_head/Gemm_Q4', domain: 'com.microsoft', attrs: { K: { t: 'int', v: 16 }, N: { t: 'int', v: 10 } } });
  const s = modelSize(new Model(g));
  assert.deepEqual(s.by_group.embeddings, { count: 160, bytes: 80 + 40 });
  assert.deepEqual(s.by_group.lm_head, { count: 0, bytes: 0 });
  assert.equal(s.param_count, 160);
});

test('size: quantization suffixes map back to the float weight name', () => {
  assert.equal(baseName('transformer.h.0.attn.c_attn.weight_quantized'), 'transformer.h.0.attn.c_attn.weight');
  assert.equal(baseName('model.layers.3.mlp.up_proj.weight_zero_point'), 'model.layers.3.mlp.up_proj.weight');
  assert.equal(baseName('lm_head.weight_DQ_Q4'), 'lm_head.weight');
  assert.equal(baseName('transformer.wte.weight_quantized_rows'), 'transformer.wte.weight');
  assert.equal(baseName('transformer.wte.weight_Q4_scales_2'), 'transformer.wte.weight');
  assert.equal(baseName('model.norm.weight'), 'model.norm.weight');
  assert.equal(baseName('onnx::MatMul_123'), 'onnx::MatMul_123');
});

test('size: the shared 12M GPT-2 has 12,417,216 parameters, grouped exactly', () => {
  const m = loadModel('models/gpt2-brown-12m');
  for (const kvCache of [false, true]) {
    const s = modelSize(m.graph({ kvCache }), m.files);
    assert.equal(s.param_count, 12_417_216);
    assert.equal(s.param_bytes, 12_417_216 * 4);
    assert.equal(s.file_bytes, 49_676_264);
    const E = 192, V = 50257, P = 512, L = 6;
    assert.deepEqual(s.by_group.embeddings, { count: V * E + P * E, bytes: (V * E + P * E) * 4 });
    assert.equal(s.by_group.embeddings.bytes, 38_990_592);
    const attn = L * (E * 3 * E + 3 * E + E * E + E), mlp = L * (E * 4 * E + 4 * E + 4 * E * E + E), norms = (2 * L + 1) * 2 * E;
    assert.deepEqual(s.by_group.attention, { count: attn, bytes: attn * 4 });
    assert.deepEqual(s.by_group.mlp, { count: mlp, bytes: mlp * 4 });
    assert.deepEqual(s.by_group.norms, { count: norms, bytes: norms * 4 });
    assert.deepEqual(s.by_group.lm_head, { count: 0, bytes: 0 }); // tied: the head reads wte
    assert.equal(s.by_group.other.count, 0);
    assert.equal(s.by_group.other.bytes, s.constant_bytes);
    assert.ok(s.constant_bytes > 0 && s.constant_bytes < 1024, `constants ${s.constant_bytes} bytes`);
    assert.equal(s.by_dtype.float32!.count, 12_417_216);
  }
});
