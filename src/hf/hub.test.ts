import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { main } from '../cli/main.js';
import { resolveModelSpec } from '../load/resolve.js';
import { fixtureDir } from '../testing/fixtures.js';
import { InputError, UsageError } from '../util/errors.js';
import { downloadModel, isHubModelId, modelCacheFolder } from './hub.js';
import { externalData, selectModelFiles } from './hub-files.js';

/** A tiny fake hub: serves repos from folders, with Range support and fault injection. */
interface Repo { dir: string; sha?: string; withSizes?: boolean; lfsSha?: Record<string, string>; phantom?: string[] }
interface Seen { path: string; range?: string; auth?: string }

const repos = new Map<string, Repo>();
const seen: Seen[] = [];
/** Files whose first full request is cut half way (then cleared). */
const cutOnce = new Set<string>();
let ignoreRange = false;
let server: http.Server;
let endpoint = '';
let root = '';

function listFiles(dir: string, prefix = ''): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? listFiles(path.join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]);
}

function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url!, 'http://x');
  seen.push({ path: url.pathname, range: req.headers.range, auth: req.headers.authorization });
  const api = /^\/api\/models\/(.+)\/revision\/([^/]+)$/.exec(url.pathname);
  if (api) {
    const repo = repos.get(api[1]);
    if (!repo) { res.writeHead(401, { 'content-type': 'application/json' }); res.end('{"error":"Repository not found"}'); return; }
    const siblings = [...listFiles(repo.dir), ...repo.phantom ?? []].map((rfilename) => {
      const size = fs.existsSync(path.join(repo.dir, rfilename)) ? fs.statSync(path.join(repo.dir, rfilename)).size : 0;
      const lfs = repo.lfsSha?.[rfilename];
      return repo.withSizes ? { rfilename, size, ...(lfs ? { lfs: { sha256: lfs, size } } : {}) } : { rfilename };
    });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: api[1], sha: repo.sha, siblings }));
    return;
  }
  const m = /^\/(.+?)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
  const repo = m && [...repos.entries()].find(([id]) => m[1] === id)?.[1];
  const file = m && repo ? path.join(repo.dir, decodeURIComponent(m[3])) : '';
  if (!repo || !fs.existsSync(file)) { res.writeHead(404); res.end('Entry not found'); return; }
  const data = fs.readFileSync(file);
  const r = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (r && !ignoreRange) {
    const start = Number(r[1]);
    if (start >= data.length) { res.writeHead(416, { 'content-range': `bytes */${data.length}` }); res.end(); return; }
    res.writeHead(206, { 'content-length': data.length - start, 'content-range': `bytes ${start}-${data.length - 1}/${data.length}` });
    res.end(data.subarray(start));
    return;
  }
  res.writeHead(200, { 'content-length': data.length });
  const key = `${m![1]}/${m![3]}`;
  if (cutOnce.has(key)) {
    cutOnce.delete(key);
    // Send half, make sure it left, then drop the connection.
    res.write(data.subarray(0, data.length >> 1), () => setTimeout(() => res.socket?.destroy(), 20));
    return;
  }
  res.end(data);
}

function makeRepo(name: string, files: Record<string, Buffer | string>): string {
  const dir = path.join(root, 'repos', name);
  for (const [f, c] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), c);
  }
  return dir;
}

const weights = crypto.randomBytes(300_000);
const tiny = {
  'config.json': '{"model_type":"gpt2","n_layer":1}',
  'generation_config.json': '{}',
  'tokenizer.json': '{"model":{}}',
  'tokenizer_config.json': '{}',
  'model.safetensors': weights,
  'README.md': '# not needed',
  'pytorch_model.bin': 'not needed either',
  'onnx/model.onnx': 'not needed when safetensors exist',
};
const NEEDED = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors'];

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-hub-'));
  repos.set('org/tiny', { dir: makeRepo('tiny', tiny), sha: 'aaa' });
  // A loadable checkpoint (the PyTorch-checked tiny GPT-2 fixture) for the CLI commands that take hub ids.
  const fixture = fixtureDir('gpt2-prefix');
  repos.set('org/gpt2-prefix', { dir: makeRepo('gpt2-prefix', Object.fromEntries(['config.json', 'model.safetensors'].map((f) => [f, fs.readFileSync(path.join(fixture, f))]))), sha: 'bbb' });
  server = http.createServer(handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.close();
  fs.rmSync(root, { recursive: true, force: true });
});

