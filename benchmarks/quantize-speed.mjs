// npm run bench:quantize — how fast each weight pass runs and how much memory it needs, on the
// synthetic GPT-2 124M (497.8 MB of FP32 weights): MB of FP32 weights per second of pass time
// (from quantlab.json) and the peak RSS of the whole `quantize` (load + pass + write) as a multiple
// of the FP32 model size. Each method runs in its own process. Targets (issue 3): ≥ 100 MB/s, ≤ 2.5×.
// METHODS takes bench method names, so calibrated algorithms time too (METHODS=int4-weight:gptq); a
// model without a tokenizer (synthetic Llama shapes) calibrates on the embedded GPT-2 tokenizer's ids
// modulo its vocabulary (random weights: the timing is real, the quality meaningless).
// Writes results/<OUT or quantize-speed>.{json,md}.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const methods = (process.env.METHODS ?? 'dynamic-int8,fp16,bf16,int8-weight,int4-weight').split(',');

if (process.argv[2] === '--worker') {
  const [, , , model, method, out] = process.argv;
  const { loadModel } = await import('../dist/index.js');
  const { quantizeToFolder } = await import('../dist/index.js');
  const { methodSpec } = await import('../dist/bench/variants.js');
  const lm = loadModel(model);
  if (!lm.tokenizer) {
    const tok = loadModel(path.join(root, 'models', 'gpt2-brown-12m')).tokenizer;
    const vocab = JSON.parse(fs.readFileSync(path.join(model, 'config.json'), 'utf8')).vocab_size;
    lm.tokenizer = { ...tok, encode: (s) => Array.from(tok.encode(s), (i) => i % vocab) };
  }
  // CALIB_WINDOWS: fewer calibration windows (a peak-memory check of a large shape in less time).
  const config = { ...methodSpec(method).config, ...(process.env.CALIB_WINDOWS ? { calibWindows: Number(process.env.CALIB_WINDOWS) } : {}) };
  const r = await quantizeToFolder({ model: lm, config, out });
  console.log(JSON.stringify({ method, ...r.record.timing, out_bytes: r.outBytes, source_bytes: r.sourceBytes, peak_rss_bytes: process.resourceUsage().maxRSS * 1024 }));
  process.exit(0);
}

const model = process.env.MODEL ?? path.join(root, '.cache', 'synth', 'gpt2');
const cli = path.join(root, 'bin', 'quantlab.js');
if (!fs.existsSync(path.join(model, 'config.json'))) {
  const r = spawnSync(process.execPath, [cli, 'synth', '--arch', 'gpt2', '--preset', 'gpt2', '--out', model], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(1);
}
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ql-qspeed-'));
// The allocator as a user runs quantlab (glibc defaults): the latency benchmarks' GLIBC_TUNABLES
// (a fixed mmap threshold, no trimming) would keep freed memory and overstate the peak.
const env = { ...process.env, QUANTLAB_NO_PROGRESS: '1' };
const rows = methods.map((m) => {
  const r = spawnSync(process.execPath, [new URL(import.meta.url).pathname, '--worker', model, m, path.join(tmp, m.replace(/[^a-z0-9.-]/gi, '_'))], { encoding: 'utf8', env });
  const line = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (r.status !== 0 || !line) return { method: m, error: (r.stderr || '').trim().split('\n').pop() };
  const x = JSON.parse(line);
  return { ...x, rss_x_fp32: x.peak_rss_bytes / x.source_weight_bytes };
});
fs.rmSync(tmp, { recursive: true, force: true });
const { machineInfo } = await import('../dist/index.js');
const result = { schema: 'quantlab.bench-quantize/1', date: new Date().toISOString(), machine: machineInfo(), model, rows };
const out = path.join(root, 'results', process.env.OUT ?? 'quantize-speed');
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(`${out}.json.tmp`, JSON.stringify(result, null, 2) + '\n');
fs.renameSync(`${out}.json.tmp`, `${out}.json`);
let md = `# Quantization speed and memory (npm run bench:quantize)\n\n${result.date} · ${result.machine.cpu} (${(result.machine.cpu_features ?? []).join(', ')}) · ${result.machine.cores} cores · Node ${result.machine.node}\n\n`;
md += `Model: ${path.basename(model)} (${rows.find((r) => r.source_weight_bytes)?.source_weight_bytes.toLocaleString('en-US') ?? '?'} bytes of FP32 weights). Pass speed = FP32 weight MB / pass wall time (load and write excluded); peak RSS = the whole quantize process (load + pass + write, glibc allocator defaults), as a multiple of the FP32 weight bytes.\n\n`;
md += '| method | pass s | MB/s (wall) | MB/s (CPU) | peak RSS MiB | × FP32 size | output bytes |\n|---|---:|---:|---:|---:|---:|---:|\n';
for (const r of rows) md += r.error ? `| ${r.method} | failed: ${r.error} | | | | | |\n` : `| ${r.method} | ${(r.pass_ms / 1000).toFixed(2)} | ${r.mb_per_s} | ${r.mb_per_cpu_s} | ${(r.peak_rss_bytes / 2 ** 20).toFixed(0)} | ${r.rss_x_fp32.toFixed(2)}× | ${r.out_bytes.toLocaleString('en-US')} |\n`;
fs.writeFileSync(`${out}.md`, md);
console.log(md);
