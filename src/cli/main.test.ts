import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fixtureDir } from '../testing/fixtures.js';
import { jsonStdout } from '../util/fsx.js';
import { main } from './main.js';

const dirs: string[] = [];
after(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });
const tmp = () => { const d = fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-cli-')); dirs.push(d); return d; };

/** Run the CLI in-process: exit code, what console.log and `--json -` wrote, what console.error got. */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; err: string }> {
  const out: string[] = [], err: string[] = [];
  const log = console.log, error = console.error, write = jsonStdout.write;
  console.log = (...a: unknown[]) => { out.push(`${a.join(' ')}\n`); };
  console.error = (...a: unknown[]) => { err.push(a.join(' ')); };
  jsonStdout.write = (s: string) => { out.push(s); };
  try { return { code: await main(args), stdout: out.join(''), err: err.join('\n') }; } finally { console.log = log; console.error = error; jsonStdout.write = write; }
}

test('-h shows a command\'s help, like --help', async () => {
  for (const cmd of ['eval', 'bench', 'quantize', 'inspect']) {
    const r = await cli(cmd, '-h');
    assert.equal(r.code, 0, `${cmd} -h: ${r.err}`);
    assert.match(r.stdout, new RegExp(`^Usage: quantlab ${cmd} `));
    assert.match(r.stdout, /-h, --help +show this help/);
  }
});

test('--json - writes the JSON alone to stdout; the human-readable lines go to stderr', async () => {
  const r = await cli('inspect', '--model', fixtureDir('mistral-window'), '--json', '-');
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.stdout) as { model: { arch: string }; graph: { inputs: unknown[] } };
  assert.equal(j.model.arch, 'mistral');
  assert.ok(j.graph.inputs.length > 0);
  assert.match(r.err, /parameters/);
});

test('bench exits 1 when a method failed, with the report written and the failure marked', async () => {
  // A checkpoint without a tokenizer: static-int8 cannot read calibration text.
  const out = tmp();
  const r = await cli('bench', '--model', fixtureDir('mistral-window'), '--methods', 'static-int8,int4-weight', '--no-quality', '--no-memory',
    '--reps', '1', '--warmup', '0', '--prompt-tokens', '8', '--decode-tokens', '2', '--threads', '1', '--out', out);
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /1 method failed \(static-int8\); the report marks it/);
  const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')) as { failures: { method: string }[]; rows: { method: string }[] };
  assert.deepEqual(report.failures.map((f) => f.method), ['static-int8']);
  assert.deepEqual(report.rows.map((x) => x.method), ['fp32', 'int4-weight']);
});

test('eval refuses up front a model that cannot run in the memory allowed, with the bytes it needs', async () => {
  const before = process.env.QUANTLAB_MEMORY_LIMIT;
  process.env.QUANTLAB_MEMORY_LIMIT = String(2 ** 30); // less than any model's 1 GiB of runtime headroom
  try {
    const dir = fixtureDir('llama3-rope');
    const r = await cli('eval', '--model', dir, '--no-perplexity');
    assert.equal(r.code, 1);
    assert.match(r.err, new RegExp(`^quantlab eval: ${dir.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: needs ≈ 1\\.1 GB of memory to run \\(0 MB of weights\\), this machine allows 1\\.1 GB; quantize it first`));
    assert.ok(!r.err.includes('\n'));
  } finally {
    if (before === undefined) delete process.env.QUANTLAB_MEMORY_LIMIT; else process.env.QUANTLAB_MEMORY_LIMIT = before;
  }
});
