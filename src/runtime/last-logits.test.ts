import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Model } from '../ir/graph.js';
import { loadModel } from '../load/index.js';
import { dynamicInt8 } from '../passes/dynamic-int8.js';
import { methodByKind } from '../passes/registry.js';
import type { MethodConfig, PassResult } from '../passes/pass.js';
import { fixtureDir, idsTensor, maxAbsDiff, readReference, relL2, runLogits } from '../testing/fixtures.js';
import { lastPositionLogits } from './last-logits.js';

const quantized = async (m: Model, kind: string): Promise<Model> => {
  const method = methodByKind(kind)!;
  return ((await method.run(m, { ...method.defaults } as MethodConfig, { explain: () => {} })) as PassResult).model;
};

/** The last row of [B, T, V] logits for each batch row. */
function lastRows(all: Float32Array, B: number, T: number, V: number): Float32Array {
  const out = new Float32Array(B * V);
  for (let b = 0; b < B; b++) out.set(all.subarray((b * T + T - 1) * V, (b * T + T) * V), b * V);
  return out;
}

for (const name of ['gpt2-prefix', 'llama-gqa-untied']) {
  test(`last-position logits equal the last row of the full logits (${name}: fp32, int4-weight, dynamic-int8)`, async () => {
    const ref = readReference(name);
    const [B, T, V] = ref.logitsShape;
    const ids = idsTensor(ref.inputIds);
    const fp32 = loadModel(fixtureDir(name)).graph({ kvCache: true });
    for (const [kind, model] of [['fp32', fp32], ['int4-weight', await quantized(fp32, 'int4-weight')], ['dynamic-int8', await quantized(fp32, dynamicInt8.kind)]] as const) {
      const cut = lastPositionLogits(model);
      assert.ok(cut, `${kind}: final norm not found`);
      const got = await runLogits(cut, ids, B);
      assert.equal(got.length, B * V, `${kind}: one row of logits per sequence`);
      const want = lastRows(await runLogits(model, ids, B), B, T, V);
      // Row-wise heads give the same numbers; dynamic-int8 quantizes the head input per tensor, so one row gets its own scale.
      if (kind === 'dynamic-int8') assert.ok(relL2(got, want) < 0.02, `${kind}: rel L2 ${relL2(got, want)}`);
      else assert.ok(maxAbsDiff(got, want) < 1e-5, `${kind}: max |Δ| ${maxAbsDiff(got, want)}`);
    }
  });
}

test('last-position logits: null for a graph without quantlab\'s final norm', () => {
  const m = loadModel(fixtureDir('gpt2-prefix')).graph({ kvCache: true });
  m.graph.nodes.find((n) => n.name === 'final_norm')!.name = 'ln_f';
  assert.equal(lastPositionLogits(m), null);
});
