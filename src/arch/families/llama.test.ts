import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadModel } from '../../load/index.js';
import { fixtureDir } from '../../testing/fixtures.js';
import { fixtureLogitsDiff } from '../../testing/fixture-logits.js';

// Tiny random Llama checkpoints with PyTorch reference logits (scripts/fixtures/make_tiny_models.py).
const CASES: [string, string][] = [
  ['llama-gqa-untied', 'grouped-query attention (4 heads, 2 KV heads), untied head, batch 2'],
  ['llama-gqa-tied', 'grouped-query attention, head tied to the embedding'],
  ['llama-mha', 'multi-head attention (KV heads = heads)'],
  ['llama-rope500k', 'rope_theta 500000, head_dim 16'],
];

for (const [name, what] of CASES) {
  test(`llama full-sequence logits match PyTorch: ${name} (${what})`, async () => {
    const { maxAbs, dims, want } = await fixtureLogitsDiff(name);
    assert.deepEqual([...dims], want);
    console.log(`  ${name}: max |logits - reference| = ${maxAbs.toExponential(3)}`);
    assert.ok(maxAbs < 1e-4, `${name}: max abs diff ${maxAbs}`);
  });
}

test('llama config maps GQA, tie and rope_theta from config.json', () => {
  const gqa = loadModel(fixtureDir('llama-gqa-untied')).config!;
  assert.equal(gqa.arch, 'llama');
  assert.deepEqual([gqa.numHeads, gqa.numKvHeads, gqa.headDim, gqa.tieWordEmbeddings], [4, 2, 8, false]);
  const tied = loadModel(fixtureDir('llama-gqa-tied')).config!;
  assert.equal(tied.tieWordEmbeddings, true);
  const r = loadModel(fixtureDir('llama-rope500k')).config!;
  assert.deepEqual([r.rope?.theta, r.headDim, r.normEps], [500000, 16, 1e-6]);
});
