import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { loadDataset } from '../data/index.js';
import { readSafetensors } from '../hf/safetensors.js';
import { readModel } from '../onnx/read.js';
import { fixtureDir, repoRoot } from '../testing/fixtures.js';

// Kill (SIGINT, then SIGKILL) each long-running command at a random point, check that no file under
// a final name is partial, rerun it, and compare with an uninterrupted run: the same bytes where the
// output is deterministic. The kill points come from a fixed seed (printed on failure).

const SEED = 20261201;
let rnd = SEED;
const uniform = () => ((rnd = (Math.imul(rnd, 1103515245) + 12345) >>> 0) / 2 ** 32);

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-kill-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
const env = { ...process.env, QUANTLAB_NO_PROGRESS: '1', GLIBC_TUNABLES: process.env.GLIBC_TUNABLES ?? 'glibc.malloc.mmap_threshold=33554432' };
const bin = path.join(repoRoot, 'bin', 'quantlab.js');

/** A tiny GPT-2 fixture with a character-level tokenizer.json (train and qat read text). */
function modelWithTokenizer(): string {
  const dir = path.join(root, 'model');
  fs.mkdirSync(dir);
  for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.join(fixtureDir('gpt2-prefix'), f), path.join(dir, f));
  const chars = [...new Set(' etaoinshrdlucmfwypvbgkjqxzETAOINSHRDLUCMFWYPVBGKJQXZ.,;:!?\'"-()0123456789')].slice(0, 79);
  const vocab = Object.fromEntries([['<unk>', 0], ...chars.map((c, i) => [c, i + 1])]);
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify({
    version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null,
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab, merges: [] },
  }));
  return dir;
}

/** Files under `dir` (relative) that carry a final name: not a temp, part, lock or journal file. */
function finalFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .filter((f) => !/\.(tmp|part|lock)$/.test(f) && !f.split(path.sep).some((p) => p.endsWith('.partial')));
}

/** Every final file reads whole: ONNX graphs decode, safetensors and JSON parse. */
function assertNoPartialFile(dir: string, what: string): void {
  for (const f of finalFiles(dir)) {
    const p = path.join(dir, f);
    try {
      if (f.endsWith('.onnx')) readModel(p);
      else if (f.endsWith('.safetensors')) for (const t of readSafetensors(p).tensors.values()) void t.data;
      else if (f.endsWith('.json')) JSON.parse(fs.readFileSync(p, 'utf8'));
    } catch (e) { assert.fail(`${what}: ${f} is partial: ${(e as Error).message}`); }
  }
}

function runToEnd(args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [bin, ...args], { env, encoding: 'utf8' });
  assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
  return performance.now() - t0;
}

/** Start the command, kill it with `signal` after `ms`, wait for it to end. */
async function killAfter(args: string[], signal: NodeJS.Signals, ms: number): Promise<void> {
  const p = spawn(process.execPath, [bin, ...args], { env, stdio: 'ignore' });
  const done = new Promise<void>((r) => p.on('exit', () => r()));
  setTimeout(() => p.kill(signal), ms);
  await done;
}

interface Case {
  name: string;
  /** Arguments for an output folder. */
  args: (out: string) => string[];
  /** The rerun's arguments once `out` holds what the killed run left. */
  rerun?: (out: string) => string[];
  /** The outputs that must equal the uninterrupted run's, byte for byte. */
  compare: (out: string) => string[];
}

let text = '';
let model = '';
before(() => {
  model = modelWithTokenizer();
  text = path.join(root, 'train.txt');
  fs.writeFileSync(text, loadDataset('brown', 'train').text.slice(0, 20_000));
});

const onnxUnder = (out: string) => finalFiles(out).filter((f) => f.endsWith('.onnx') || f.endsWith('.onnx_data'));
const CASES: Case[] = [
  { name: 'quantize', args: (o) => ['quantize', '--model', fixtureDir('llama3-rope'), '--method', 'int4-weight', '--out', o], compare: () => ['onnx/model.onnx', 'config.json'] },
  {
    name: 'bench', args: (o) => ['bench', '--model', fixtureDir('llama3-rope'), '--methods', 'fp32,int4-weight,int8-weight', '--no-quality', '--no-memory', '--reps', '1', '--warmup', '0', '--prompt-tokens', '8', '--decode-tokens', '2', '--threads', '1', '--out', o],
    compare: (o) => onnxUnder(path.join(o, 'variants')).map((f) => path.join('variants', f)),
  },
  {
    name: 'train', args: (o) => ['train', '--model', model, '--dataset', text, '--val', 'none', '--steps', '12', '--batch', '2', '--seq', '32', '--save-every', '3', '--threads', '1', '--out', o],
    rerun: (o) => [...CASES[2].args(o), ...(fs.existsSync(path.join(o, 'checkpoint')) ? ['--resume'] : [])],
    compare: () => ['model.safetensors'],
  },
  { name: 'qat', args: (o) => ['qat', '--model', model, '--dataset', text, '--calibration', text, '--steps', '6', '--batch', '2', '--seq', '32', '--threads', '1', '--out', o], compare: () => ['onnx/model.onnx'] },
  { name: 'export', args: (o) => ['export', '--model', fixtureDir('llama3-rope'), '--format', 'transformers.js', '--dtypes', 'fp32,q8,q4', '--out', o], compare: (o) => onnxUnder(o) },
];

