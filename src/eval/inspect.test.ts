import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { main } from '../cli/main.js';
import { loadModel } from '../load/index.js';
import { writeModel } from '../onnx/write.js';
import { formatInspect, inspectModel, type InspectReport } from './inspect.js';

const dirs: string[] = [];
const tmp = () => { const d = fs.mkdtempSync(path.join(os.tmpdir(), 'ql-inspect-')); dirs.push(d); return d; };
after(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

async function cli(args: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = console.log, err = console.error;
  console.log = (x: string) => lines.push(x);
  console.error = (x: string) => lines.push(x);
  try { return { code: await main(args), out: lines.join('\n') }; } finally { console.log = log; console.error = err; }
}

test('inspect: structure and size table of the shared 12M GPT-2 (KV-cache graph)', () => {
  const m = loadModel('models/gpt2-brown-12m');
  const r = inspectModel(m.graph({ kvCache: true }), m.files);
  assert.equal(r.graph.inputs.length, 3 + 12);
  assert.deepEqual(r.graph.inputs[0], { name: 'input_ids', dtype: 'int64', shape: ['batch_size', 'sequence_length'] });
  assert.deepEqual(r.graph.outputs[0], { name: 'logits', dtype: 'float32', shape: ['batch_size', 'sequence_length', 50257] });
  assert.equal(r.graph.outputs.length, 1 + 12);
  // Per layer: qkv, o, up, down projections + scores and context MatMuls over the past and the new
  // tokens apart (arch/attention.ts); tied head is one Gemm.
  assert.equal(r.graph.ops.MatMul, 6 * 8);
  assert.equal(r.graph.ops.Gemm, 1);
  assert.equal(r.graph.ops.LayerNormalization, 13);
  assert.equal(Object.values(r.graph.ops).reduce((a, b) => a + b, 0), r.graph.nodes);
  assert.deepEqual(r.graph.opsets, [{ domain: '', version: 21 }]);
  assert.equal(r.graph.metadata['quantlab.form'], 'kv-cache');
  const text = formatInspect(r);
  assert.match(text, /^ {2}embeddings +9,747,648 +38,990,592 +78\.5% +4\.000$/m);
  assert.match(text, /^ {2}mlp +1,775,232 +7,100,928 +14\.3% +4\.000$/m);
  assert.match(text, /^ {2}norms +4,992 +19,968 +0\.04% +4\.000$/m);
  assert.match(text, /^ {2}float32 +12,417,216 /m);
  assert.match(text, /^size +12,417,216 parameters in 49,668,864 bytes \(4\.000 bytes\/param\)/m);
  assert.match(text, /^on disk +49,676,264 bytes$/m);
  assert.match(text, /… 8 more/); // long cache lists are elided
});

test('inspect CLI: HF folder, ONNX file with external data and ONNX-export folder agree; --json', async () => {
  const dir = tmp();
  const hfJson = path.join(dir, 'hf.json');
  const hf = await cli(['inspect', 'models/gpt2-brown-12m', '--json', hfJson]);
  assert.equal(hf.code, 0, hf.out);
  assert.match(hf.out, /^inputs \(15\)$/m);
  const a = JSON.parse(fs.readFileSync(hfJson, 'utf8')) as InspectReport & { model: { kind: string } };
  assert.equal(a.model.kind, 'safetensors');
  assert.equal(a.size.param_count, 12_417_216);
  assert.equal(a.size.file_bytes, 49_676_264);

  // The same graph exported as ONNX (weights in a side file) inside an export folder.
  const exp = path.join(dir, 'export');
  fs.mkdirSync(path.join(exp, 'onnx'), { recursive: true });
  fs.copyFileSync('models/gpt2-brown-12m/config.json', path.join(exp, 'config.json'));
  const file = path.join(exp, 'onnx', 'model.onnx');
  const written = writeModel(loadModel('models/gpt2-brown-12m').graph({ kvCache: true }), file, { externalData: { location: 'model.onnx.data' } });
  for (const spec of [file, exp]) {
    const out = path.join(dir, 'onnx.json');
    const r = await cli(['inspect', spec, '--json', out]);
    assert.equal(r.code, 0, r.out);
    const b = JSON.parse(fs.readFileSync(out, 'utf8')) as InspectReport;
    assert.equal(b.size.file_bytes, written.model + written.externalData);
    assert.deepEqual(b.size.by_group, a.size.by_group);
    assert.deepEqual(b.graph.ops, a.graph.ops);
    assert.equal(b.size.param_count, 12_417_216);
  }
  const bad = await cli(['inspect', path.join(dir, 'missing')]);
  assert.equal(bad.code, 1);
  assert.match(bad.out, /no such file or folder/);
  assert.equal((await cli(['inspect'])).code, 2);
});