const cacheOf = (name: string) => path.join(root, 'cache', name);
const fileRequests = () => seen.filter((s) => s.path.includes('/resolve/'));
const opts = (name: string) => ({ endpoint, cacheDir: cacheOf(name), retryDelayMs: 0, token: '' });

function assertSameFiles(folder: string, repoDir: string, files: string[]): void {
  for (const f of files) assert.ok(fs.readFileSync(path.join(folder, f)).equals(fs.readFileSync(path.join(repoDir, f))), f);
}

test('full download: the causal-LM files, byte for byte, into <cache>/<org>--<name>/<rev>', async () => {
  seen.length = 0;
  const progress: number[] = [];
  const folder = await downloadModel('org/tiny', { ...opts('full'), onProgress: (p) => progress.push(p.done) });
  assert.equal(folder, path.join(cacheOf('full'), 'org--tiny', 'main'));
  assertSameFiles(folder, repos.get('org/tiny')!.dir, NEEDED);
  for (const f of ['README.md', 'pytorch_model.bin', 'onnx/model.onnx']) assert.ok(!fs.existsSync(path.join(folder, f)), f);
  assert.deepEqual(fs.readdirSync(folder).filter((f) => f.endsWith('.part')), []);
  assert.deepEqual(fileRequests().map((s) => s.path.split('/resolve/main/')[1]).sort(), [...NEEDED].sort());
  assert.equal(seen[0].path, '/api/models/org/tiny/revision/main');
  assert.equal(progress.at(-1), NEEDED.reduce((s, f) => s + Buffer.byteLength(tiny[f as keyof typeof tiny]), 0));
  assert.ok(seen.every((s) => s.auth === undefined));
});

test('skips files that are already complete: the server sees no second file request', async () => {
  await downloadModel('org/tiny', opts('skip'));
  seen.length = 0;
  const folder = await downloadModel('org/tiny', opts('skip'));
  assert.deepEqual(fileRequests(), []);
  assert.equal(seen.length, 1, 'only the listing');
  assertSameFiles(folder, repos.get('org/tiny')!.dir, NEEDED);
});

test('resume: a connection cut half way is retried with a Range request and appended', async () => {
  seen.length = 0;
  cutOnce.add('org/tiny/model.safetensors');
  const folder = await downloadModel('org/tiny', opts('resume'));
  const reqs = fileRequests().filter((s) => s.path.endsWith('model.safetensors'));
  assert.equal(reqs.length, 2);
  assert.equal(reqs[0].range, undefined);
  const start = Number(/^bytes=(\d+)-$/.exec(reqs[1].range ?? '')?.[1]);
  assert.ok(start > 0 && start <= weights.length / 2, `range ${reqs[1].range}`);
  assert.ok(fs.readFileSync(path.join(folder, 'model.safetensors')).equals(weights));
  assert.ok(!fs.existsSync(path.join(folder, 'model.safetensors.part')));
});

test('resume from a .part left by an earlier process; restart when the server ignores Range', async () => {
  const folder = modelCacheFolder('org/tiny', 'main', cacheOf('part'));
  fs.mkdirSync(folder, { recursive: true });
  fs.writeFileSync(path.join(folder, 'model.safetensors.part'), weights.subarray(0, 123_456));
  seen.length = 0;
  await downloadModel('org/tiny', opts('part'));
  assert.deepEqual(fileRequests().filter((s) => s.range).map((s) => s.range), ['bytes=123456-']);
  assert.ok(fs.readFileSync(path.join(folder, 'model.safetensors')).equals(weights));

  // 200 instead of 206: the part must be rewritten from the start, not appended to.
  const folder2 = modelCacheFolder('org/tiny', 'main', cacheOf('part200'));
  fs.mkdirSync(folder2, { recursive: true });
  fs.writeFileSync(path.join(folder2, 'model.safetensors.part'), Buffer.alloc(5000, 7));
  ignoreRange = true;
  try { await downloadModel('org/tiny', opts('part200')); } finally { ignoreRange = false; }
  assert.ok(fs.readFileSync(path.join(folder2, 'model.safetensors')).equals(weights));
});

