import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { loadModel } from '../../load/index.js';
import { DecoderRunner } from '../../runtime/decoder.js';
import { fixtureDir, maxAbsDiff, readReference } from '../../testing/fixtures.js';
import type { RopeConfig } from '../config.js';
import { ropeTables } from '../rope.js';

// Tiny checkpoints of each family with PyTorch references written from the transformers modeling
// code (scripts/fixtures/make_family_models.py); prompts are longer than every sliding window.
const CASES: [string, string][] = [
  ['llama3-rope', 'llama, rope_scaling llama3 (all three frequency bands), tied'],
  ['llama-linear', 'llama, rope_scaling linear (legacy "type" key), batch 2'],
  ['qwen2-bias', 'qwen2: q/k/v biases; sliding_window present but use_sliding_window false'],
  ['qwen3-qknorm', 'qwen3: per-head q/k RMSNorm, head_dim 16 with hidden 32'],
  ['mistral-window', 'mistral: sliding window 5 < 12-token prompt, batch 2'],
  ['phi3-longrope', 'phi3: fused qkv/gate_up, longrope long factors (12 > 8 tokens)'],
  ['phi3-longrope-short', 'phi3: longrope short factors (6 ≤ 8 tokens)'],
  ['phi3-partial', 'phi3: partial_rotary_factor 0.5'],
  ['gemma3-text', 'gemma3_text: (1+w) norms, √E embeddings, q/k norms, sandwich norms, local/global layers, soft-cap'],
];

interface RopeRef { layer_type: 'full' | 'sliding' | 'all'; seq_len: number; inv_freq: number[]; attention_scaling: number }

for (const [name, what] of CASES) {
  test(`${name} (${what}): logits match PyTorch, KV-cache decode equals the full sequence, RoPE tables match`, async () => {
    const ref = readReference(name);
    const model = loadModel(fixtureDir(name));
    const [B, T, V] = ref.logitsShape;
    const ids = (rows: number[][]) => BigInt64Array.from(rows.flat(), BigInt);
    const full = await DecoderRunner.create(model.graph({ kvCache: false }), { threads: 1 });
    const logits = (await full.run(ids(ref.inputIds), B)).logits;
    await full.release();
    assert.deepEqual([...logits.dims], [B, T, V]);
    const d = maxAbsDiff(logits.data as Float32Array, ref.logits);
    console.log(`  ${name}: max |logits - reference| = ${d.toExponential(3)}`);
    assert.ok(d < 1e-4, `${name}: ${d}`);

    // Prefill, then one token at a time. longrope picks its factors from the total length, as
    // transformers does, so the prefill already crosses original_max_position_embeddings there.
    const scaling = model.config!.rope?.scaling;
    const first = scaling?.type === 'longrope' && T > scaling.originalMax ? scaling.originalMax + 1 : Math.ceil(T / 2);
    const kv = await DecoderRunner.create(model.graph({ kvCache: true }), { threads: 1 });
    const cache = kv.newCache();
    const got = new Float32Array(B * T * V);
    for (let t = 0; t < T;) {
      const n = t === 0 ? first : 1;
      const out = await kv.step(ids(ref.inputIds.map((r) => r.slice(t, t + n))), B, cache);
      const l = out.logits.data as Float32Array;
      for (let b = 0; b < B; b++) got.set(l.subarray(b * n * V, (b + 1) * n * V), (b * T + t) * V);
      t += n;
    }
    await kv.release();
    const dk = maxAbsDiff(got, ref.logits);
    assert.ok(dk < 1e-4, `${name}: kv-cache vs reference ${dk}`);

    const ropes = (JSON.parse(fs.readFileSync(path.join(fixtureDir(name), 'reference.json'), 'utf8')) as { rope?: RopeRef[] }).rope ?? [];
    for (const r of ropes) {
      const cfg = model.config!;
      const rope: RopeConfig = r.layer_type === 'sliding' && cfg.localRope ? cfg.localRope : cfg.rope!;
      const t = ropeTables(rope, r.seq_len);
      assert.equal(t.invFreq.length, r.inv_freq.length, `${name} ${r.layer_type}: rotary dim`);
      const rel = Math.max(...r.inv_freq.map((f, i) => Math.abs(t.invFreq[i] - f) / f));
      assert.ok(rel < 2e-6, `${name} ${r.layer_type}: inv_freq relative error ${rel}`);
      assert.ok(Math.abs(t.attentionScaling - r.attention_scaling) < 1e-6, `${name}: attention scaling ${t.attentionScaling} vs ${r.attention_scaling}`);
    }
  });
}
