// npm run bench:large — a model larger than this machine's memory in FP32 (issue 12): a synthetic
// BF16 mistral-7b (14.5 GB on disk, 29 GB in FP32) is inspected, quantized with each streaming
// method, and each variant run: `eval` (perplexity over 512 tokens of a text in the word-level
// test tokenizer's vocabulary, prefill/decode latency, peak RSS) and, for int4-weight, `bench`
// (whose FP32 baseline cannot fit here). Each command in its own process: wall time and peak RSS.
// MODEL_PRESET, METHODS, PROMPT, DECODE override the defaults. Writes results/large-model.{json,md}
// and results/large-model-bench/.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TUNABLES } from './allocator.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const preset = process.env.MODEL_PRESET ?? 'mistral-7b';
const methods = (process.env.METHODS ?? 'int4-weight,int8-weight,dynamic-int8').split(',');
const model = path.join(root, '.cache', 'synth', `${preset}-bf16`);
const env = { ...process.env, QUANTLAB_NO_PROGRESS: '1', GLIBC_TUNABLES: process.env.GLIBC_TUNABLES ?? TUNABLES };

/** Run `quantlab <args>` in a fresh process; its wall time and peak RSS. */
function run(args) {
  const code = `const { main } = await import(${JSON.stringify(path.join(root, 'dist', 'cli', 'main.js'))});
const c = await main(${JSON.stringify(args)});
console.error('RSS ' + process.resourceUsage().maxRSS * 1024);
process.exit(c);`;
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', env, maxBuffer: 1 << 26 });
  const wall = (performance.now() - t0) / 1000;
  const rss = Number((r.stderr.match(/RSS (\d+)/) ?? [])[1] ?? NaN);
  if (r.status !== 0) console.error(r.stderr.slice(-2000));
  return { args: args.join(' '), status: r.status, wall_s: +wall.toFixed(1), peak_rss_bytes: rss };
}

