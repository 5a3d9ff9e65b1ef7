import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Model } from '../ir/graph.js';
import { loadModel } from '../load/index.js';
import type { MethodConfig } from '../passes/pass.js';
import { methodByKind } from '../passes/registry.js';
import { fixtureDir, maxAbsDiff } from '../testing/fixtures.js';
import { tinyGpt2 } from '../testing/random-decoder.js';
import { DecoderRunner } from './decoder.js';
import { greedyGenerate, leftPad } from './generate.js';
import { inPlaceCacheForm } from './kv-cache.js';

// The in-place cache (one buffer per layer, fed whole with its unused slots masked) must give the
// logits of the exported concat form, step for step: past sliding windows (mistral: 5, gemma3:
// sliding + full layers with two RoPE bases), across longrope's switch to the long factors (phi3,
// original_max 16), with grouped-query heads, and while its buffers grow.
const FIXTURES = ['mistral-window', 'gemma3-text', 'phi3-longrope', 'llama-gqa-untied', 'gpt2-prefix'];

/** Logits of a prefill of `first` tokens then one step per token, with the given cache path and starting capacity. */
async function stepLogits(model: Model, ids: number[], first: number, cache: 'in-place' | 'concat', capacity: number): Promise<{ logits: Float32Array[]; path: string; feedsShared: boolean }> {
  const r = await DecoderRunner.create(model, { threads: 1, cache });
  try {
    const c = r.newCache(capacity);
    const logits: Float32Array[] = [];
    const buffers = new Set<unknown>();
    let steps = 0;
    for (let t = 0; t < ids.length;) {
      const n = t === 0 ? first : 1;
      const out = await r.step(BigInt64Array.from(ids.slice(t, t + n), BigInt), 1, c);
      const l = out.logits.data as Float32Array;
      const V = out.logits.dims[2];
      for (let i = 0; i < n; i++) logits.push(l.slice(i * V, (i + 1) * V));
      t += n;
      // What the next step would feed as layer 0's past key: the same memory every step unless the buffer grew.
      if (t < ids.length) { buffers.add(c.feeds(1, 1)['past_key_values.0.key'].data); steps++; }
    }
    return { logits, path: r.cachePath!, feedsShared: buffers.size < steps };
  } finally { await r.release(); }
}

const maxRowDiff = (a: Float32Array[], b: Float32Array[]) => Math.max(...a.map((x, i) => maxAbsDiff(x, b[i])));

for (const name of FIXTURES) {
  test(`in-place KV cache gives the concat form's logits at every step, growing from capacity 2 (${name})`, async () => {
    const model = loadModel(fixtureDir(name)).graph({ kvCache: true });
    const ids = Array.from({ length: 24 }, (_, i) => (i * 37 + 11) % 60 + 3);
    const want = await stepLogits(model, ids, 3, 'concat', 0);
    const got = await stepLogits(model, ids, 3, 'in-place', 2);
    assert.equal(want.path, 'concat');
    assert.equal(got.path, 'in-place');
    const d = maxRowDiff(got.logits, want.logits);
    assert.ok(d < 2e-5, `${name}: max |in-place − concat| = ${d}`);
    // Sized for the whole run, the buffer is fed as it is: never copied, never reallocated.
    const sized = await stepLogits(model, ids, 3, 'in-place', ids.length);
    assert.ok(maxRowDiff(sized.logits, want.logits) < 2e-5);
    assert.ok(sized.feedsShared, 'a cache sized for the run feeds the same buffer every step');
  });
}

test('in-place KV cache on quantized and FP16 graphs equals their concat form', async () => {
  const fp32 = tinyGpt2({ kvCache: true, seed: 5 });
  const ids = Array.from({ length: 16 }, (_, i) => (i * 13 + 5) % 90 + 1);
  for (const kind of ['dynamic-int8', 'int4-weight', 'fp16']) {
    const m = methodByKind(kind)!;
    const { model } = await m.run(fp32, { ...m.defaults, blockFallback: true, minHalfElements: 0 } as MethodConfig, { explain: () => {} });
    assert.ok(inPlaceCacheForm(model), `${kind}: the quantized graph keeps the in-place form`);
    const want = await stepLogits(model, ids, 4, 'concat', 0);
    const got = await stepLogits(model, ids, 4, 'in-place', 4);
    const d = maxRowDiff(got.logits, want.logits);
    assert.ok(d < (kind === 'dynamic-int8' ? 1e-3 : 2e-5), `${kind}: max |in-place − concat| = ${d}`);
  }
});

