import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mock, test } from 'node:test';
import '../engine.js';
import { loadModel } from '../load/index.js';
import { quantizeToFolder } from '../passes/quantize.js';
import { sampleReport } from '../report/sample.js';
import { writeReport } from '../report/write.js';
import { fixtureDir } from '../testing/fixtures.js';
import { WriteError } from './fsx.js';

// Fault injection: the file system fails a write (disk full) or a sync (I/O error) part-way. What
// was being written is named in one line, and nothing partial is left under a final name.

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-faults-'));
const errno = (code: string) => Object.assign(new Error(`${code}: simulated`), { code });
/** Every file under `dir`, relative. */
const listing = (dir: string): string[] => fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();

for (const [what, fn, code, after] of [['write', 'writeSync', 'ENOSPC', 3], ['sync', 'fsyncSync', 'EIO', 0]] as const) {
  test(`quantize: a ${what} that fails with ${code} names the file; no model, record or temp file is left; a rerun succeeds`, async () => {
    const dir = tmp(), out = path.join(dir, 'out');
    const model = loadModel(fixtureDir('llama3-rope'));
    const real = fs[fn] as (...a: unknown[]) => unknown;
    let calls = 0;
    const m = mock.method(fs, fn, (...a: unknown[]) => {
      if (++calls > after) throw errno(code);
      return real.apply(fs, a);
    });
    try {
      await assert.rejects(quantizeToFolder({ model, config: { kind: 'int4-weight' }, out }), (e: unknown) =>
        e instanceof WriteError && e.code === code && new RegExp(`^cannot write ${out.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}/onnx/model\\.onnx: .* \\(${code}\\); nothing was left under its name$`).test(e.message));
      m.mock.restore();
      assert.deepEqual(listing(dir).filter((f) => !f.endsWith('.lock')), [], 'nothing under the output folder');
      const r = await quantizeToFolder({ model, config: { kind: 'int4-weight' }, out });
      assert.ok(fs.existsSync(path.join(out, r.record.model.file)));
      assert.ok(!listing(dir).some((f) => f.endsWith('.tmp') || f.endsWith('.lock')));
    } finally { m.mock.restore(); fs.rmSync(dir, { recursive: true, force: true }); }
  });
}

test('report: a disk that fills while the four files are written leaves the previous report whole and no temp file', () => {
  const dir = tmp();
  try {
    const old = sampleReport();
    writeReport(dir, old);
    const before = Object.fromEntries(listing(dir).map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]));
    const real = fs.writeSync;
    let calls = 0;
    const m = mock.method(fs, 'writeSync', (...a: Parameters<typeof fs.writeSync>) => {
      if (++calls > 2) throw errno('ENOSPC');
      return (real as (...x: unknown[]) => number)(...a);
    });
    try {
      assert.throws(() => writeReport(dir, { ...old, note: 'a newer run' }), (e: unknown) => e instanceof WriteError && /^cannot write .*report\.\w+: no space left on the device \(ENOSPC\)/.test(e.message));
    } finally { m.mock.restore(); }
    assert.deepEqual(Object.fromEntries(listing(dir).map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')])), before);
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
});
