import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fixtureDir, repoRoot } from '../testing/fixtures.js';
import { InputError } from './errors.js';
import { lockOutput } from './lock.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-lock-'));

test('an output folder is held by one run: a second is refused with who holds it; release frees it', () => {
  const dir = tmp(), out = path.join(dir, 'out');
  try {
    const release = lockOutput(out, 'quantize int4-weight');
    assert.throws(() => lockOutput(out, 'bench'), (e: unknown) => e instanceof InputError && e.message.startsWith(`${out}: another quantlab run is writing here (quantize int4-weight, pid ${process.pid} on ${os.hostname()}, since `));
    release();
    assert.ok(!fs.existsSync(`${out}.lock`));
    lockOutput(out, 'bench')();
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
});

test('a lock left by a killed run (its pid is gone) is taken over', () => {
  const dir = tmp(), out = path.join(dir, 'out');
  try {
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    fs.writeFileSync(`${out}.lock`, JSON.stringify({ pid: Number(dead), host: os.hostname(), what: 'bench', started: '2026-01-01T00:00:00Z' }));
    const release = lockOutput(out, 'quantize');
    assert.equal(JSON.parse(fs.readFileSync(`${out}.lock`, 'utf8')).pid, process.pid);
    release();
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
});

// Two real processes on one --out: the second bench is refused while the first runs; after the first
// is SIGKILLed (no chance to clean up) a new run takes its stale lock over.
test('two benches on the same --out: the second is refused (exit 1, one line); after a SIGKILL the folder is usable again', { timeout: 90_000 }, async () => {
  const out = tmp();
  const args = (reps: string) => [path.join(repoRoot, 'bin', 'quantlab.js'), 'bench', '--model', fixtureDir('mistral-window'), '--methods', 'int4-weight', '--no-quality', '--no-memory', '--reps', reps, '--warmup', '0', '--prompt-tokens', '8', '--decode-tokens', '2', '--threads', '1', '--out', out];
  // GLIBC_TUNABLES set: the launcher runs the CLI in its own process (no re-launch), so the lock's pid is the spawned one.
  const env = { ...process.env, QUANTLAB_NO_PROGRESS: '1', GLIBC_TUNABLES: process.env.GLIBC_TUNABLES ?? 'glibc.malloc.mmap_threshold=33554432' };
  try {
    const first = spawn(process.execPath, args('100000'), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<void>((resolve) => first.on('exit', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      const t = setInterval(() => { if (fs.existsSync(`${path.resolve(out)}.lock`)) { clearInterval(t); resolve(); } }, 50);
      first.on('exit', (c) => { clearInterval(t); reject(new Error(`first bench exited ${c}`)); });
    });
    const second = spawnSync(process.execPath, args('1'), { env, encoding: 'utf8' });
    assert.equal(second.status, 1, second.stderr);
    const lines = second.stderr.trim().split('\n');
    assert.equal(lines.length, 1, second.stderr);
    assert.match(lines[0], new RegExp(`^quantlab bench: ${out.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: another quantlab run is writing here \\(bench, pid ${first.pid} `));
    first.kill('SIGKILL');
    await exited;
    assert.ok(fs.existsSync(`${path.resolve(out)}.lock`), 'a SIGKILLed run leaves its lock');
    const third = spawnSync(process.execPath, args('1'), { env, encoding: 'utf8' });
    assert.equal(third.status, 0, third.stderr);
    assert.ok(fs.existsSync(path.join(out, 'report.json')));
    assert.ok(!fs.existsSync(`${path.resolve(out)}.lock`));
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
    fs.rmSync(`${path.resolve(out)}.lock`, { force: true });
  }
});
