import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Model } from '../ir/graph.js';
import { loadModel } from '../load/index.js';
import type { MethodConfig } from '../passes/pass.js';
import { methodByKind } from '../passes/registry.js';
import { fixtureDir, maxAbsDiff } from '../testing/fixtures.js';
import { gaussian, tinyGpt2 } from '../testing/random-decoder.js';
import { cacheInputs, inPlaceCacheForm } from './kv-cache.js';
import { withPrefillBranch } from './prefill-branch.js';
import { createSession, ort } from './session.js';

/** Every output of `model` for T new tokens after P cached positions (random past, all unmasked). */
async function outputs(model: Model, T: number, P: number): Promise<Record<string, Float32Array>> {
  const s = await createSession(model, { threads: 1 });
  try {
    const names = new Set(model.graph.inputs.map((v) => v.name));
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from({ length: T }, (_, i) => BigInt((i * 17 + 3) % 50)), [1, T]),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(P + T).fill(1n), [1, P + T]),
    };
    if (names.has('position_ids')) feeds.position_ids = new ort.Tensor('int64', BigInt64Array.from({ length: T }, (_, i) => BigInt(P + i)), [1, T]);
    for (const [i, c] of cacheInputs(model).entries()) {
      const data = gaussian(c.heads * P * c.headDim, 1, 100 + i);
      feeds[c.name] = c.dtype === 'float32' ? new ort.Tensor('float32', data, [1, c.heads, P, c.headDim]) : new ort.Tensor('float16', new Uint16Array(data.length), [1, c.heads, P, c.headDim]);
    }
    const out = await s.run(feeds);
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
  } finally { await s.release(); }
}

async function assertSameOutputs(name: string, form: Model): Promise<void> {
  const branched = withPrefillBranch(form);
  const layers = cacheInputs(form).length / 2;
  assert.equal(branched.graph.nodes.filter((n) => n.opType === 'If').length, layers, `${name}: one If per layer`);
  // Prefill (empty cache: the then-branch) and a step after 3 positions (the else-branch): the numbers of the plain graph, bit for bit.
  for (const [T, P] of [[5, 0], [1, 3], [2, 4]]) {
    const want = await outputs(form, T, P), got = await outputs(branched, T, P);
    assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort());
    for (const k of Object.keys(want)) assert.equal(maxAbsDiff(got[k], want[k]), 0, `${name} T=${T} P=${P}: ${k}`);
  }
}

for (const fixture of ['gpt2-prefix', 'llama-gqa-untied', 'mistral-window', 'gemma3-text', 'phi3-longrope']) {
  test(`prefill branch: attention over the new keys alone when the cache is empty, same outputs as the split-past graph (${fixture})`, async () => {
    await assertSameOutputs(fixture, inPlaceCacheForm(loadModel(fixtureDir(fixture)).graph({ kvCache: true }))!);
  });
}

test('prefill branch on quantized graphs: same outputs; half-compute attention is left as it is', async () => {
  const fp32 = tinyGpt2({ kvCache: true, seed: 5 });
  for (const kind of ['dynamic-int8', 'int4-weight', 'fp16']) {
    const m = methodByKind(kind)!;
    const { model } = await m.run(fp32, { ...m.defaults, blockFallback: true, minHalfElements: 0 } as MethodConfig, { explain: () => {} });
    await assertSameOutputs(kind, inPlaceCacheForm(model)!);
  }
  // In half compute onnxruntime rounds the branch a few ulps apart: an exported half file must run as elsewhere.
  const m = methodByKind('fp16')!;
  const half = (await m.run(fp32, { ...m.defaults, minHalfElements: 0, compute: 'half' } as MethodConfig, { explain: () => {} })).model;
  const form = inPlaceCacheForm(half)!;
  assert.equal(withPrefillBranch(form), form);
});

test('prefill branch leaves graphs not built by quantlab unchanged', () => {
  const foreign = tinyGpt2({ kvCache: true });
  delete foreign.metadata['quantlab.attention'];
  assert.equal(withPrefillBranch(foreign), foreign);
});
