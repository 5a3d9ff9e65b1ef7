import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readSafetensors } from '../../hf/safetensors.js';
import { fixtureDir } from '../../testing/fixtures.js';
import { fixtureLogitsDiff } from '../../testing/fixture-logits.js';
import path from 'node:path';

// Tiny random GPT-2 checkpoints with PyTorch reference logits (scripts/fixtures/make_tiny_models.py).
const CASES: [string, string][] = [
  ['gpt2-prefix', 'transformer.* names, batch 2'],
  ['gpt2-noprefix', 'names without the transformer. prefix'],
  ['gpt2-f16', 'F16 safetensors, lm_head.weight saved as a copy of wte'],
  ['gpt2-bf16', 'BF16 safetensors'],
];

for (const [name, what] of CASES) {
  test(`gpt2 full-sequence logits match PyTorch: ${name} (${what})`, async () => {
    const { maxAbs, dims, want } = await fixtureLogitsDiff(name);
    assert.deepEqual([...dims], want);
    console.log(`  ${name}: max |logits - reference| = ${maxAbs.toExponential(3)}`);
    assert.ok(maxAbs < 1e-4, `${name}: max abs diff ${maxAbs}`);
  });
}

test('gpt2 fixtures store the dtypes and name layouts they claim', () => {
  const dtypeOf = (name: string, t: string) => readSafetensors(path.join(fixtureDir(name), 'model.safetensors')).tensors.get(t)?.dtype;
  assert.equal(dtypeOf('gpt2-f16', 'transformer.wte.weight'), 'float16');
  assert.equal(dtypeOf('gpt2-f16', 'lm_head.weight'), 'float16');
  assert.equal(dtypeOf('gpt2-bf16', 'transformer.h.1.mlp.c_fc.weight'), 'bfloat16');
  assert.equal(dtypeOf('gpt2-noprefix', 'wte.weight'), 'float32');
  assert.equal(dtypeOf('gpt2-noprefix', 'transformer.wte.weight'), undefined);
  assert.equal(dtypeOf('gpt2-prefix', 'transformer.h.0.attn.c_attn.weight'), 'float32');
});
