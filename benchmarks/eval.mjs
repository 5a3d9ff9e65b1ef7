// npm run bench:eval — FP32 baseline numbers: perplexity, latency (prefill 512, decode) and size for the
// embedded 12M GPT-2 and a synthetic GPT-2 124M (random weights: latency and size only).
// Each model is evaluated in its own process (so peak RSS is per model) through the CLI.
// Writes results/eval-bench.json and results/eval-bench.md.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const cli = path.join(root, 'bin', 'quantlab.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ql-bench-eval-'));
const threads = process.env.THREADS ?? '2';
const reps = process.env.REPS ?? '10';

function run(args) {
  const r = spawnSync(process.execPath, [cli, ...args], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, QUANTLAB_NO_PROGRESS: '1' } });
  if (r.status !== 0) throw new Error(`quantlab ${args.join(' ')} failed (${r.status})`);
}

function evalJson(name, args) {
  const out = path.join(tmp, `${name}.json`);
  console.log(`\n== ${name}`);
  run(['eval', ...args, '--threads', threads, '--reps', reps, '--json', out]);
  return JSON.parse(fs.readFileSync(out, 'utf8'));
}

const synthDir = path.join(root, '.cache', 'synth', 'gpt2');
if (!fs.existsSync(path.join(synthDir, 'model.safetensors'))) run(['synth', '--arch', 'gpt2', '--preset', 'gpt2', '--out', synthDir]);

const rows = [
  { label: 'gpt2-brown-12m, Brown test', r: evalJson('gpt2-brown-12m-brown', ['--model', path.join(root, 'models', 'gpt2-brown-12m'), '--dataset', 'brown', '--ctx', '512', '--stride', '256']) },
  { label: 'gpt2-brown-12m, WikiText-2 test', r: evalJson('gpt2-brown-12m-wikitext2', ['--model', path.join(root, 'models', 'gpt2-brown-12m'), '--dataset', 'wikitext2', '--ctx', '512', '--stride', '256', '--no-latency']) },
  { label: 'synthetic GPT-2 124M (random weights)', r: evalJson('gpt2-124m-synthetic', ['--model', synthDir, '--no-perplexity', '--prompt-tokens', '512']) },
];

const machine = rows[0].r.machine;
const result = { schema: 'quantlab.bench-eval/1', date: new Date().toISOString(), machine, threads: Number(threads), rows: rows.map(({ label, r }) => ({ label, ...r })) };
fs.mkdirSync(path.join(root, 'results'), { recursive: true });
const jsonFile = path.join(root, 'results', 'eval-bench.json');
fs.writeFileSync(jsonFile + '.tmp', JSON.stringify(result, null, 2) + '\n');
fs.renameSync(jsonFile + '.tmp', jsonFile);

const f = (x, d = 2) => (x == null ? '—' : Number(x).toFixed(d));
const mb = (b) => (b / 1e6).toFixed(2);
let md = `# FP32 baseline (npm run bench:eval)\n\n${result.date} · ${machine.cpu} · ${machine.cores} cores · onnxruntime-node ${machine.onnxruntime} · Node ${machine.node} · threads ${threads}\n\n`;
md += '| model / data | perplexity | tokens scored | prefill 512 p50 / p95 ms | decode ms/token p50 / p95 | decode tok/s | file MB | params | param bytes | peak RSS MiB |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n';
for (const { label, r } of rows) {
  const l = r.latency;
  md += `| ${label} | ${f(r.perplexity, 4)} | ${r.tokens_scored || '—'} | ${l ? `${f(l.prefill_ms.p50)} / ${f(l.prefill_ms.p95)}` : '—'} | ${l ? `${f(l.decode_ms.p50, 3)} / ${f(l.decode_ms.p95, 3)}` : '—'} | ${l ? f(l.decode_tokens_per_s, 1) : '—'} | ${mb(r.size.file_bytes)} | ${r.size.param_count.toLocaleString('en-US')} | ${r.size.param_bytes.toLocaleString('en-US')} | ${(r.peak_rss_bytes / 2 ** 20).toFixed(0)} |\n`;
}
md += `\nProtocol: HF sliding window, ctx 512, stride 256; prefill = one forward pass over 512 prompt tokens returning the last position's logits (as generation does); decode = one token per pass with the KV cache (32 tokens after ${rows[0].r.latency?.decode_context ?? '?'} tokens of context for the 512-position model), ${reps} repetitions after 2 warm-up runs. The 124M model has random weights: no perplexity. The 12M model was trained on Brown only, so its WikiText-2 perplexity is out of domain (and WikiText-2 raw has its own tokenization artefacts such as " @-@ ").\n`;
fs.writeFileSync(path.join(root, 'results', 'eval-bench.md'), md);
console.log('\n' + md);
fs.rmSync(tmp, { recursive: true, force: true });
