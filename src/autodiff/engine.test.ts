import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildDecoder } from '../arch/decoder.js';
import { Builder } from '../ir/builder.js';
import { Graph, Model } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { createSession, ort } from '../runtime/session.js';
import { initDecoderWeights, tinyConfig } from '../train/init.js';
import type { GradRule } from './context.js';
import { buildGradientGraph } from './engine.js';
import { addCrossEntropyLoss, nextTokenLabels } from './loss.js';
import { RULES } from './rules/index.js';

/** loss = ReduceSum(Mul(x, w)) with w an initializer. */
function tiny(): Model {
  const g = new Graph('t');
  const b = new Builder(g);
  const x = g.addInput('x', { dtype: 'float32', shape: [3] });
  const w = b.weight('w', Tensor.f32([3], [1, 2, 3]));
  const y = b.op('ReduceSum', [b.op('Mul', [x, w], {}, { name: 'mul' })], { keepdims: 0 }, { output: 'loss' });
  y.type = { dtype: 'float32', shape: [] };
  g.markOutput(y);
  return new Model(g);
}

test('a rule returning the wrong dtype or rank is reported with its op and node', () => {
  const others = RULES.filter((r) => r.op !== 'Mul');
  const wrongType: GradRule = { op: 'Mul', grad: (c) => [null, c.op('Cast', [c.g], { to: 11 })] };
  assert.throws(() => buildGradientGraph(tiny(), { loss: 'loss', wrt: ['w'], rules: [...others, wrongType] }),
    /gradient of Mul \(node mul\): rule returned a float64 gradient for input 1 \('w', float32\)/);
  const wrongRank: GradRule = { op: 'Mul', grad: (c) => [null, c.op('Unsqueeze', [c.g, c.ints([0])])] };
  assert.throws(() => buildGradientGraph(tiny(), { loss: 'loss', wrt: ['w'], rules: [...others, wrongRank] }),
    /gradient of Mul \(node mul\): rule returned a rank-2 gradient for input 1 \('w', rank 1\)/);
  const missing: GradRule = { op: 'Mul', grad: () => [] };
  assert.throws(() => buildGradientGraph(tiny(), { loss: 'loss', wrt: ['w'], rules: [...others, missing] }), /rule returned no gradient for input 1/);
  assert.throws(() => buildGradientGraph(tiny(), { loss: 'loss', wrt: ['w'], rules: others }), /no gradient rule for op Mul \(node mul\)/);
  assert.throws(() => buildGradientGraph(tiny(), { loss: 'nope', wrt: ['w'] }), /no value named 'nope'/);
  assert.throws(() => buildGradientGraph(tiny(), { loss: 'loss', wrt: ['nope'] }), /'nope' is not an initializer or graph input/);
});

test('gradient graph: named outputs, input untouched, weights as inputs, unreachable weights get zeros', async () => {
  const m = tiny();
  const before = m.graph.nodes.length;
  const gm = buildGradientGraph(m, { loss: 'loss', wrt: ['w', 'x'], weightsAsInputs: true });
  assert.equal(m.graph.nodes.length, before);
  assert.ok(m.graph.mustValue('w').constant);
  assert.deepEqual(gm.graph.outputs.map((o) => o.name), ['loss', 'grad.w', 'grad.x']);
  assert.deepEqual(gm.graph.inputs.map((o) => o.name), ['x', 'w']);
  const s = await createSession(gm);
  const out = await s.run({ x: new ort.Tensor('float32', Float32Array.of(4, 5, 6), [3]), w: new ort.Tensor('float32', Float32Array.of(1, 1, 2), [3]) });
  await s.release();
  assert.deepEqual([...(out['grad.w'].data as Float32Array)], [4, 5, 6]);
  assert.deepEqual([...(out['grad.x'].data as Float32Array)], [1, 1, 2]);
  assert.equal(out.loss.data[0], 21);

  const g2 = tiny();
  g2.graph.addInitializer('unused', Tensor.f32([2], [1, 1]));
  const z = buildGradientGraph(g2, { loss: 'loss', wrt: ['unused'] });
  const s2 = await createSession(z);
  const o2 = await s2.run({ x: new ort.Tensor('float32', Float32Array.of(1, 2, 3), [3]) });
  await s2.release();
  assert.deepEqual([...(o2['grad.unused'].data as Float32Array)], [0, 0]);
});

