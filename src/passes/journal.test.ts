import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadModel } from '../load/index.js';
import { fixtureDir } from '../testing/fixtures.js';
import { Tensor } from '../ir/tensor.js';
import { QuantJournal } from './journal.js';
import { quantizeToFolder } from './quantize.js';

// An interrupted quantize resumes from <out>.partial/: the weights made before the interruption are
// read back, the rest computed, and the model written is the one an uninterrupted run writes.
for (const kind of ['int4-weight', 'dynamic-int8']) {
  test(`${kind}: an interrupted run resumes from its journal and writes the uninterrupted run's bytes`, async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-resume-'));
    try {
      const model = () => loadModel(fixtureDir('qwen2-bias'));
      const fresh = await quantizeToFolder({ model: model(), config: { kind } as never, out: path.join(root, 'fresh'), resumable: true });
      assert.equal(fresh.resumed, 0);
      assert.ok(!fs.existsSync(path.join(root, 'fresh.partial')), 'a finished run removes its journal');
      // ...but the model it returns still reads its weights (bench goes on to run it).
      for (const v of fresh.result.model.graph.initializers()) assert.equal(v.constant!.bytes().length, v.constant!.byteLength);
      const out = path.join(root, 'q');
      let n = 0;
      // explain() is called as the pass goes: throwing there interrupts it part-way.
      const interrupt = () => { if (++n === 12) throw new Error('interrupted'); };
      await assert.rejects(quantizeToFolder({ model: model(), config: { kind } as never, out, resumable: true, explain: interrupt }), /interrupted/);
      const journaled = fs.readFileSync(path.join(out + '.partial', 'journal.jsonl'), 'utf8').split('\n').filter(Boolean).length;
      assert.ok(journaled >= 2 && journaled < fresh.result.report.converted.length, `${journaled} weights journaled`);
      assert.ok(!fs.existsSync(path.join(out, 'quantlab.json')), 'no folder is marked complete');
      const again = await quantizeToFolder({ model: model(), config: { kind } as never, out, resumable: true });
      assert.equal(again.resumed, journaled);
      assert.ok(fs.readFileSync(path.join(out, 'onnx', 'model.onnx')).equals(fs.readFileSync(path.join(root, 'fresh', 'onnx', 'model.onnx'))));
      // A journal made with another config is discarded, not mixed in.
      await assert.rejects(quantizeToFolder({ model: model(), config: { kind } as never, out: path.join(root, 'r'), resumable: true, explain: () => { throw new Error('stop'); } }), /stop/);
      const other = await quantizeToFolder({ model: model(), config: { kind, symmetric: false } as never, out: path.join(root, 'r'), resumable: true });
      assert.equal(other.resumed, 0);
    } finally { fs.rmSync(root, { recursive: true, force: true }); }
  });
}

test('journal: a torn last line or an entry past the data (a killed write) is dropped; the rest is read back', () => {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-journal-')), 'j');
  try {
    const j = new QuantJournal(dir, 'id');
    const a = j.tensors('a', () => [Tensor.f32([2, 2], [1, 2, 3, 4])]);
    j.tensors('b', () => [Tensor.f32([1], [5])]);
    assert.deepEqual([...a[0].data], [1, 2, 3, 4]);
    fs.appendFileSync(path.join(dir, 'journal.jsonl'), JSON.stringify({ key: 'c', tensors: [{ dtype: 'float32', dims: [1], offset: 1000, length: 4 }] }) + '\n{"key":"d","ten');
    const k = new QuantJournal(dir, 'id');
    let computed = 0;
    const again = k.tensors('a', () => { computed++; return []; });
    assert.deepEqual([...again[0].data], [1, 2, 3, 4]);
    k.tensors('c', () => { computed++; return [Tensor.f32([1], [7])]; });
    assert.equal(computed, 1, 'a is read back; c (past the data) is computed again');
    assert.equal(k.reused, 1);
    // Another identity starts empty.
    const other = new QuantJournal(dir, 'other');
    other.tensors('a', () => { computed++; return [Tensor.f32([1], [0])]; });
    assert.equal(computed, 2);
  } finally { fs.rmSync(path.dirname(dir), { recursive: true, force: true }); }
});
