import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadModel } from '../load/index.js';
import { fixtureDir, maxAbsDiff, sharedGpt2Dir } from '../testing/fixtures.js';
import { DecoderRunner } from './decoder.js';
import { argmax, fullSequenceLogits, greedyFullSequence, greedyGenerate, leftPad } from './generate.js';

const TOL = 1e-4;
const NEW_TOKENS = 20;

function maxDiffRows(a: Float32Array[], b: Float32Array[]): number {
  assert.equal(a.length, b.length, 'number of positions');
  return Math.max(...a.map((x, i) => maxAbsDiff(x, b[i])));
}

/** KV-cache decode vs the full-sequence graph, for one model folder. */
function parityCases(label: string, dir: () => string, makePrompts: () => [number[], number[]], padId: number): void {
  describe(`KV-cache parity: ${label}`, () => {
    let kv: DecoderRunner;
    let full: DecoderRunner;
    let prompts: [number[], number[]];
    before(async () => {
      const m = loadModel(dir());
      prompts = makePrompts();
      kv = await DecoderRunner.create(m.graph({ kvCache: true }));
      full = await DecoderRunner.create(m.graph({ kvCache: false }));
    });
    after(async () => { await kv?.release(); await full?.release(); });

    test('incremental logits equal full-sequence logits; greedy 20-token continuations identical', async () => {
      const prompt = prompts[0];
      const gen = await greedyGenerate(kv, [prompt], { maxNewTokens: NEW_TOKENS });
      assert.equal(gen.tokens[0].length, NEW_TOKENS);
      // One full-sequence pass over prompt + generated (but the last) gives the logits at every position.
      const ref = await fullSequenceLogits(full, [...prompt, ...gen.tokens[0].slice(0, -1)]);
      const d = maxDiffRows(gen.logits[0], ref);
      console.log(`  ${label}: max |kv-cache - full-sequence| logits over ${ref.length} positions = ${d.toExponential(3)}`);
      assert.ok(d < TOL, `max abs diff ${d}`);
      // The cache-free greedy loop (whole sequence rerun each step) picks the same tokens.
      const slow = await greedyFullSequence(full, prompt, { maxNewTokens: NEW_TOKENS });
      assert.deepEqual(slow.tokens[0], gen.tokens[0]);
      // And each generated token is the argmax of the full-sequence logits before it.
      const V = ref[0].length;
      gen.tokens[0].slice(1).forEach((t, i) => assert.equal(t, argmax(ref[prompt.length + i], 0, V)));
    });

    test('batch 2 with left padding and attention_mask matches each row decoded alone', async () => {
      const { ids, attentionMask } = leftPad(prompts, padId);
      assert.notEqual(prompts[0].length, prompts[1].length);
      const batch = await greedyGenerate(kv, ids, { maxNewTokens: NEW_TOKENS, attentionMask });
      let worst = 0;
      for (let b = 0; b < 2; b++) {
        const alone = await greedyGenerate(kv, [prompts[b]], { maxNewTokens: NEW_TOKENS });
        assert.deepEqual(batch.tokens[b], alone.tokens[0], `row ${b} tokens`);
        worst = Math.max(worst, maxDiffRows(batch.logits[b], alone.logits[0]));
      }
      console.log(`  ${label}: max |padded batch - single row| logits = ${worst.toExponential(3)}`);
      assert.ok(worst < TOL, `max abs diff ${worst}`);
    });
  });
}

parityCases('llama-gqa-untied', () => fixtureDir('llama-gqa-untied'), () => [[5, 17, 33, 2, 60, 71, 9], [40, 3, 88, 12]], 0);
parityCases('llama-rope500k', () => fixtureDir('llama-rope500k'), () => [[11, 22, 33, 44, 55], [90, 1, 2]], 0);
parityCases('gpt2-prefix', () => fixtureDir('gpt2-prefix'), () => [[3, 14, 15, 9, 26, 53, 58], [79, 32, 38]], 0);
parityCases('shared gpt2-brown-12m', sharedGpt2Dir, () => {
  const tok = loadModel(sharedGpt2Dir()).tokenizer!;
  const [a, b] = ['The jury further said in term-end presentments that the City', 'It is not clear whether'].map((t) => tok.encode(t));
  return [a, b];
}, 50256);