test('a left-padded batch generates the same tokens and logits with either cache, and the same tokens without logits', async () => {
  const model = loadModel(fixtureDir('llama-gqa-untied')).graph({ kvCache: true });
  const { ids, attentionMask } = leftPad([[5, 9, 14, 3, 22, 7], [31, 4]], 0);
  const run = async (cache: 'in-place' | 'concat', keepLogits = true) => {
    const r = await DecoderRunner.create(model, { threads: 1, cache });
    try { return await greedyGenerate(r, ids, { maxNewTokens: 12, attentionMask, keepLogits }); } finally { await r.release(); }
  };
  const a = await run('concat'), b = await run('in-place');
  assert.deepEqual(b.tokens, a.tokens);
  // Greedy tokens from onnxruntime's ArgMax (no logits copied out) are the ones picked from the logits.
  const c = await run('in-place', false);
  assert.deepEqual(c.tokens, a.tokens);
  assert.deepEqual(c.logits, [[], []]);
  for (let row = 0; row < 2; row++) assert.ok(maxRowDiff(b.logits[row], a.logits[row]) < 2e-5);
});

test('graphs that read the concatenated cache run with the concat cache only', async () => {
  const model = tinyGpt2({ kvCache: true });
  assert.ok(inPlaceCacheForm(model));
  // An export quantlab did not build (no attention-form marker) …
  const foreign = tinyGpt2({ kvCache: true });
  delete foreign.metadata['quantlab.attention'];
  assert.equal(inPlaceCacheForm(foreign), null);
  // … or one whose present is read by another node.
  const read = tinyGpt2({ kvCache: true });
  const g = read.graph;
  const present = g.outputs.find((o) => o.name === 'present.0.key')!;
  g.addNode('Identity', [present], ['extra_read']);
  assert.equal(inPlaceCacheForm(read), null);
  const r = await DecoderRunner.create(foreign, { threads: 1 });
  assert.equal(r.cachePath, 'concat');
  await r.release();
  await assert.rejects(DecoderRunner.create(foreign, { threads: 1, cache: 'in-place' }), /concat cache/);
});

test("a released cache's memory serves the next cache, whose logits equal a fresh runner's exactly", async () => {
  const model = tinyGpt2({ kvCache: true, seed: 9 });
  const first = BigInt64Array.from([4n, 8n, 15n, 16n, 23n, 42n, 7n, 9n]);
  const second = BigInt64Array.from([3n, 1n, 4n]);
  const steps = async (r: DecoderRunner, c: ReturnType<DecoderRunner['newCache']>) => {
    const out: Float32Array[] = [(await r.step(second, 1, c)).logits.data as Float32Array];
    for (const t of [5n, 9n]) out.push((await r.step(BigInt64Array.from([t]), 1, c)).logits.data as Float32Array);
    return out;
  };
  const fresh = await DecoderRunner.create(model, { threads: 1 });
  const reused = await DecoderRunner.create(model, { threads: 1 });
  try {
    const want = await steps(fresh, fresh.newCache(8));
    // Fill a larger cache with other tokens, release it: the next (smaller) cache gets its buffers, stale rows included.
    const a = reused.newCache(12);
    await reused.step(first, 1, a);
    const memory = a.feeds(1, 1)['past_key_values.0.key'].data as Float32Array;
    a.release();
    const b = reused.newCache(8);
    const got = await steps(reused, b);
    assert.equal((b.feeds(1, 1)['past_key_values.0.key'].data as Float32Array).buffer, memory.buffer, 'the second cache writes into the first one\'s memory');
    // Stale rows sit in masked slots: probability exactly 0, so not a bit changes.
    for (let i = 0; i < want.length; i++) assert.deepEqual(got[i], want[i]);
  } finally { await fresh.release(); await reused.release(); }
});
