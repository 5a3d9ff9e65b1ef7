import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { readSafetensors, writeSafetensors } from '../hf/safetensors.js';
import { Tensor } from '../ir/tensor.js';
import { loadModel } from '../load/index.js';
import { fixtureDir } from '../testing/fixtures.js';
import { InputError } from '../util/errors.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-bad-input-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A copy of a fixture folder in the temp dir, to damage. */
function copyFixture(name: string, as: string): string {
  const dir = path.join(tmp, as);
  fs.cpSync(fixtureDir(name), dir, { recursive: true });
  return dir;
}

/** Loading and building the graph must throw an InputError whose message names `file` and matches `problem`. */
function assertInputError(dir: string, file: string, problem: RegExp): void {
  assert.throws(() => loadModel(dir).graph({ kvCache: false }), (e: unknown) => {
    assert.ok(e instanceof InputError, `expected InputError, got ${e}`);
    assert.equal(e.file, file);
    assert.ok(e.message.startsWith(`${file}: `), e.message);
    assert.match(e.message, problem);
    return true;
  });
}

test('truncated safetensors file: cut inside the data, inside the header, before the header', () => {
  const cuts: [string, (n: number, hlen: number) => number, RegExp][] = [
    ['data', (n) => n - 100, /truncated safetensors file: tensor '[^']+' ends at byte \d+, file has \d+/],
    ['header', (_n, hlen) => 8 + Math.floor(hlen / 2), /header length \d+ exceeds the file size/],
    ['prefix', () => 5, /truncated safetensors file \(no header\)/],
  ];
  for (const [where, size, problem] of cuts) {
    const dir = copyFixture('llama-gqa-untied', `truncated-${where}`);
    const file = path.join(dir, 'model.safetensors');
    const buf = fs.readFileSync(file);
    fs.writeFileSync(file, buf.subarray(0, size(buf.length, Number(buf.readBigUInt64LE(0)))));
    assertInputError(dir, file, problem);
  }
});

test('tensor with a wrong shape or missing tensor names the file and the tensor', () => {
  for (const [as, edit, problem] of [
    ['wrong-shape', (m: Map<string, Tensor>) => m.set('model.layers.1.self_attn.k_proj.weight', new Tensor('float32', [32, 32], new Float32Array(1024))),
      /tensor 'model\.layers\.1\.self_attn\.k_proj\.weight' has shape \[32,32\], expected \[16,32\]/],
    ['missing', (m: Map<string, Tensor>) => m.delete('model.norm.weight'), /missing tensor 'model\.norm\.weight'/],
  ] as const) {
    const dir = copyFixture('llama-gqa-untied', as);
    const file = path.join(dir, 'model.safetensors');
    const tensors = new Map(readSafetensors(file).tensors);
    edit(tensors);
    writeSafetensors(file, tensors);
    assertInputError(dir, file, problem);
  }
});

test('gpt2 wrong-shape Conv1D weight ([out,in] instead of [in,out]) is rejected', () => {
  const dir = copyFixture('gpt2-noprefix', 'gpt2-transposed');
  const file = path.join(dir, 'model.safetensors');
  const tensors = new Map(readSafetensors(file).tensors);
  tensors.set('h.0.mlp.c_fc.weight', new Tensor('float32', [128, 32], new Float32Array(128 * 32)));
  writeSafetensors(file, tensors);
  assertInputError(dir, file, /tensor 'h\.0\.mlp\.c_fc\.weight' has shape \[128,32\], expected \[32,128\]/);
});

test('unknown model_type is an InputError naming config.json and the supported types', () => {
  const dir = copyFixture('gpt2-noprefix', 'unknown-type');
  const cfgFile = path.join(dir, 'config.json');
  const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
  fs.writeFileSync(cfgFile, JSON.stringify({ ...cfg, model_type: 'mamba' }));
  assert.throws(() => loadModel(dir), (e: unknown) => {
    assert.ok(e instanceof InputError);
    assert.equal(e.file, cfgFile);
    assert.match(e.message, /unsupported model_type 'mamba' \(supported: .*gpt2.*llama.*qwen3.*gemma3_text/);
    return true;
  });
});

test('GQA heads that do not divide evenly are rejected from config.json', () => {
  const dir = copyFixture('llama-gqa-untied', 'bad-gqa');
  const cfgFile = path.join(dir, 'config.json');
  const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
  fs.writeFileSync(cfgFile, JSON.stringify({ ...cfg, num_key_value_heads: 3 }));
  assert.throws(() => loadModel(dir), (e: unknown) => e instanceof InputError && e.file === cfgFile && /not a multiple of num_key_value_heads 3/.test(e.message));
});

/** A fixture copy with config.json fields replaced. */
function withConfig(name: string, as: string, over: Record<string, unknown>): string {
  const dir = copyFixture(name, as);
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), ...over }));
  return dir;
}

