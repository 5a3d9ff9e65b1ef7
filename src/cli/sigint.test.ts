import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fixtureDir, repoRoot } from '../testing/fixtures.js';

// A real Ctrl-C through the launcher (bin/quantlab.js re-launches the CLI as a child): the signal
// reaches the child, which stops at its next checkpoint; the launcher exits with the child's code
// after it, so nothing keeps running behind the shell's back and no report is half-written.
test('Ctrl-C on bench through the launcher: clean stop, exit 130, no report, launcher exits after the child', { timeout: 60_000 }, async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-sigint-'));
  try {
    const env = { ...process.env };
    delete env.GLIBC_TUNABLES; // so the launcher re-launches, as from a shell
    delete env.QUANTLAB_NO_PROGRESS;
    const p = spawn(process.execPath, [path.join(repoRoot, 'bin', 'quantlab.js'), 'bench', '--model', fixtureDir('mistral-window'), '--methods', 'int4-weight',
      '--no-quality', '--no-memory', '--reps', '100000', '--warmup', '0', '--prompt-tokens', '8', '--decode-tokens', '2', '--threads', '1', '--out', out], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    const exited = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      p.stderr.on('data', (d: Buffer) => { err += d.toString(); if (/latency/.test(err)) resolve(); });
      p.on('exit', () => reject(new Error(`bench ended before the latency stage: ${err}`)));
    });
    await new Promise((r) => setTimeout(r, 300));
    p.kill('SIGINT');
    const code = await exited;
    assert.equal(code, 130, err);
    assert.match(err, /interrupted; no report written\. Finished variants are cached in /);
    assert.ok(!fs.existsSync(path.join(out, 'report.json')));
    assert.ok(fs.existsSync(path.join(out, 'variants', 'int4-weight', 'quantlab.json')), 'the finished variant stays cached for a re-run');
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