if (!fs.existsSync(path.join(model, 'config.json'))) {
  const r = run(['synth', '--preset', preset, '--dtype', 'bf16', '--out', model]);
  if (r.status !== 0) process.exit(1);
}
// Random weights have no tokenizer: a word-level one ("w3" … "w{V-1}") and a text in its words let
// the perplexity path run at this size (the number itself is meaningless).
const { writeWordTokenizer } = await import('../dist/testing/word-tokenizer.js');
const config = JSON.parse(fs.readFileSync(path.join(model, 'config.json'), 'utf8'));
if (!fs.existsSync(path.join(model, 'tokenizer.json'))) writeWordTokenizer(model, config.vocab_size, { bos: config.bos_token_id, eos: config.eos_token_id });
const text = path.join(os.tmpdir(), 'ql-large-words.txt');
let seed = 7;
fs.writeFileSync(text, Array.from({ length: 4000 }, () => { seed = (seed * 1103515245 + 12345) >>> 0; return `w${3 + (seed % 2000)}`; }).join(' '));
const diskBytes = fs.readdirSync(model).filter((f) => f.endsWith('.safetensors')).reduce((n, f) => n + fs.statSync(path.join(model, f)).size, 0);
const rows = [{ step: 'inspect', ...run(['inspect', model, '--json', path.join(os.tmpdir(), 'ql-large-inspect.json')]) }];
console.log(rows[0]);
for (const m of methods) {
  const out = path.join(os.tmpdir(), `ql-large-${m}`);
  fs.rmSync(out, { recursive: true, force: true });
  const r = run(['quantize', '--model', model, '--method', m, '--out', out]);
  const files = fs.existsSync(path.join(out, 'onnx')) ? fs.readdirSync(path.join(out, 'onnx')) : [];
  const outBytes = files.reduce((n, f) => n + fs.statSync(path.join(out, 'onnx', f)).size, 0);
  const rec = fs.existsSync(path.join(out, 'quantlab.json')) ? JSON.parse(fs.readFileSync(path.join(out, 'quantlab.json'), 'utf8')) : null;
  rows.push({ step: `quantize ${m}`, ...r, out_files: files, out_bytes: outBytes, pass_s: rec ? rec.timing.pass_ms / 1000 : null });
  console.log(rows.at(-1));
  if (r.status === 0) {
    const json = path.join(os.tmpdir(), `ql-large-eval-${m}.json`);
    const e = run(['eval', '--model', out, '--dataset', text, '--max-tokens', '512', '--ctx', '128', '--batch', '1', '--prompt-tokens', process.env.PROMPT ?? '32', '--decode-tokens', process.env.DECODE ?? '8', '--reps', '3', '--json', json]);
    const ev = e.status === 0 ? JSON.parse(fs.readFileSync(json, 'utf8')) : null;
    const lat = ev?.latency;
    rows.push({ step: `eval ${m}`, ...e, out_bytes: outBytes, perplexity_tokens: ev?.tokens_scored, prefill_p50_ms: lat?.prefill_ms.p50, decode_p50_ms: lat?.decode_ms.p50, prompt_tokens: lat?.prompt_tokens });
    console.log(rows.at(-1));
  }
  fs.rmSync(out, { recursive: true, force: true });
}
// bench: FP32 (≈ 34 GB to run) is not run; the int4 variant is measured and the report says why.
if (methods.includes('int4-weight')) {
  const out = path.join(root, 'results', 'large-model-bench');
  const b = run(['bench', '--model', model, '--methods', 'fp32,int4-weight', '--no-quality', '--prompt-tokens', process.env.PROMPT ?? '32', '--decode-tokens', process.env.DECODE ?? '8', '--reps', '3', '--out', out]);
  fs.rmSync(path.join(out, 'variants'), { recursive: true, force: true });
  rows.push({ step: 'bench fp32,int4-weight (FP32 cannot fit)', ...b });
  console.log(rows.at(-1));
}
const { machineInfo } = await import('../dist/index.js');
const outFile = path.join(root, 'results', 'large-model');
// A run of some METHODS updates their rows and keeps the others of an earlier run of the same preset.
const earlier = fs.existsSync(`${outFile}.json`) ? JSON.parse(fs.readFileSync(`${outFile}.json`, 'utf8')) : null;
if (earlier?.preset === preset) for (const r of earlier.rows) if (!rows.some((x) => x.step === r.step)) rows.push({ ...r, from_earlier_run: earlier.date });
const order = (r) => ['inspect', 'quantize', 'eval', 'bench'].indexOf(r.step.split(' ')[0]) * 10 + Math.max(0, ['int4-weight', 'int8-weight', 'dynamic-int8'].findIndex((m) => r.step.includes(m)));
rows.sort((a, b) => order(a) - order(b));
const result = { schema: 'quantlab.bench-large/1', date: new Date().toISOString(), machine: machineInfo(), preset, model_disk_bytes: diskBytes, rows };
fs.writeFileSync(`${outFile}.json.tmp`, JSON.stringify(result, null, 2) + '\n');
fs.renameSync(`${outFile}.json.tmp`, `${outFile}.json`);
const gib = (b) => (b / 2 ** 30).toFixed(2);
let md = `# A model larger than memory: ${preset} (npm run bench:large)\n\n${result.date} · ${result.machine.cpu} (${(result.machine.cpu_features ?? []).join(', ')}) · ${result.machine.cores} cores · ${gib(result.machine.memory_bytes)} GiB RAM · Node ${result.machine.node}\n\n`;
md += `Synthetic BF16 checkpoint (\`quantlab synth --preset ${preset} --dtype bf16\`): ${gib(diskBytes)} GiB on disk, twice that in FP32. Each command runs in its own process; peak RSS is that process's maximum resident set.\n\n`;
md += 'The word-level tokenizer and text only let the perplexity path run at this size: the model is random, the number meaningless.\n\n';
md += '| step | wall s | pass s | peak RSS GiB | variant GiB | tokens scored | prefill p50 ms | decode p50 ms/tok | output files |\n|---|---:|---:|---:|---:|---:|---:|---:|---|\n';
for (const r of rows) md += `| ${r.step}${r.status === 0 ? '' : ' (failed)'}${r.from_earlier_run ? ` (run ${r.from_earlier_run.slice(0, 16)})` : ''} | ${r.wall_s} | ${r.pass_s ?? '—'} | ${gib(r.peak_rss_bytes)} | ${r.out_bytes ? gib(r.out_bytes) : '—'} | ${r.perplexity_tokens ?? '—'} | ${r.prefill_p50_ms ? `${r.prefill_p50_ms.toFixed(0)} (${r.prompt_tokens} tokens)` : '—'} | ${r.decode_p50_ms?.toFixed(0) ?? '—'} | ${(r.out_files ?? []).join(', ')} |\n`;
fs.writeFileSync(`${outFile}.md`, md);
console.log(md);