test('config.json contradicting the weights is one line naming the file, the tensor and the config field', () => {
  const st = (dir: string) => path.join(dir, 'model.safetensors');
  let d = withConfig('qwen3-qknorm', 'kv-heads', { num_key_value_heads: 4 });
  assertInputError(d, st(d), /tensor 'model\.layers\.0\.self_attn\.k_proj\.weight' has shape \[32,32\], expected \[64,32\] \(config\.json: num_key_value_heads × head_dim\)/);
  d = withConfig('qwen3-qknorm', 'head-dim', { head_dim: 8 });
  assertInputError(d, st(d), /q_proj\.weight' has shape \[64,32\], expected \[32,32\] \(config\.json: num_attention_heads × head_dim\)/);
  // Qwen3 weights read as Qwen2: the q/k norms are left over.
  d = withConfig('qwen3-qknorm', 'norms-unused', { model_type: 'qwen2' });
  assertInputError(d, st(d), /missing tensor 'model\.layers\.0\.self_attn\.q_proj\.bias'/);
  d = withConfig('qwen3-qknorm', 'norms-as-llama', { model_type: 'llama' });
  assertInputError(d, st(d), /tensor 'model\.layers\.0\.self_attn\.[qk]_norm\.weight' is not part of a llama model as config\.json describes it \(q\/k norms/);
  // Qwen2 weights read as Qwen3: no q/k norms, and biases where Qwen3 has none.
  d = withConfig('qwen2-bias', 'norms-missing', { model_type: 'qwen3' });
  assertInputError(d, st(d), /missing tensor 'model\.layers\.0\.self_attn\.q_norm\.weight' \(config\.json: model_type qwen3 has per-head q\/k norms/);
  d = withConfig('qwen2-bias', 'bias-unexpected', { model_type: 'llama' });
  assertInputError(d, st(d), /tensor 'model\.layers\.0\.self_attn\.[qkv]_proj\.bias' is not part of a llama model .*attention_bias/);
  d = withConfig('phi3-longrope', 'phi-layers', { num_hidden_layers: 1 });
  assertInputError(d, st(d), /tensor 'model\.layers\.1\.[^']+' is not part of a phi3 model .*num_hidden_layers/);
});

test('unsupported rope_scaling, bad longrope factors and inconsistent layer_types name config.json and the field', () => {
  const cfg = (dir: string) => path.join(dir, 'config.json');
  let d = withConfig('llama3-rope', 'yarn', { rope_scaling: { rope_type: 'yarn', factor: 4 } });
  assertInputError(d, cfg(d), /unsupported rope_scaling type 'yarn' \(supported: default, linear, dynamic, llama3, longrope, su\)/);
  d = withConfig('phi3-longrope', 'short-factors', { rope_scaling: { type: 'longrope', short_factor: [1, 1], long_factor: [1, 2, 3, 4] } });
  assertInputError(d, cfg(d), /rope_scaling\.short_factor must list 4 positive numbers/);
  d = withConfig('gemma3-text', 'layer-types', { layer_types: ['sliding_attention', 'full_attention'] });
  assertInputError(d, cfg(d), /layer_types has 2 entries for 3 layers/);
  d = withConfig('mistral-window', 'window', { sliding_window: 0 });
  assertInputError(d, cfg(d), /sliding_window must be a positive integer/);
  d = withConfig('qwen3-qknorm', 'gqa', { num_key_value_heads: 3 });
  assertInputError(d, cfg(d), /num_attention_heads 4 is not a multiple of num_key_value_heads 3/);
});
