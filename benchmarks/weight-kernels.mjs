// npm run bench:weight-kernels — weight-only formats under each onnxruntime kernel choice (block
// size × MatMulNBits accuracy level: 4 = int8 activations with VNNI, 0 = float32 compute) against
// FP32, prefill and decode, round-robin in one process per model (bench/latency.ts), 2 threads:
// whether any choice gives a weight-only prefill at least as fast as FP32 (issue 13). Embedded 12M
// GPT-2 (K = 192 and 768) and the synthetic GPT-2 124M shape (K = 768 and 3,072). REPS overrides.
// Writes results/weight-kernels.{json,md}.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { root, synthModel } from './synth.mjs';
import { withAllocatorSettings } from './allocator.mjs';

withAllocatorSettings(import.meta.url);
const { loadModel, loadDataset, machineInfo, quantizeToFolder, resolveConfig } = await import('../dist/index.js');
const { prepareVariant } = await import('../dist/bench/variants.js');
const { measureInterleaved } = await import('../dist/bench/latency.js');

const REPS = Number(process.env.REPS ?? 6);
const embedded = path.join(root, 'models', 'gpt2-brown-12m');
const MODELS = [
  // int8 weights at accuracy level 0 have no fast MLAS kernel (~100× slower): timed on the small model only.
  { name: 'gpt2-brown-12m', dir: embedded, prompt: 480, extra: ['int8-weight:32:0'] },
  { name: 'gpt2-124m', dir: synthModel('gpt2', 'f32', embedded), prompt: 512, extra: [] },
];
const CHOICES = ['int4-weight:32:4', 'int4-weight:32:0', 'int4-weight:64:4', 'int4-weight:64:0', 'int4-weight:128:4', 'int8-weight:32:4'];
const ids = loadModel(embedded).tokenizer.encode(loadDataset('brown', 'test').text.slice(0, 20000));
const models = [];
for (const m of MODELS) {
  const loaded = loadModel(m.dir);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ql-wk-'));
  const entries = [{ name: 'fp32', model: (await prepareVariant(loaded, 'fp32', work)).model }];
  for (const c of [...CHOICES, ...m.extra]) {
    const [kind, block, level] = c.split(':');
    // blockFallback: a matrix whose K the block does not divide takes the largest block that does (block 128 at K = 192: 64).
    const config = { ...resolveConfig({ kind }), blockSize: Number(block), accuracyLevel: Number(level), blockFallback: true };
    const r = await quantizeToFolder({ model: loaded, config, out: path.join(work, c.replaceAll(':', '-')), explain: () => {} });
    entries.push({ name: `${kind}, block ${block}, accuracy ${level}`, model: r.result.model });
  }
  const lat = await measureInterleaved(entries, { promptTokens: m.prompt, decodeTokens: 32, warmup: 1, repetitions: REPS, session: { threads: 2 }, promptIds: ids, maxPositions: loaded.maxPositions });
  fs.rmSync(work, { recursive: true, force: true });
  const base = lat.results.get('fp32');
  const rows = entries.map((e) => {
    const r = lat.results.get(e.name);
    return { choice: e.name, prefill_p50_ms: r.prefill_ms.p50, decode_p50_ms: r.decode_ms.p50, speedup_prefill: base.prefill_ms.p50 / r.prefill_ms.p50, speedup_decode: base.decode_ms.p50 / r.decode_ms.p50 };
  });
  models.push({ model: m.name, prompt_tokens: m.prompt, decode_tokens: 32, repetitions: REPS, rows });
  console.log(`${m.name}: done`);
}
const result = { schema: 'quantlab.bench-weight-kernels/1', date: new Date().toISOString(), machine: machineInfo(), load_average: os.loadavg(), threads: 2, models };
const out = path.join(root, 'results', 'weight-kernels');
fs.writeFileSync(`${out}.json.tmp`, JSON.stringify(result, null, 2) + '\n');
fs.renameSync(`${out}.json.tmp`, `${out}.json`);
let md = `# Weight-only kernel choices against FP32 (npm run bench:weight-kernels)\n\n${result.date} · ${result.machine.cpu} (${(result.machine.cpu_features ?? []).join(', ')}) · ${result.machine.cores} cores, 2 threads · onnxruntime ${result.machine.onnxruntime} · load average ${result.load_average.map((x) => x.toFixed(2)).join(' / ')}\n\nAll rows of a model round-robin in one run (1 warm-up + ${REPS} rounds). Accuracy level 4: MatMulNBits quantizes activations to int8 and uses VNNI; 0: float32 compute. Block 128 falls back to the largest block dividing K (64 at K = 192).\n`;
for (const s of models) {
  md += `\n## ${s.model}\n\nprompt ${s.prompt_tokens} tokens, then ${s.decode_tokens} decode steps.\n\n| format | prefill p50 ms | prefill vs FP32 | decode p50 ms | decode vs FP32 |\n|---|---:|---:|---:|---:|\n`;
  for (const r of s.rows) md += `| ${r.choice} | ${r.prefill_p50_ms.toFixed(1)} | ${r.speedup_prefill.toFixed(2)}× | ${r.decode_p50_ms.toFixed(2)} | ${r.speedup_decode.toFixed(2)}× |\n`;
}
fs.writeFileSync(`${out}.md.tmp`, md);
fs.renameSync(`${out}.md.tmp`, `${out}.md`);
console.log(md);