for (const c of CASES) {
  test(`${c.name}: killed with SIGINT and with SIGKILL at random points, no partial file under a final name; the rerun writes the uninterrupted run's bytes (seed ${SEED})`, { timeout: 180_000 }, async () => {
    const ref = path.join(root, `${c.name}-ref`);
    const t0 = performance.now();
    runToEnd(['--version']);
    const startup = performance.now() - t0;
    const full = runToEnd(c.args(ref));
    const want = c.compare(ref);
    assert.ok(want.length > 0);
    for (const signal of ['SIGINT', 'SIGKILL'] as const) {
      const out = path.join(root, `${c.name}-${signal}`);
      const at = startup + uniform() * Math.max(1, full - startup);
      await killAfter(c.args(out), signal, at);
      assertNoPartialFile(out, `${c.name} killed by ${signal} after ${at.toFixed(0)} ms`);
      runToEnd((c.rerun ?? c.args)(out));
      for (const f of want) assert.ok(fs.readFileSync(path.join(out, f)).equals(fs.readFileSync(path.join(ref, f))), `${c.name}, ${signal} after ${at.toFixed(0)} ms of ${full.toFixed(0)}: ${f} differs from the uninterrupted run's`);
      assert.deepEqual(finalFiles(out).filter((f) => !f.startsWith('checkpoint')).sort(), finalFiles(ref).filter((f) => !f.startsWith('checkpoint')).sort());
    }
  });
}

// A download killed part-way (the server sends slowly): the rerun resumes and the files are the repo's.
test(`download (a hub id): killed with SIGINT and SIGKILL mid-file, the rerun finishes with the repo's bytes and no .part left (seed ${SEED})`, { timeout: 60_000 }, async () => {
  const repo = fixtureDir('gpt2-prefix');
  const files: Record<string, Buffer> = Object.fromEntries(['config.json', 'model.safetensors'].map((f) => [f, fs.readFileSync(path.join(repo, f))]));
  const server = http.createServer((req, res) => {
    const url = req.url ?? '';
    if (url.startsWith('/api/models/')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ sha: 'ccc', siblings: Object.keys(files).map((rfilename) => ({ rfilename })) }));
      return;
    }
    const name = decodeURIComponent(url.split('/resolve/main/')[1] ?? '');
    const data = files[name];
    if (!data) { res.writeHead(404); res.end(); return; }
    const start = Number(/bytes=(\d+)-/.exec(req.headers.range ?? '')?.[1] ?? 0);
    res.writeHead(start ? 206 : 200, { 'content-length': data.length - start, ...(start ? { 'content-range': `bytes ${start}-${data.length - 1}/${data.length}` } : {}) });
    // 8 KB every 10 ms: the 120 KB weights take ~150 ms, so a kill lands mid-file.
    let o = start;
    const tick = setInterval(() => {
      if (res.destroyed) { clearInterval(tick); return; }
      res.write(data.subarray(o, o + 8192));
      o += 8192;
      if (o >= data.length) { clearInterval(tick); res.end(); }
    }, 10);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    for (const signal of ['SIGINT', 'SIGKILL'] as const) {
      const cache = path.join(root, `hub-${signal}`);
      const args = ['inspect', '--model', 'org/tiny-gpt2'];
      const denv = { ...env, HF_ENDPOINT: endpoint, QUANTLAB_CACHE: cache, HF_HOME: cache };
      const p = spawn(process.execPath, [bin, ...args], { env: denv, stdio: 'ignore' });
      const done = new Promise<void>((r) => p.on('exit', () => r()));
      const folder = () => fs.readdirSync(cache, { recursive: true }).map(String).find((f) => f.endsWith('.part'));
      // Kill once part of the weights has arrived.
      await new Promise<void>((resolve) => { const t = setInterval(() => { if (fs.existsSync(cache) && folder()) { clearInterval(t); resolve(); } }, 5); });
      await new Promise((r) => setTimeout(r, 20 + uniform() * 60));
      p.kill(signal);
      await done;
      // Not spawnSync: this process serves the files.
      const rerun = spawn(process.execPath, [bin, ...args], { env: denv, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      rerun.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
      const code = await new Promise<number | null>((r) => rerun.on('exit', (c) => r(c)));
      assert.equal(code, 0, stderr);
      const all = fs.readdirSync(cache, { recursive: true }).map(String);
      assert.ok(!all.some((f) => f.endsWith('.part')), `left: ${all}`);
      const got = all.filter((f) => f.endsWith('model.safetensors'));
      assert.equal(got.length, 1);
      assert.ok(fs.readFileSync(path.join(cache, got[0])).equals(files['model.safetensors']));
    }
  } finally { server.close(); }
});
