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
