// npm run bench:large — a model larger than this machine's memory in FP32 (issue 12): a synthetic
// BF16 mistral-7b (14.5 GB on disk, 29 GB in FP32) is inspected, quantized with each streaming
// method, and each variant run (`eval --no-perplexity`: prefill/decode latency and peak RSS), each
// command in its own process: wall time and peak RSS. MODEL_PRESET, METHODS, PROMPT, DECODE
// override the defaults. Writes results/large-model.{json,md}.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const preset = process.env.MODEL_PRESET ?? 'mistral-7b';
const methods = (process.env.METHODS ?? 'int4-weight,int8-weight,dynamic-int8').split(',');
const model = path.join(root, '.cache', 'synth', `${preset}-bf16`);
const env = { ...process.env, QUANTLAB_NO_PROGRESS: '1', GLIBC_TUNABLES: process.env.GLIBC_TUNABLES ?? 'glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296' };

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
    const e = run(['eval', '--model', out, '--no-perplexity', '--prompt-tokens', process.env.PROMPT ?? '32', '--decode-tokens', process.env.DECODE ?? '8', '--reps', '3', '--json', json]);
    const lat = e.status === 0 ? JSON.parse(fs.readFileSync(json, 'utf8')).latency : null;
    rows.push({ step: `eval ${m}`, ...e, out_bytes: outBytes, prefill_p50_ms: lat?.prefill_ms.p50, decode_p50_ms: lat?.decode_ms.p50, prompt_tokens: lat?.prompt_tokens });
    console.log(rows.at(-1));
  }
  fs.rmSync(out, { recursive: true, force: true });
}
const { machineInfo } = await import('../dist/eval/latency.js');
const result = { schema: 'quantlab.bench-large/1', date: new Date().toISOString(), machine: machineInfo(), preset, model_disk_bytes: diskBytes, rows };
const outFile = path.join(root, 'results', 'large-model');
fs.writeFileSync(`${outFile}.json.tmp`, JSON.stringify(result, null, 2) + '\n');
fs.renameSync(`${outFile}.json.tmp`, `${outFile}.json`);
const gib = (b) => (b / 2 ** 30).toFixed(2);
let md = `# A model larger than memory: ${preset} (npm run bench:large)\n\n${result.date} · ${result.machine.cpu} (${(result.machine.cpu_features ?? []).join(', ')}) · ${result.machine.cores} cores · ${gib(result.machine.memory_bytes)} GiB RAM · Node ${result.machine.node}\n\n`;
md += `Synthetic BF16 checkpoint (\`quantlab synth --preset ${preset} --dtype bf16\`): ${gib(diskBytes)} GiB on disk, twice that in FP32. Each command runs in its own process; peak RSS is that process's maximum resident set.\n\n`;
md += '| step | wall s | pass s | peak RSS GiB | variant GiB | prefill p50 ms | decode p50 ms/tok | output files |\n|---|---:|---:|---:|---:|---:|---:|---|\n';
for (const r of rows) md += `| ${r.step}${r.status === 0 ? '' : ' (failed)'} | ${r.wall_s} | ${r.pass_s ?? '—'} | ${gib(r.peak_rss_bytes)} | ${r.out_bytes ? gib(r.out_bytes) : '—'} | ${r.prefill_p50_ms ? `${r.prefill_p50_ms.toFixed(0)} (${r.prompt_tokens} tokens)` : '—'} | ${r.decode_p50_ms?.toFixed(0) ?? '—'} | ${(r.out_files ?? []).join(', ')} |\n`;
fs.writeFileSync(`${outFile}.md`, md);
console.log(md);
