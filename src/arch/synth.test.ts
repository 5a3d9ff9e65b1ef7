import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { main } from '../cli/main.js';
import { modelSize } from '../eval/size.js';
import { readSafetensors } from '../hf/safetensors.js';
import { halfArrayToF32 } from '../util/half.js';
import { loadModel } from '../load/index.js';
import { DecoderRunner } from '../runtime/decoder.js';
import { UsageError } from '../util/errors.js';
import { Normal, parameterTable, SYNTH_PRESETS, synthesize, synthPreset } from './synth.js';

const dirs: string[] = [];
const tmp = () => { const d = fs.mkdtempSync(path.join(os.tmpdir(), 'ql-synth-')); dirs.push(d); return d; };
after(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });
const table = (arch: string, name: string) => parameterTable(synthPreset(arch, name));

test('synth: preset parameter counts equal the real checkpoints (no weights written)', () => {
  const gpt2 = table('gpt2', 'gpt2');
  assert.equal(gpt2.paramCount, 124_439_808);
  assert.equal(gpt2.fp32Bytes, 497_759_232);
  const expected: Record<string, number> = {
    'gpt2-medium': 354_823_168, 'gpt2-large': 774_030_080, 'gpt2-xl': 1_557_611_200, 'gpt2-tiny': 3_332_928,
    'tinyllama-1.1b': 1_100_048_384, 'smollm-135m': 134_515_008, 'llama-160m': 162_417_408, 'llama-tiny': 158_016,
    // The families people deploy (issue #11's counts, from the published checkpoints).
    'smollm2-135m': 134_515_008, 'qwen2.5-0.5b': 494_032_768, 'qwen3-0.6b': 596_049_920, 'gemma3-1b': 999_885_952,
    'llama3.2-1b': 1_235_814_400, 'phi3.5-mini': 3_821_079_552, 'mistral-7b': 7_241_732_096, 'llama3.1-8b': 8_030_261_248,
  };
  for (const [name, n] of Object.entries(expected)) assert.equal(table(SYNTH_PRESETS[name].arch, name).paramCount, n, name);
  // Tied presets store no lm_head; untied ones do.
  assert.ok(!table('llama', 'smollm-135m').tensors.some((t) => t.name === 'lm_head.weight'));
  assert.ok(table('llama', 'tinyllama-1.1b').tensors.some((t) => t.name === 'lm_head.weight'));
  assert.throws(() => synthPreset('llama', 'gpt2'), UsageError);
  assert.throws(() => synthPreset('bert', 'gpt2'), UsageError);
  // The preset implies its model_type; every tiny preset loads through its family.
  for (const name of ['llama3-tiny', 'qwen2-tiny', 'qwen3-tiny', 'mistral-tiny', 'phi3-tiny', 'gemma3-tiny']) assert.ok(table(undefined as never, name).paramCount > 0, name);
  assert.equal(synthPreset(undefined, 'gemma3-1b').arch, 'gemma3_text');
});

test('synth: normal deviates have mean 0, variance 1, normal tails and kurtosis', () => {
  const a = new Float32Array(1 << 21);
  new Normal(7).fill(a, 1);
  let s = 0, s2 = 0, s4 = 0, gt1 = 0, gt3 = 0;
  for (const x of a) { s += x; s2 += x * x; s4 += x ** 4; if (Math.abs(x) > 1) gt1++; if (Math.abs(x) > 3) gt3++; }
  const n = a.length, se = 1 / Math.sqrt(n);
  assert.ok(Math.abs(s / n) < 4 * se, `mean ${s / n}`);
  assert.ok(Math.abs(s2 / n - 1) < 4 * Math.SQRT2 * se, `variance ${s2 / n}`);
  assert.ok(Math.abs(s4 / n / (s2 / n) ** 2 - 3) < 0.05, 'kurtosis');
  assert.ok(Math.abs(gt1 / n - 0.317311) < 0.002, `P(|x|>1) ${gt1 / n}`);
  assert.ok(Math.abs(gt3 / n - 0.0026998) < 0.0002, `P(|x|>3) ${gt3 / n}`);
});