test('cross-entropy loss equals the mean NLL computed from the logits, ignoring -100 labels', async () => {
  const cfg = tinyConfig('gpt2');
  const dec = buildDecoder(cfg, initDecoderWeights(cfg, { seed: 5, std: 0.5 }), { kvCache: false });
  const B = 2, T = 5, V = cfg.vocabSize;
  const ids = BigInt64Array.from({ length: B * T }, (_, i) => BigInt((i * 17 + 3) % V));
  const labels = nextTokenLabels(ids, B, T);
  labels[2] = -100n;
  const feeds = { input_ids: new ort.Tensor('int64', ids, [B, T]) };
  const s = await createSession(dec);
  const logits = (await s.run(feeds)).logits.data as Float32Array;
  await s.release();
  let nll = 0, n = 0;
  for (let p = 0; p < B * T; p++) {
    const l = Number(labels[p]);
    if (l === -100) continue;
    const row = logits.subarray(p * V, (p + 1) * V);
    const mx = Math.max(...row);
    const lse = mx + Math.log(row.reduce((a, x) => a + Math.exp(x - mx), 0));
    nll += lse - row[l];
    n++;
  }
  assert.equal(n, B * (T - 1) - 1);
  const lm = addCrossEntropyLoss(dec, { ignoreIndex: -100 });
  assert.deepEqual(lm.graph.outputs.map((o) => o.name), ['loss']);
  const s2 = await createSession(lm);
  const got = Number((await s2.run({ ...feeds, labels: new ort.Tensor('int64', labels, [B, T]) })).loss.data[0]);
  await s2.release();
  assert.ok(Math.abs(got - nll / n) < 1e-5, `${got} vs ${nll / n}`);

  // Without ignoreIndex the mean runs over every position.
  const all = BigInt64Array.from(labels, (l) => (l < 0n ? 0n : l));
  const s3 = await createSession(addCrossEntropyLoss(dec));
  const full = Number((await s3.run({ ...feeds, labels: new ort.Tensor('int64', all, [B, T]) })).loss.data[0]);
  await s3.release();
  assert.ok(full > 0 && Math.abs(full - got) > 1e-4);
});

test('decoder gradient graphs need no run-time broadcast reductions (symbolic shapes prove them)', () => {
  for (const arch of ['gpt2', 'llama'] as const) {
    const cfg = tinyConfig(arch);
    const dec = buildDecoder(cfg, initDecoderWeights(cfg), { kvCache: false });
    const names = dec.graph.initializers().filter((v) => v.constant!.dtype === 'float32' && v.constant!.dims.length >= 1 && v.name !== 'rotary.inv_freq').map((v) => v.name);
    const gm = buildGradientGraph(addCrossEntropyLoss(dec, { ignoreIndex: -100 }), { loss: 'loss', wrt: names });
    const ops = gm.graph.nodes.map((n) => n.opType);
    assert.equal(ops.filter((o) => o === 'NonZero').length, 0, `${arch}: a broadcast reduction was left to run time`);
    assert.ok(gm.graph.nodes.length < 6 * dec.graph.nodes.length, `${arch}: ${gm.graph.nodes.length} nodes for ${dec.graph.nodes.length} forward`);
  }
});

test('stopGradient: a value is treated as a constant (per-channel scale from ReduceMax of the weight)', async () => {
  // y = Σ r · (w / max|w|) with the max held constant: dL/dw = r / max|w|.
  const g = new Graph('sg');
  const b = new Builder(g);
  const w = b.weight('w', Tensor.f32([2, 3], [0.5, -2, 1, 4, -1, 0.25]));
  const m = b.op('ReduceMax', [b.op('Abs', [w]), b.constI64([0])], { keepdims: 1 }, { output: 'wmax' });
  const r = [1, 2, 3, -1, 0.5, 2];
  const y = b.op('ReduceSum', [b.op('Mul', [b.op('Div', [w, m]), b.weight('r', Tensor.f32([2, 3], r))])], { keepdims: 0 }, { output: 'loss' });
  y.type = { dtype: 'float32', shape: [] };
  g.markOutput(y);
  assert.throws(() => buildGradientGraph(new Model(g), { loss: 'loss', wrt: ['w'] }), /no gradient rule for op ReduceMax/);
  const gm = buildGradientGraph(new Model(g), { loss: 'loss', wrt: ['w'], stopGradient: ['wmax'] });
  const s = await createSession(gm);
  const got = (await s.run({}))['grad.w'].data as Float32Array;
  await s.release();
  const max = [4, 2, 1];
  r.forEach((ri, i) => assert.ok(Math.abs(got[i] - ri / max[i % 3]) < 1e-6, `${i}: ${got[i]}`));
  assert.throws(() => buildGradientGraph(new Model(g), { loss: 'loss', wrt: ['w'], stopGradient: ['w'] }), /both differentiated and in stopGradient/);
});
