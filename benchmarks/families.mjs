// npm run bench:families — the deployed families at real size (issue 11): for synthetic BF16
// checkpoints of qwen2.5-0.5b, gemma3-1b and llama3.2-1b, the quantize time and peak RSS of
// int4-weight and dynamic-int8 (one process per method, as bench:quantize measures them) and the
// prefill/decode latency of FP32 and each variant (`quantlab bench --no-quality`, round-robin in
// one run). PRESETS, METHODS, PROMPT, DECODE, REPS override the defaults.
// Writes results/families/{summary.json, summary.md} and one bench report folder per preset.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TUNABLES } from './allocator.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const presets = (process.env.PRESETS ?? 'qwen2.5-0.5b,gemma3-1b,llama3.2-1b').split(',');
const methods = (process.env.METHODS ?? 'int4-weight,dynamic-int8').split(',');
const cli = path.join(root, 'bin', 'quantlab.js');
const env = { ...process.env, QUANTLAB_NO_PROGRESS: '1', GLIBC_TUNABLES: process.env.GLIBC_TUNABLES ?? TUNABLES };
const outRoot = path.join(root, 'results', 'families');
fs.mkdirSync(outRoot, { recursive: true });

const summary = [];
for (const preset of presets) {
  const model = path.join(root, '.cache', 'synth', `${preset}-bf16`);
  if (!fs.existsSync(path.join(model, 'config.json'))) {
    const r = spawnSync(process.execPath, [cli, 'synth', '--preset', preset, '--dtype', 'bf16', '--out', model], { stdio: 'inherit', env });
    if (r.status !== 0) process.exit(1);
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ql-fam-'));
  const quantize = methods.map((m) => {
    const r = spawnSync(process.execPath, [path.join(root, 'benchmarks', 'quantize-speed.mjs'), '--worker', model, m, path.join(tmp, m)], { encoding: 'utf8', env });
    const line = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
    if (r.status !== 0 || !line) return { method: m, error: (r.stderr || '').trim().split('\n').pop() };
    const x = JSON.parse(line);
    console.log(`${preset} ${m}: pass ${(x.pass_ms / 1000).toFixed(1)} s, peak RSS ${(x.peak_rss_bytes / 2 ** 30).toFixed(2)} GiB`);
    return x;
  });
  fs.rmSync(tmp, { recursive: true, force: true });
  const benchOut = path.join(outRoot, preset);
  const t0 = performance.now();
  const b = spawnSync(process.execPath, [cli, 'bench', '--model', model, '--no-quality', '--no-memory', '--methods', ['fp32', ...methods].join(','), '--out', benchOut,
    '--prompt-tokens', process.env.PROMPT ?? '128', '--decode-tokens', process.env.DECODE ?? '16', '--reps', process.env.REPS ?? '3'], { stdio: 'inherit', env });
  const wall = (performance.now() - t0) / 1000;
  // The variants are cached for re-runs; at 1B parameters they are gigabytes: keep only the report.
  fs.rmSync(path.join(benchOut, 'variants'), { recursive: true, force: true });
  const report = b.status === 0 ? JSON.parse(fs.readFileSync(path.join(benchOut, 'report.json'), 'utf8')) : null;
  summary.push({ preset, model, quantize, bench_status: b.status, bench_wall_s: wall, rows: report?.rows.map((r) => ({ method: r.method, prefill_p50_ms: r.latency?.prefill_ms.p50, decode_p50_ms: r.latency?.decode_ms.p50, speedup_prefill: r.speedup_prefill, speedup_decode: r.speedup_decode, file_bytes: r.size.file_bytes, quantize_s: r.quantize_s })) ?? null });
}
const { machineInfo } = await import('../dist/index.js');
const result = { schema: 'quantlab.bench-families/1', date: new Date().toISOString(), machine: machineInfo(), summary };
fs.writeFileSync(path.join(outRoot, 'summary.json.tmp'), JSON.stringify(result, null, 2) + '\n');
fs.renameSync(path.join(outRoot, 'summary.json.tmp'), path.join(outRoot, 'summary.json'));
const gib = (b) => (b / 2 ** 30).toFixed(2);
let md = `# The deployed families at real size (npm run bench:families)\n\n${result.date} · ${result.machine.cpu} (${(result.machine.cpu_features ?? []).join(', ')}) · ${result.machine.cores} cores · Node ${result.machine.node} · onnxruntime ${result.machine.onnxruntime}\n\n`;
md += 'Synthetic BF16 checkpoints with the exact shapes (`quantlab synth --preset … --dtype bf16`; random weights, so no quality numbers). Quantize: one process per method (load + pass + write), peak RSS of that process. Latency: `quantlab bench --no-quality`, FP32 and the variants round-robin in one run; speedups are FP32 p50 / variant p50 from that run.\n\n';
md += '| preset | method | quantize pass s | quantize peak RSS GiB | output GiB | prefill p50 ms | decode p50 ms/tok | speedup prefill / decode |\n|---|---|---:|---:|---:|---:|---:|---:|\n';
for (const p of summary) {
  for (const r of p.rows ?? [{ method: 'fp32' }]) {
    const q = p.quantize.find((x) => x.method === r.method);
    md += `| ${p.preset} | ${r.method} | ${q?.pass_ms ? (q.pass_ms / 1000).toFixed(1) : q?.error ? `failed: ${q.error}` : '—'} | ${q?.peak_rss_bytes ? gib(q.peak_rss_bytes) : '—'} | ${r.file_bytes ? gib(r.file_bytes) : '—'} | ${r.prefill_p50_ms?.toFixed(0) ?? '—'} | ${r.decode_p50_ms?.toFixed(1) ?? '—'} | ${r.speedup_prefill ? `${r.speedup_prefill.toFixed(2)}× / ${r.speedup_decode.toFixed(2)}×` : '—'} |\n`;
  }
}
fs.writeFileSync(path.join(outRoot, 'summary.md'), md);
console.log(md);
