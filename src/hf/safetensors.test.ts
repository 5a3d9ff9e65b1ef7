import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Tensor } from '../ir/tensor.js';
import { loadModel } from '../load/index.js';
import { DecoderRunner } from '../runtime/decoder.js';
import { fixtureDir, idsTensor, maxAbsDiff, readReference } from '../testing/fixtures.js';
import { InputError } from '../util/errors.js';
import { readModelWeights, readSafetensors, writeSafetensors } from './safetensors.js';

test('safetensors write → read round-trips dtypes, shapes, metadata and non-ASCII names', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ql-st-'));
  const file = path.join(dir, 'x.safetensors');
  const m = new Map([
    ['a.weight', Tensor.f32([2, 3], [1, 2, 3, 4, 5, 6])],
    ['b.é', new Tensor('float16', [2], Uint16Array.of(0x3c00, 0xc000))],
    ['c', new Tensor('int8', [3], Int8Array.of(-1, 0, 127))],
  ]);
  writeSafetensors(file, m, { format: 'pt' });
  const hlen = Number(fs.readFileSync(file).readBigUInt64LE(0));
  assert.equal(hlen % 8, 0, 'data section 8-byte aligned');
  const back = readSafetensors(file);
  assert.equal(back.metadata.format, 'pt');
  for (const [k, t] of m) {
    const b = back.tensors.get(k)!;
    assert.equal(b.dtype, t.dtype);
    assert.deepEqual(b.dims, t.dims);
    assert.deepEqual(Array.from(b.data as ArrayLike<number>), Array.from(t.data as ArrayLike<number>));
  }
});

test('a sharded checkpoint (index + 2 shards) gives the same logits as the single file', async () => {
  const name = 'gpt2-prefix';
  const src = fixtureDir(name);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ql-shard-'));
  fs.copyFileSync(path.join(src, 'config.json'), path.join(dir, 'config.json'));
  const all = [...readSafetensors(path.join(src, 'model.safetensors')).tensors];
  const half = Math.ceil(all.length / 2);
  const shards = [all.slice(0, half), all.slice(half)];
  const weightMap: Record<string, string> = {};
  shards.forEach((part, i) => {
    const f = `model-0000${i + 1}-of-00002.safetensors`;
    writeSafetensors(path.join(dir, f), new Map(part));
    for (const [k] of part) weightMap[k] = f;
  });
  fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  assert.equal(readModelWeights(dir).size, all.length);
  const ref = readReference(name);
  const runner = await DecoderRunner.create(loadModel(dir).graph({ kvCache: false }));
  const out = await runner.run(idsTensor(ref.inputIds), ref.inputIds.length);
  assert.ok(maxAbsDiff(out.logits.data as Float32Array, ref.logits) < 1e-4);
  await runner.release();
  // a shard listed in the index but missing on disk is a one-line error naming it
  fs.rmSync(path.join(dir, 'model-00002-of-00002.safetensors'));
  assert.throws(() => readModelWeights(dir), (e: unknown) => e instanceof InputError && /model-00002-of-00002/.test((e as Error).message));
});