test('404 / 401: one-line "not found or gated" errors; bad ids; network failure names the URL', async () => {
  const oneLine = (re: RegExp) => (e: unknown) => e instanceof InputError && re.test(e.message) && !e.message.includes('\n');
  await assert.rejects(downloadModel('org/missing', opts('err')), oneLine(/^org\/missing: not found or gated on http:\/\/127\.0\.0\.1:\d+ \(HTTP 401; .*HF_TOKEN\)$/));
  // Listed, but the file itself 404s.
  repos.set('org/broken', { dir: makeRepo('broken', { 'config.json': '{}' }), phantom: ['model.safetensors'] });
  await assert.rejects(downloadModel('org/broken', opts('err')), oneLine(/^org\/broken\/model\.safetensors: not found or gated on .* \(HTTP 404; /));
  assert.ok(fs.existsSync(path.join(cacheOf('err'), 'org--broken', 'main', 'config.json')));
  for (const bad of ['../etc', 'a/b/c', 'org/na me', '', 'org/-x', 'a--b/c']) {
    assert.equal(isHubModelId(bad), false, bad);
    await assert.rejects(downloadModel(bad, opts('err')), (e: unknown) => e instanceof UsageError && /not a valid Hugging Face model id/.test(e.message));
  }
  for (const good of ['gpt2', 'org/tiny', 'Qwen/Qwen2.5-0.5B-Instruct', 'meta-llama/Llama-3.2-1B', 'a_b/c.d']) assert.equal(isHubModelId(good), true, good);
  const closed = http.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((r) => closed.close(r));
  await assert.rejects(downloadModel('org/tiny', { ...opts('net'), endpoint: `http://127.0.0.1:${port}` }),
    (e: unknown) => e instanceof Error && e.message === `http://127.0.0.1:${port}/api/models/org/tiny/revision/main?blobs=true: network error (ECONNREFUSED)`);
});

test('HF_TOKEN is sent as a Bearer token', async () => {
  const saved = process.env.HF_TOKEN;
  process.env.HF_TOKEN = 'hf_secret';
  seen.length = 0;
  try { await downloadModel('org/tiny', { endpoint, cacheDir: cacheOf('token'), retryDelayMs: 0 }); } finally {
    if (saved === undefined) delete process.env.HF_TOKEN; else process.env.HF_TOKEN = saved;
  }
  assert.ok(seen.length === 1 + NEEDED.length && seen.every((s) => s.auth === 'Bearer hf_secret'));
});

test('listing sizes and LFS SHA-256 are checked; a mismatch is a clear error and leaves no file', async () => {
  const good = crypto.createHash('sha256').update(weights).digest('hex');
  repos.set('org/sized', { dir: repos.get('org/tiny')!.dir, withSizes: true, lfsSha: { 'model.safetensors': good } });
  const folder = await downloadModel('org/sized', opts('sized'));
  assert.ok(fs.readFileSync(path.join(folder, 'model.safetensors')).equals(weights));
  repos.set('org/corrupt', { dir: repos.get('org/tiny')!.dir, withSizes: true, lfsSha: { 'model.safetensors': 'f'.repeat(64) } });
  seen.length = 0;
  await assert.rejects(downloadModel('org/corrupt', opts('corrupt')), (e: unknown) => e instanceof InputError && /SHA-256 .* does not match/.test(e.message));
  assert.equal(fileRequests().filter((r) => r.path.endsWith('model.safetensors')).length, 1, 'integrity failures are not retried');
  const f2 = modelCacheFolder('org/corrupt', 'main', cacheOf('corrupt'));
  assert.ok(!fs.existsSync(path.join(f2, 'model.safetensors')) && !fs.existsSync(path.join(f2, 'model.safetensors.part')));
});

test('sharded safetensors: the index, then the shards it names; revisions and explicit file lists', async () => {
  const s1 = crypto.randomBytes(1000), s2 = crypto.randomBytes(2000);
  const index = JSON.stringify({ metadata: {}, weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors', c: 'model-00001-of-00002.safetensors' } });
  repos.set('sharded', { dir: makeRepo('sharded', {
    'config.json': '{}', 'model.safetensors.index.json': index,
    'model-00001-of-00002.safetensors': s1, 'model-00002-of-00002.safetensors': s2, 'model-00003-of-00002.safetensors': 'stray',
  }) });
  const folder = await downloadModel('sharded', { ...opts('sharded'), revision: 'v1.0' });
  assert.equal(folder, path.join(cacheOf('sharded'), 'sharded', 'v1.0'));
  assert.ok(fs.readFileSync(path.join(folder, 'model-00002-of-00002.safetensors')).equals(s2));
  assert.ok(!fs.existsSync(path.join(folder, 'model-00003-of-00002.safetensors')));
  const only = await downloadModel('org/tiny', { ...opts('only'), files: ['config.json', 'onnx/*.onnx'] });
  assert.deepEqual(listFiles(only).filter((f) => !f.startsWith('.')).sort(), ['config.json', 'onnx/model.onnx']);
  await assert.rejects(downloadModel('org/tiny', { ...opts('only'), files: ['nope.bin'] }), /no file nope\.bin/);
  await assert.rejects(downloadModel('org/tiny', { ...opts('only'), revision: '../x' }), UsageError);
});

test('a new commit on the revision replaces the cached files', async () => {
  const dir = makeRepo('moving', { 'config.json': '{"v":1}', 'model.safetensors': 'old weights' });
  repos.set('org/moving', { dir, sha: 'c1' });
  const folder = await downloadModel('org/moving', opts('moving'));
  fs.writeFileSync(path.join(dir, 'model.safetensors'), 'new weights!');
  repos.set('org/moving', { dir, sha: 'c2' });
  await downloadModel('org/moving', opts('moving'));
  assert.equal(fs.readFileSync(path.join(folder, 'model.safetensors'), 'utf8'), 'new weights!');
});

test('file selection from a listing', () => {
  const onnxRepo = ['config.json', 'tokenizer.json', 'onnx/model.onnx', 'onnx/model.onnx_data', 'onnx/model_q4.onnx', 'onnx/model_fp16.onnx', 'onnx/model_fp16.onnx_data'];
  assert.deepEqual(selectModelFiles(onnxRepo, 'x'), { kind: 'onnx', files: ['config.json', 'tokenizer.json', 'onnx/model.onnx', 'onnx/model.onnx_data'] });
  assert.deepEqual(externalData(['m.onnx', 'm.onnx_data', 'm.onnx_data_1', 'm.onnx.data', 'm.onnxfoo'], 'm.onnx'), ['m.onnx.data', 'm.onnx_data', 'm.onnx_data_1']);
  assert.match(selectModelFiles(['config.json', 'pytorch_model.bin'], 'x') as string, /only PyTorch\/GGUF weights/);
  assert.deepEqual(selectModelFiles(['config.json', 'model.safetensors', 'onnx/model.onnx', 'vocab.json', 'merges.txt'], 'x'),
    { kind: 'safetensors', files: ['config.json', 'vocab.json', 'merges.txt', 'model.safetensors'] });
});

test('resolveModelSpec: local paths as is, hub ids (with @revision) downloaded, clear errors otherwise', async () => {
  const o = { ...opts('resolve'), progressBar: false };
  assert.equal(await resolveModelSpec(root, o), root);
  assert.equal(await resolveModelSpec('org/tiny@main', o), path.join(cacheOf('resolve'), 'org--tiny', 'main'));
  await assert.rejects(resolveModelSpec('./models/nope', o), (e: unknown) => e instanceof InputError && e.message === './models/nope: no such file or folder');
  await assert.rejects(resolveModelSpec('nope/model.onnx', o), /nope\/model\.onnx: no such file or folder$/);
  await assert.rejects(resolveModelSpec('typo-model', o), (e: unknown) => e instanceof InputError && /^typo-model: no such local file or folder, and not found or gated on /.test(e.message));
});

test('quantize and qat take a hub id like eval and bench: the model is downloaded into the cache, then read', async () => {
  const env = { HF_ENDPOINT: process.env.HF_ENDPOINT, QUANTLAB_CACHE: process.env.QUANTLAB_CACHE };
  process.env.HF_ENDPOINT = endpoint;
  process.env.QUANTLAB_CACHE = cacheOf('cli');
  const error = console.error, log = console.log;
  const err: string[] = [];
  console.error = (...a: unknown[]) => { err.push(a.join(' ')); };
  console.log = () => {};
  try {
    const out = path.join(root, 'cli-out');
    assert.equal(await main(['quantize', '--model', 'org/gpt2-prefix', '--method', 'dynamic-int8', '--out', out]), 0, err.join('\n'));
    assert.ok(fs.existsSync(path.join(out, 'onnx', 'model.onnx')));
    assert.ok(fs.existsSync(path.join(cacheOf('cli'), 'org--gpt2-prefix', 'main', 'model.safetensors')));
    // qat reaches the same resolver: a hub id that does not exist is named as such, not as a missing folder.
    assert.equal(await main(['qat', '--model', 'org/missing', '--out', path.join(root, 'qat-out')]), 1);
    assert.match(err.at(-1)!, /org\/missing: no such local file or folder, and not found or gated on /);
  } finally {
    console.error = error; console.log = log;
    for (const [k, v] of Object.entries(env)) { if (v === undefined) delete process.env[k]; else process.env[k] = v; }
  }
});
