// npm run bench:train — training throughput of quantlab's Trainer (onnxruntime-node forward +
// backward graph, AdamW in JS) against PyTorch on this machine: the same GPT-2 checkpoint, batch,
// sequence length, threads, clipping and optimizer; plain fine-tuning and QAT (fake quantization).
// Each measurement runs in its own process (peak RSS per run); the ratio comes from one run.
// Writes results/train-throughput.{json,md}. PyTorch: Debian's python3-torch via /usr/bin/python3
// (its BLAS is whatever libblas.so.3 points to: install libopenblas0-pthread for a fair comparison).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { TUNABLES } from './allocator.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const model = process.env.MODEL ?? path.join(root, 'models', 'gpt2-brown-12m');
const batch = Number(process.env.BATCH ?? 8), seq = Number(process.env.SEQ ?? 512), steps = Number(process.env.STEPS ?? 5), threads = Number(process.env.THREADS ?? 2);

if (process.argv[2] === '--worker') {
  // One quantlab measurement in this process: 1 warm-up step, then `steps` timed steps.
  const mode = process.argv[3];
  const { loadModel } = await import('../dist/index.js');
  const { Trainer } = await import('../dist/train/trainer.js');
  const { defaultTrainable } = await import('../dist/autodiff/trainable.js');
  const { insertFakeQuant, weightMatMuls, maxAbsRanges } = await import('../dist/passes/fake-quant.js');
  const m = loadModel(model);
  let graph = m.graph({ kvCache: false });
  let params = defaultTrainable(graph), stop;
  const rnd = (s) => BigInt64Array.from({ length: batch * seq }, (_, i) => BigInt((Math.imul(i + 1, 2654435761) + s * 7919 >>> 0) % m.config.vocabSize));
  if (mode === 'qat') {
    const xs = [...new Set(weightMatMuls(graph).filter((n) => n.inputs[1].constant.dims[1] !== m.config.vocabSize).map((n) => n.inputs[0].name))];
    const ranges = await maxAbsRanges(graph, xs, [Array.from(rnd(99).subarray(0, seq), Number)], { session: { threads } });
    const fq = insertFakeQuant(graph, { activationRanges: ranges });
    graph = fq.model;
    params = [...params, ...fq.activationScales];
    stop = fq.weightScales;
  }
  const t = await Trainer.create(graph, { params, stopGradient: stop, schedule: { peak: 1e-5, warmupSteps: 0, totalSteps: steps + 1 }, adamw: { weightDecay: 0.01 }, maxGradNorm: 1, threads });
  const times = [];
  for (let s = 0; s <= steps; s++) {
    const a = performance.now();
    await t.trainStep(rnd(s), batch, seq);
    if (s > 0) times.push((performance.now() - a) / 1000);
  }
  times.sort((a, b) => a - b);
  const med = times[times.length >> 1];
  console.log(JSON.stringify({ framework: `quantlab (onnxruntime-node)${mode === 'qat' ? ', QAT fake-quant' : ''}`, mode, threads, batch, seq, steps, step_s_median: med, tokens_per_s: (batch * seq) / med, peak_rss_mib: process.resourceUsage().maxRSS / 1024 }));
  process.exit(0);
}

function json(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, QUANTLAB_NO_PROGRESS: '1' } });
  const line = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (r.status !== 0 || !line) return { error: (r.stderr || r.stdout).trim().split('\n').pop() };
  return JSON.parse(line);
}

const self = new URL(import.meta.url).pathname;
process.env.GLIBC_TUNABLES ??= TUNABLES;
const rows = [
  json(process.execPath, [self, '--worker', 'plain']),
  json('/usr/bin/python3', [path.join(root, 'benchmarks', 'train_pytorch.py'), model, String(batch), String(seq), String(steps), String(threads)]),
  json(process.execPath, [self, '--worker', 'qat']),
];
const { machineInfo } = await import('../dist/index.js');
const result = { schema: 'quantlab.bench-train/1', date: new Date().toISOString(), machine: machineInfo(), model, batch, seq, steps, threads, rows };
const ours = rows[0], torch = rows[1];
result.ratio_tokens_per_s = ours.tokens_per_s && torch.tokens_per_s ? ours.tokens_per_s / torch.tokens_per_s : null;
fs.mkdirSync(path.join(root, 'results'), { recursive: true });
const out = path.join(root, 'results', 'train-throughput');
fs.writeFileSync(`${out}.json.tmp`, JSON.stringify(result, null, 2) + '\n');
fs.renameSync(`${out}.json.tmp`, `${out}.json`);
let md = `# Training throughput: quantlab vs PyTorch (npm run bench:train)\n\n${result.date} · ${result.machine.cpu} (${(result.machine.cpu_features ?? []).join(', ')}) · ${result.machine.cores} cores · threads ${threads} · onnxruntime-node ${result.machine.onnxruntime}\n\n`;
md += `Model ${path.basename(model)}, batch ${batch} × seq ${seq} tokens per step, full fine-tuning (forward, cross-entropy, backward, clip 1, AdamW), median of ${steps} steps after 1 warm-up, each in its own process.\n\n`;
md += '| trainer | tokens/s | step s (median) | peak RSS MiB |\n|---|---:|---:|---:|\n';
for (const r of rows) md += r.error ? `| (failed) | — | — | ${r.error} |\n` : `| ${r.framework}${r.blas ? ` (BLAS ${r.blas})` : ''} | ${r.tokens_per_s.toFixed(0)} | ${r.step_s_median.toFixed(2)} | ${r.peak_rss_mib.toFixed(0)} |\n`;
if (result.ratio_tokens_per_s) md += `\nquantlab / PyTorch tokens/s: **${result.ratio_tokens_per_s.toFixed(2)}×** (same run, same machine, same threads).\n`;
fs.writeFileSync(`${out}.md`, md);
console.log(md);
