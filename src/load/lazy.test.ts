import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { main } from '../cli/main.js';
import { cloneModel, type Model } from '../ir/graph.js';
import { lazyLoads, Tensor } from '../ir/tensor.js';
import { readModel } from '../onnx/read.js';
import { encodeModelChunks, writeModel } from '../onnx/write.js';
import type { MethodConfig } from '../passes/pass.js';
import { methodByKind } from '../passes/registry.js';
import { fixtureDir } from '../testing/fixtures.js';
import { loadModel } from './index.js';
import { SpillFile } from '../ir/spill.js';
import { synthesize } from '../arch/synth.js';
import { InputError } from '../util/errors.js';
import { quantizeToFolder } from '../passes/quantize.js';

// Checkpoint tensors are lazy: opening a model and building its graph reads headers only, and
// passes and the writer read each weight when they need it. The streamed results must be the
// bytes the in-memory path gives.

/** The same graph with every initializer read into memory now (the pre-streaming path). */
function eager(m: Model): Model {
  const c = cloneModel(m);
  for (const v of c.graph.initializers()) {
    const t = v.constant!;
    v.constant = new Tensor(t.dtype, [...t.dims], t.data.slice());
  }
  return c;
}

const concat = (chunks: Uint8Array[]) => Buffer.concat(chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength)));

test('opening a safetensors model, building both graphs and inspecting it read no weight', async () => {
  const before = lazyLoads.count;
  const m = loadModel(fixtureDir('gemma3-text'));
  const g = m.graph({ kvCache: true });
  m.graph({ kvCache: false });
  assert.ok(g.graph.initializers().filter((v) => v.constant!.lazy).length > 20);
  const log = console.log;
  console.log = () => {};
  try { assert.equal(await main(['inspect', fixtureDir('qwen3-qknorm')]), 0); } finally { console.log = log; }
  assert.equal(lazyLoads.count, before, 'no tensor data was read');
});

for (const fixture of ['gpt2-bf16', 'qwen2-bias', 'gemma3-text', 'phi3-longrope']) {
  test(`${fixture}: streamed quantization writes the in-memory path's bytes (every weight method, external data too)`, async () => {
    const lazy = loadModel(fixtureDir(fixture)).graph({ kvCache: true });
    const mem = eager(lazy);
    for (const kind of ['int4-weight', 'int8-weight', 'dynamic-int8', 'fp16', 'bf16']) {
      const m = methodByKind(kind)!;
      const cfg = { ...m.defaults, blockFallback: true, minHalfElements: 0 } as MethodConfig;
      const a = (await m.run(lazy, cfg, { explain: () => {} })).model;
      const b = (await m.run(mem, cfg, { explain: () => {} })).model;
      assert.ok(concat(encodeModelChunks(a)).equals(concat(encodeModelChunks(b))), `${fixture} ${kind}: inline bytes differ`);
    }
    // The external-data writer streams each tensor to the data file as it is encoded.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-lazy-'));
    const files = (tag: string, m: Model) => {
      const f = path.join(dir, tag, 'model.onnx');
      fs.mkdirSync(path.dirname(f), { recursive: true });
      writeModel(m, f, { externalData: { location: 'model.onnx_data', threshold: 256 } });
      return [fs.readFileSync(f), fs.readFileSync(`${f.slice(0, -5)}.onnx_data`)];
    };
    const [la, ld] = files('lazy', lazy), [ea, ed] = files('eager', mem);
    assert.ok(la.equals(ea) && ld.equals(ed), `${fixture}: external-data files differ`);
    const back = readModel(path.join(dir, 'lazy', 'model.onnx'));
    for (const v of mem.graph.initializers()) assert.ok(Buffer.from(back.graph.mustValue(v.name).constant!.bytes()).equals(Buffer.from(v.constant!.bytes())), v.name);
    fs.rmSync(dir, { recursive: true, force: true });
  });
}

test('quantizing with outputs spilled to disk writes the same folder as in memory', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-spill-'));
  try {
    for (const kind of ['int4-weight', 'dynamic-int8', 'fp16']) {
      // A 256-byte threshold spills every weight of this tiny model.
      const file = new SpillFile(undefined, 256);
      const read = async (spill: SpillFile | false) => {
        const out = path.join(root, `${kind}-${spill ? 'spill' : 'mem'}`);
        await quantizeToFolder({ model: loadModel(fixtureDir('llama3-rope')), config: { kind } as never, out, spill });
        return fs.readFileSync(path.join(out, 'onnx', 'model.onnx'));
      };
      assert.ok((await read(file)).equals(await read(false)), kind);
      assert.ok(file.bytes > 10_000, `${kind}: ${file.bytes} bytes spilled`);
    }
  } finally { fs.rmSync(root, { recursive: true, force: true }); }
});

test('a spilled tensor reads back its bytes; small and lazy tensors are kept as they are', () => {
  const spill = new SpillFile();
  const big = new Tensor('int8', [1024, 1100], Int8Array.from({ length: 1024 * 1100 }, (_, i) => (i * 7) % 255 - 127));
  const s = spill.put(big);
  assert.ok(s.lazy);
  assert.deepEqual(s.dims, big.dims);
  assert.ok(Buffer.from(s.bytes()).equals(Buffer.from(big.bytes())));
  const small = Tensor.f32([4], [1, 2, 3, 4]);
  assert.equal(spill.put(small), small);
  assert.equal(spill.put(s), s);
  assert.equal(spill.bytes, 1024 * 1100);
});

test('quantize progress counts each source weight once, up to the total, with its FP32 bytes', async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-progress-'));
  const calls: [number, number, number][] = [];
  const model = loadModel(fixtureDir('qwen2-bias'));
  const lazy = model.graph({ kvCache: true }).graph.initializers().filter((v) => v.constant!.lazy);
  await quantizeToFolder({ model, config: { kind: 'int4-weight' } as never, out: path.join(out, 'q'), onProgress: (d, t, b) => calls.push([d, t, b]) });
  assert.equal(calls.length, lazy.length);
  assert.deepEqual(calls.map((c) => c[0]), lazy.map((_, i) => i + 1));
  assert.ok(calls.every((c) => c[1] === lazy.length));
  assert.equal(calls.at(-1)![2], lazy.reduce((s, v) => s + v.constant!.byteLength, 0));
  fs.rmSync(out, { recursive: true, force: true });
});

test('a truncated shard of a sharded checkpoint is named when the model is opened, before any weight is read', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-shards-'));
  try {
    synthesize({ preset: 'qwen2-tiny', out: dir, dtype: 'bf16', maxShardBytes: 100_000 });
    const shards = fs.readdirSync(dir).filter((f) => /^model-\d+-of-\d+\.safetensors$/.test(f)).sort();
    assert.ok(shards.length >= 2, shards.join());
    const shard = path.join(dir, shards[1]);
    fs.truncateSync(shard, fs.statSync(shard).size - 10);
    const before = lazyLoads.count;
    assert.throws(() => loadModel(dir).graph({ kvCache: true }), (e: unknown) => e instanceof InputError && e.file === shard && /truncated safetensors file: tensor '[^']+' ends at byte \d+, file has \d+/.test((e as Error).message));
    assert.equal(lazyLoads.count, before);
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
});
