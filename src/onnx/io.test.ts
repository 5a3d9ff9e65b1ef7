import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Builder, float } from '../ir/builder.js';
import { Graph, Model } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { createSession, ort } from '../runtime/session.js';
import { InputError } from '../util/errors.js';
import { readModel } from './read.js';
import { modelProtoType } from './schema.js';
import { tinyGpt2 } from '../testing/random-decoder.js';
import { encodeModel, encodeModelChunks, writeModel } from './write.js';

function model(): Model {
  const g = new Graph('t');
  const b = new Builder(g);
  const x = g.addInput('x', { dtype: 'float32', shape: ['n', 4] });
  const w = b.weight('w', Tensor.f32([4, 3], Array.from({ length: 12 }, (_, i) => i / 10)));
  const big = b.weight('big', new Tensor('float32', [3], Float32Array.of(1, 2, 3)));
  const y = b.op('Add', [b.op('MatMul', [x, w]), big]);
  const z = b.op('LayerNormalization', [y, b.constF32([1, 1, 1]), null], { axis: -1, epsilon: float(1e-5) }, { output: 'z' });
  g.markOutput(z);
  z.type = { dtype: 'float32', shape: ['n', 3] };
  return new Model(g);
}

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ql-io-'));

test('write → read round-trips structure, attributes and tensors (inline and external data)', async () => {
  for (const external of [false, true]) {
    const dir = tmp();
    const file = path.join(dir, 'm.onnx');
    const m = model();
    const sizes = writeModel(m, file, external ? { externalData: { location: 'm.onnx.data', threshold: 16 } } : {});
    assert.equal(fs.existsSync(path.join(dir, 'm.onnx.data')), external);
    if (external) assert.ok(sizes.externalData >= 48);
    const back = readModel(file);
    assert.deepEqual(back.graph.nodes.map((n) => n.opType), ['MatMul', 'Add', 'LayerNormalization']);
    assert.deepEqual(Array.from(back.graph.mustValue('w').constant!.data as Float32Array), Array.from(m.graph.mustValue('w').constant!.data as Float32Array));
    const ln = back.graph.nodes[2];
    assert.equal(ln.attr('axis', 'int'), -1);
    assert.ok(Math.abs(ln.attr('epsilon', 'float')! - 1e-5) < 1e-12);
    // and onnxruntime computes the same thing from both
    const s = await createSession(back);
    const out = await s.run({ x: new ort.Tensor('float32', Float32Array.of(1, 0, 0, 0, 0, 1, 0, 0), [2, 4]) });
    assert.equal(out.z.dims.join(), '2,3');
    await s.release();
  }
});

test('external data outside the model folder is refused', () => {
  const dir = tmp();
  const file = path.join(dir, 'm.onnx');
  writeModel(model(), file, { externalData: { location: 'm.onnx.data', threshold: 16 } });
  const T = modelProtoType();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const p: any = T.decode(fs.readFileSync(file));
  for (const t of p.graph.initializer) for (const kv of t.externalData ?? []) if (kv.key === 'location') kv.value = '../evil.data';
  fs.writeFileSync(file, T.encode(p).finish());
  assert.throws(() => readModel(file), (e: unknown) => e instanceof InputError && /outside the model folder/.test((e as Error).message));
});

test('corrupt and missing files give InputError naming the file', () => {
  const dir = tmp();
  const file = path.join(dir, 'bad.onnx');
  fs.writeFileSync(file, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2]));
  assert.throws(() => readModel(file), (e: unknown) => e instanceof InputError && (e as Error).message.startsWith(file));
  assert.throws(() => readModel(path.join(dir, 'nope.onnx')), InputError);
});

test('writeModel streams large tensors: the file decodes to the same message as encodeModel (initializer order aside)', () => {
  const m = tinyGpt2({ kvCache: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-stream-'));
  const file = path.join(dir, 'm.onnx');
  const r = writeModel(m, file);
  const bytes = fs.readFileSync(file);
  assert.equal(r.model, bytes.length);
  const whole = encodeModel(m);
  assert.equal(bytes.length, whole.length, 'same size: only field order differs');
  const T = modelProtoType();
  const norm = (b: Uint8Array) => {
    const o = T.toObject(T.decode(b), { bytes: String, longs: String }) as { graph: { initializer: { name: string }[] } };
    o.graph.initializer.sort((a, b) => a.name.localeCompare(b.name));
    return o;
  };
  assert.deepEqual(norm(bytes), norm(whole));
  assert.ok(encodeModelChunks(m).some((c) => c.length >= 4096 && m.graph.initializers().some((v) => v.constant!.bytes().buffer === c.buffer)), 'large tensors are not copied');
  fs.rmSync(dir, { recursive: true, force: true });
});
