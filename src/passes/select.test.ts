import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Builder } from '../ir/builder.js';
import { Graph, Model } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { loadModel } from '../load/index.js';
import { fixtureDir } from '../testing/fixtures.js';
import { UsageError } from '../util/errors.js';
import { blockProblem, compilePattern, requireSome, selectWeights, type SelectionConfig, type SelectOptions } from './select.js';

const ALL: SelectOptions = { ops: ['MatMul', 'Gemm', 'Gather'] };
const gpt2 = () => loadModel(fixtureDir('gpt2-prefix')).graph({ kvCache: true });

function pick(cfg?: SelectionConfig, opts: SelectOptions = ALL) {
  const explained: string[] = [];
  const sel = selectWeights(gpt2(), cfg, { explain: (m) => explained.push(m) }, opts);
  const reasons = Object.fromEntries(sel.skipped.map((s) => [s.node, s.reason]));
  return { sel, explained, reasons, names: sel.sites.map((s) => s.node.name) };
}

test('default selection: every weight MatMul, the tied Gemm head and both embedding Gathers; attention MatMuls skipped with a reason', () => {
  const { sel, reasons, explained, names } = pick();
  assert.equal(names.filter((n) => n.endsWith('proj') || n.endsWith('qkv')).length, 8);
  assert.ok(names.includes('/lm_head/Gemm') && names.includes('embed_tokens') && names.includes('embed_positions'));
  assert.equal(sel.sites.length, 11);
  // Attention reads the past and the new keys/values apart (arch/attention.ts): 4 MatMuls per layer.
  assert.equal(reasons['/layers.0/attn/scores_past'], 'weight is not a constant');
  assert.equal(reasons['/layers.1/attn/context_new'], 'weight is not a constant');
  assert.equal(sel.skipped.length, 8);
  assert.ok(explained.includes('MatMul /layers.0/attn/scores_past: skipped, weight is not a constant'));
  // Shape Gathers (Gather(Shape(x), i)) are not candidates and are not reported.
  assert.ok(!sel.skipped.some((s) => s.node.startsWith('/mask/')));
  const head = sel.sites.find((s) => s.op === 'Gemm')!;
  assert.deepEqual([head.inAxis, head.inDim, head.outDim, head.weight.name], [1, 32, 80, 'transformer.wte.weight']);
  const fc = sel.sites.find((s) => s.node.name === '/layers.0/mlp/up_proj')!;
  assert.deepEqual([fc.inAxis, fc.inDim, fc.outDim], [0, 32, 128]);
});

test('include / exclude patterns (regex on node or weight name, glob: prefix), op exclusion, with reasons', () => {
  const inc = pick({ include: ['mlp'] });
  assert.deepEqual(inc.names, ['/layers.0/mlp/up_proj', '/layers.0/mlp/down_proj', '/layers.1/mlp/up_proj', '/layers.1/mlp/down_proj']);
  assert.equal(inc.reasons['/layers.0/attn/qkv'], "not matched by include pattern 'mlp'");
  const ex = pick({ exclude: ['glob:transformer.h.1.*', 'lm_head'] });
  assert.equal(ex.reasons['/layers.1/attn/qkv'], "excluded by pattern 'glob:transformer.h.1.*'");
  assert.equal(ex.reasons['/lm_head/Gemm'], "excluded by pattern 'lm_head'");
  assert.equal(ex.names.filter((n) => n.startsWith('/layers.1')).length, 0);
  assert.equal(ex.names.filter((n) => n.startsWith('/layers.0')).length, 4);
  const ops = pick({ excludeOps: ['Gather'] });
  assert.equal(ops.reasons.embed_tokens, 'op type Gather excluded');
  assert.equal(ops.sel.sites.length, 9);
  assert.throws(() => compilePattern('('), UsageError);
});

test('per-tensor overrides: exact weight name, node name, and glob keys; skip gives a reason', () => {
  const { sel, reasons } = pick({ overrides: {
    'transformer.wte.weight': { skip: true },
    '/layers.0/mlp/up_proj': { granularity: 'tensor' },
    'transformer.h.1.*': { bits: 4, blockSize: 16 },
  } });
  assert.equal(reasons.embed_tokens, "skipped by override 'transformer.wte.weight'");
  assert.equal(reasons['/lm_head/Gemm'], "skipped by override 'transformer.wte.weight'");
  assert.deepEqual(sel.sites.find((s) => s.node.name === '/layers.0/mlp/up_proj')!.override, { granularity: 'tensor' });
  const l1 = sel.sites.filter((s) => s.node.name.startsWith('/layers.1'));
  assert.equal(l1.length, 4);
  assert.ok(l1.every((s) => s.override.bits === 4 && s.overrideKey === 'transformer.h.1.*'));
});

test('method checks (block divisibility) skip with a reason; nothing left is a one-line UsageError', () => {
  const { sel, reasons } = pick(undefined, { ...ALL, check: (s) => blockProblem(s, 64) });
  assert.equal(reasons['/layers.0/attn/qkv'], 'dimension 32 not divisible by block 64');
  assert.deepEqual(sel.sites.map((s) => s.node.name), ['/layers.0/mlp/down_proj', '/layers.1/mlp/down_proj']); // K = 128
  const none = pick(undefined, { ...ALL, check: (s) => blockProblem(s, 48) }).sel;
  assert.throws(() => requireSome(none, 'int4-weight'), (e: Error) => e instanceof UsageError && /int4-weight: nothing left to quantize: every candidate was skipped: dimension 32 not divisible by block 48 \(9\); dimension 128 not divisible by block 48 \(2\)$/.test(e.message) && !e.message.includes('\n'));
  const excluded = pick({ exclude: ['.'] }).sel;
  assert.throws(() => requireSome(excluded, 'dynamic-int8'), /excluded by pattern '\.' \(19\)/);
});

test('non-2-D constant weights and Gemm with transA are skipped with a reason', () => {
  const g = new Graph();
  const b = new Builder(g);
  const x = g.addInput('x', { dtype: 'float32', shape: [2, 4, 4] });
  const y1 = b.op('MatMul', [x, b.weight('w3d', new Tensor('float32', [2, 4, 4], new Float32Array(32)))], {}, { name: 'batched' });
  const y2 = b.op('Gemm', [b.op('Reshape', [y1, b.constI64([8, 4])]), b.weight('w', new Tensor('float32', [8, 4], new Float32Array(32)))], { transA: 1 }, { name: 'gemmT' });
  g.markOutput(y2);
  const explained: string[] = [];
  const sel = selectWeights(new Model(g), undefined, { explain: (m) => explained.push(m) }, ALL);
  assert.deepEqual(sel.skipped, [
    { node: 'batched', reason: 'weight is not 2-D (shape [2,4,4])' },
    { node: 'gemmT', reason: 'Gemm with transA=1 is not supported' },
  ]);
  assert.equal(explained.length, 2);
});