test('synth: gpt2-tiny folder is byte-exact, HF-initialised, loads with a tokenizer and runs', async () => {
  const dir = path.join(tmp(), 'g');
  const r = synthesize({ arch: 'gpt2', preset: 'gpt2-tiny', out: dir, seed: 3 });
  const t = table('gpt2', 'gpt2-tiny');
  const st = path.join(dir, 'model.safetensors');
  const hlen = Number(fs.readFileSync(st).readBigUInt64LE(0));
  assert.equal(fs.statSync(st).size, 8 + hlen + 3_332_928 * 4);
  assert.equal(r.safetensorsBytes, fs.statSync(st).size);
  const tensors = readSafetensors(st).tensors;
  assert.deepEqual([...tensors.keys()].sort(), t.tensors.map((x) => x.name).sort());
  const std = (name: string) => { const d = tensors.get(name)!.data as Float32Array; let q = 0; for (const x of d) q += x * x; return Math.sqrt(q / d.length); };
  assert.ok(Math.abs(std('transformer.wte.weight') / 0.02 - 1) < 0.01);
  assert.ok(Math.abs(std('transformer.h.1.mlp.c_proj.weight') / (0.02 / 2) - 1) < 0.02); // 0.02/sqrt(2·n_layer)
  assert.ok((tensors.get('transformer.h.0.ln_1.weight')!.data as Float32Array).every((x) => x === 1));
  assert.ok((tensors.get('transformer.h.0.attn.c_attn.bias')!.data as Float32Array).every((x) => x === 0));

  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  assert.equal(cfg.quantlab_synthetic, true);
  assert.match(cfg._comment, /RANDOM WEIGHTS/);
  assert.match(fs.readFileSync(path.join(dir, 'README.md'), 'utf8'), /^# RANDOM WEIGHTS — no meaningful perplexity/);

  const m = loadModel(dir);
  assert.deepEqual(Array.from(m.tokenizer!.encode('Hello world')), [15496, 995]);
  const graph = m.graph({ kvCache: true });
  const s = modelSize(graph, m.files);
  assert.equal(s.param_count, t.paramCount);
  assert.equal(s.param_bytes, t.fp32Bytes);
  assert.equal(s.by_group.embeddings.count, 50257 * 64 + 256 * 64);
  const runner = await DecoderRunner.create(graph, { threads: 1 });
  const out = await runner.run(BigInt64Array.from([15496n, 995n, 13n]), 1);
  const logits = out.logits;
  assert.deepEqual(logits.dims, [1, 3, 50257]);
  const v = logits.data as Float32Array;
  assert.ok(v.every(Number.isFinite));
  // Random weights of std 0.02: logits are small but not all equal.
  assert.ok(Math.max(...v.subarray(0, 1000)) > Math.min(...v.subarray(0, 1000)));
  await runner.release();
});

test('synth: llama-tiny in bf16 (GQA, untied) loads, is grouped exactly and runs; seeds reproduce', async () => {
  const root = tmp();
  const dir = path.join(root, 'l');
  synthesize({ arch: 'llama', preset: 'llama-tiny', out: dir, seed: 1, dtype: 'bf16' });
  const st = path.join(dir, 'model.safetensors');
  const hlen = Number(fs.readFileSync(st).readBigUInt64LE(0));
  assert.equal(fs.statSync(st).size, 8 + hlen + 158_016 * 2);
  assert.equal(fs.existsSync(path.join(dir, 'tokenizer.json')), false);
  const q = readSafetensors(st).tensors.get('model.layers.0.self_attn.k_proj.weight')!;
  assert.equal(q.dtype, 'bfloat16');
  assert.deepEqual(q.dims, [32, 64]);
  const f = halfArrayToF32(q.data as Uint16Array, true);
  assert.ok(f.some((x) => x !== 0) && f.every((x) => Math.abs(x) < 0.2));

  const m = loadModel(dir);
  const s = modelSize(m.graph({ kvCache: true }));
  const E = 64, I = 176, V = 512;
  assert.equal(s.param_count, 158_016);
  assert.deepEqual(s.by_group.embeddings, { count: V * E, bytes: V * E * 4 });
  assert.deepEqual(s.by_group.lm_head, { count: V * E, bytes: V * E * 4 });
  assert.equal(s.by_group.attention.count, 2 * (E * E * 2 + E * 32 * 2));
  assert.equal(s.by_group.mlp.count, 2 * 3 * E * I);
  assert.equal(s.by_group.norms.count, 5 * E);
  const runner = await DecoderRunner.create(m.graph({ kvCache: false }), { threads: 1 });
  const out = await runner.run(BigInt64Array.from([1n, 100n, 200n, 300n]), 1);
  assert.deepEqual(out.logits.dims, [1, 4, V]);
  assert.ok((out.logits.data as Float32Array).every(Number.isFinite));
  await runner.release();

  // Same seed → same bytes; another seed → other bytes; no silent overwrite.
  const again = path.join(root, 'l2'), other = path.join(root, 'l3');
  synthesize({ arch: 'llama', preset: 'llama-tiny', out: again, seed: 1, dtype: 'bf16' });
  synthesize({ arch: 'llama', preset: 'llama-tiny', out: other, seed: 2, dtype: 'bf16' });
  assert.ok(fs.readFileSync(st).equals(fs.readFileSync(path.join(again, 'model.safetensors'))));
  assert.ok(!fs.readFileSync(st).equals(fs.readFileSync(path.join(other, 'model.safetensors'))));
  assert.throws(() => synthesize({ arch: 'llama', preset: 'llama-tiny', out: dir }), UsageError);
  synthesize({ arch: 'llama', preset: 'llama-tiny', out: dir, seed: 2, dtype: 'bf16', force: true });
  assert.ok(fs.readFileSync(st).equals(fs.readFileSync(path.join(other, 'model.safetensors'))));
});

test('synth: sharded output (index + shards) holds the same tensors as one file and loads', () => {
  const root = tmp();
  const one = path.join(root, 'one'), many = path.join(root, 'many');
  synthesize({ arch: 'llama', preset: 'llama-tiny', out: one, seed: 5 });
  const r = synthesize({ arch: 'llama', preset: 'llama-tiny', out: many, seed: 5, maxShardBytes: 200_000 });
  assert.equal(r.shards, 4);
  const index = JSON.parse(fs.readFileSync(path.join(many, 'model.safetensors.index.json'), 'utf8'));
  assert.equal(index.metadata.total_size, 158_016 * 4);
  assert.equal(fs.existsSync(path.join(many, 'model.safetensors')), false);
  const a = readSafetensors(path.join(one, 'model.safetensors')).tensors;
  const shards = [...new Set(Object.values(index.weight_map) as string[])].sort();
  assert.deepEqual(shards, ['model-00001-of-00004.safetensors', 'model-00002-of-00004.safetensors', 'model-00003-of-00004.safetensors', 'model-00004-of-00004.safetensors']);
  let n = 0;
  for (const f of shards) {
    for (const [name, t] of readSafetensors(path.join(many, f)).tensors) {
      assert.equal(index.weight_map[name], f);
      assert.ok(Buffer.from(t.bytes()).equals(Buffer.from(a.get(name)!.bytes())), name);
      n++;
    }
  }
  assert.equal(n, a.size);
  const m = loadModel(many);
  assert.equal(m.files.length, 4);
  assert.equal(modelSize(m.graph({ kvCache: false })).param_count, 158_016);
  // --force back to a single file removes the shards (they would otherwise be stale).
  synthesize({ arch: 'llama', preset: 'llama-tiny', out: many, seed: 5, force: true });
  assert.deepEqual(fs.readdirSync(many).filter((f) => f.startsWith('model')), ['model.safetensors']);
});

test('synth CLI prints the parameter count and bytes; bad options exit 2', async () => {
  const dir = path.join(tmp(), 'c');
  const lines: string[] = [];
  const log = console.log, err = console.error;
  console.log = (x: string) => lines.push(x);
  console.error = (x: string) => lines.push(x);
  try {
    assert.equal(await main(['synth', '--arch', 'llama', '--preset', 'llama-tiny', '--out', dir, '--dtype', 'f16']), 0);
    assert.equal(await main(['synth', '--arch', 'llama', '--preset', 'gpt2', '--out', dir]), 2);
    assert.equal(await main(['synth', '--arch', 'gpt2', '--preset', 'gpt2-tiny', '--out', dir, '--dtype', 'f8']), 2);
    assert.equal(await main(['synth', '--arch', 'gpt2', '--preset', 'gpt2-tiny', '--out', dir, '--max-shard-size', '2XB']), 2);
  } finally { console.log = log; console.error = err; }
  assert.ok(lines.includes('parameters  158,016'), lines.join('\n'));
  assert.ok(lines.includes('FP32 bytes  632,064'));
  assert.ok(lines.includes('F16 bytes   316,032'));
  assert.match(lines.join('\n'), /unknown llama preset 'gpt2'/);
});

test('synth --dry-run prints the config and parameter count, writes the JSON summary and no weights', async () => {
  const dir = tmp();
  const json = path.join(dir, 'qwen.json');
  const lines: string[] = [];
  const log = console.log;
  console.log = (x: string) => lines.push(x);
  try {
    assert.equal(await main(['synth', '--preset', 'qwen2.5-0.5b', '--dry-run', '--json', json]), 0);
  } finally { console.log = log; }
  assert.ok(lines.includes('parameters  494,032,768'), lines.join('\n'));
  assert.match(lines[0], /"model_type": "qwen2"/);
  const j = JSON.parse(fs.readFileSync(json, 'utf8'));
  assert.equal(j.param_count, 494_032_768);
  assert.equal(j.model_type, 'qwen2');
  assert.equal(j.config.num_key_value_heads, 2);
  assert.deepEqual(fs.readdirSync(dir), ['qwen.json']);
});
