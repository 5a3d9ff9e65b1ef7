// npm run bench:speed — decode and prefill speed of every method against FP32 (issue 13), all in one
// process per model, round-robin (bench/latency.ts), with the KV cache in place (what quantlab's
// runtime runs) and, for FP32 and int4, with the concatenated cache too (what the exported graph
// costs when present tensors are fed back from JS). Then onnxruntime's profile of each: the share of
// a decode step spent outside onnxruntime. Models: the embedded 12M GPT-2, synthetic GPT-2 124M
// and TinyLlama-1.1B shapes (cached under .cache/synth/). MODELS, PROMPT, DECODE, REPS override.
// Writes results/speed/{summary.json, summary.md}.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { withAllocatorSettings } from './allocator.mjs';
import { root, synthModel } from './synth.mjs';

withAllocatorSettings(import.meta.url);
const { loadModel } = await import('../dist/index.js');
const { prepareVariant } = await import('../dist/bench/variants.js');
const { quantizeToFolder, resolveConfig } = await import('../dist/index.js');
const { measureInterleaved } = await import('../dist/bench/latency.js');
const { profileOps } = await import('../dist/bench/profile.js');
const { machineInfo } = await import('../dist/index.js');
const { loadDataset } = await import('../dist/index.js');

const MODELS = {
  'gpt2-brown-12m': { dir: path.join(root, 'models', 'gpt2-brown-12m'), prompt: 480, floats: true },
  // GPT-2's vocabulary: the embedded model's tokenizer serves static-int8's calibration text.
  'gpt2-124m': { preset: 'gpt2', dtype: 'f32', prompt: 512, floats: true, tokenizerFrom: path.join(root, 'models', 'gpt2-brown-12m') },
  'tinyllama-1.1b': { preset: 'tinyllama-1.1b', dtype: 'bf16', prompt: 512 },
};
const names = (process.env.MODELS ?? Object.keys(MODELS).join(',')).split(',');
const DECODE = Number(process.env.DECODE ?? 32), REPS = Number(process.env.REPS ?? 4);
const threads = Math.min(2, os.availableParallelism());
const outDir = path.join(root, 'results', 'speed');
fs.mkdirSync(outDir, { recursive: true });

const modelDir = (name) => MODELS[name].dir ?? synthModel(MODELS[name].preset, MODELS[name].dtype, MODELS[name].tokenizerFrom);

const summary = [];
for (const name of names) {
  const dir = modelDir(name);
  const loaded = loadModel(dir);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ql-speed-'));
  const v = {};
  // static-int8 calibrates on text: it needs a tokenizer (the synthetic Llama has none).
  // fp16/bf16 (storage formats, FP32 compute) and fp16:half (half compute, a GPU format) on the GPT-2 shapes only, to keep the 1.1B run short.
  for (const m of ['fp32', 'dynamic-int8', ...(loaded.tokenizer ? ['static-int8'] : []), 'int8-weight', 'int4-weight', ...(MODELS[name].floats ? ['fp16', 'fp16:half', 'bf16'] : [])]) {
    v[m] = (await prepareVariant(loaded, m, work)).model;
    console.log(`${name}: ${m} ready`);
  }
  // Block 128: MLAS's int4 kernel is about twice as fast per token as at block 32 (coarser scales).
  const b128 = await quantizeToFolder({ model: loaded, config: { ...resolveConfig({ kind: 'int4-weight' }), blockSize: 128, blockFallback: true }, out: path.join(work, 'int4-b128'), explain: () => {} });
  v['int4-weight b128'] = b128.result.model;
  const entries = [
    ...Object.entries(v).map(([n, model]) => ({ name: n, model })),
    { name: 'fp32 (concat cache)', model: v.fp32, cache: 'concat' },
    { name: 'int4-weight (concat cache)', model: v['int4-weight'], cache: 'concat' },
  ];
  const promptIds = loaded.tokenizer?.encode(loadDataset('brown', 'test').text.slice(0, 20000));
  const P = Math.min(MODELS[name].prompt, (loaded.maxPositions ?? Infinity));
  const ids = promptIds?.length ? promptIds : Array.from({ length: P }, (_, i) => (i * 7919) % (loaded.config?.vocabSize ?? 32000));
  const t0 = performance.now();
  const lat = await measureInterleaved(entries, { promptTokens: P, decodeTokens: DECODE, warmup: 1, repetitions: REPS, session: { threads }, promptIds: ids, maxPositions: loaded.maxPositions });
  console.log(`${name}: latency ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  const base = lat.results.get('fp32');
  const rows = [];
  for (const e of entries) {
    const r = lat.results.get(e.name);
    const prof = await profileOps(e.model, { promptIds: ids, promptTokens: P, maxPositions: loaded.maxPositions, session: { threads }, cache: e.cache });
    const d = prof.decode;
    rows.push({
      method: e.name, kv_cache: lat.cachePath.get(e.name),
      prefill_p50_ms: r.prefill_ms.p50, decode_p50_ms: r.decode_ms.p50, decode_p95_ms: r.decode_ms.p95, decode_mean_ms: r.decode_ms.mean,
      decode_tokens_per_s: 1000 / r.decode_ms.mean,
      speedup_prefill: base.prefill_ms.p50 / r.prefill_ms.p50, speedup_decode: base.decode_ms.p50 / r.decode_ms.p50,
      p95_over_p50: r.decode_ms.p95 / r.decode_ms.p50,
      outside_run_pct: r.decode_outside_run_pct,
      profile_decode: { step_ms: d.step_ms, run_ms: d.run_ms, outside_pct: Math.max(0, 1 - d.run_ms / d.step_ms) * 100, top: d.ops.slice(0, 4) },
      profile_prefill: { step_ms: prof.prefill.step_ms, run_ms: prof.prefill.run_ms, top: prof.prefill.ops.slice(0, 4) },
    });
    console.log(`${name} ${e.name}: prefill ${r.prefill_ms.p50.toFixed(1)} ms, decode p50 ${r.decode_ms.p50.toFixed(2)} p95 ${r.decode_ms.p95.toFixed(2)} ms, outside ORT ${rows.at(-1).profile_decode.outside_pct.toFixed(1)}%`);
  }
  fs.rmSync(work, { recursive: true, force: true });
  summary.push({ model: name, source: path.relative(root, dir), prompt_tokens: P, decode_context: lat.decodeContext, decode_tokens: DECODE, repetitions: REPS, threads, rows });
}

// Models not run this time keep their last results (each entry carries its own date and machine).
const stamp = { date: new Date().toISOString(), machine: machineInfo(), load_average: os.loadavg() };
const prev = fs.existsSync(path.join(outDir, 'summary.json')) ? JSON.parse(fs.readFileSync(path.join(outDir, 'summary.json'), 'utf8')).summary ?? [] : [];
const merged = Object.keys(MODELS).map((n) => summary.find((s) => s.model === n) && { ...stamp, ...summary.find((s) => s.model === n) } || prev.find((s) => s.model === n)).filter(Boolean);
const result = { schema: 'quantlab.bench-speed/1', ...stamp, summary: merged };
const tmp = path.join(outDir, 'summary.json.tmp');
fs.writeFileSync(tmp, JSON.stringify(result, null, 2) + '\n');
fs.renameSync(tmp, path.join(outDir, 'summary.json'));
const m = result.machine;
let md = `# Speed: every method against FP32, KV cache in place (npm run bench:speed)\n\n${m.cores} cores, ${threads} threads · Node ${m.node} · onnxruntime ${m.onnxruntime}\n\n`;
md += 'One process per model; all variants round-robin in one run (1 warm-up + REPS rounds), so every ratio compares runs under the same machine load. A decode step is what generation pays: the onnxruntime run, the cache update and the greedy token. Time outside onnxruntime, two ways: "outside run" from the timed steps themselves (1 − time in `session.run` / step wall time; the binding\'s input/output conversions count as inside), and "outside ORT (profile)" from onnxruntime\'s profile of 8 decode steps (1 − `model_run` / step wall time of those steps; the profiler adds its own work per run, so this one is an upper bound). The two "(concat cache)" rows run the same graphs the way the exported file runs elsewhere (present tensors copied out and fed back each token).\n';
for (const s of result.summary) {
  md += `\n## ${s.model}\n\n${s.date} · ${s.machine.cpu} (${(s.machine.cpu_features ?? []).join(', ')}) · load average ${s.load_average.map((x) => x.toFixed(2)).join(' / ')} · prompt ${s.prompt_tokens} tokens, then ${s.decode_tokens} decode steps after ${s.decode_context} cached tokens; ${s.repetitions} repetitions.\n\n`;
  md += '| method | KV cache | prefill p50 ms | decode p50 / p95 ms | p95/p50 | decode tok/s (mean) | speedup prefill / decode | outside run | step ms (profiled) | in ORT ms | outside ORT (profile) | top decode ops (ms) |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n';
  for (const r of s.rows) {
    md += `| ${r.method} | ${r.kv_cache} | ${r.prefill_p50_ms.toFixed(1)} | ${r.decode_p50_ms.toFixed(2)} / ${r.decode_p95_ms.toFixed(2)} | ${r.p95_over_p50.toFixed(2)} | ${r.decode_tokens_per_s.toFixed(0)} | ${r.speedup_prefill.toFixed(2)}× / ${r.speedup_decode.toFixed(2)}× | ${r.outside_run_pct === undefined ? '—' : `${r.outside_run_pct.toFixed(1)}%`} | ${r.profile_decode.step_ms.toFixed(2)} | ${r.profile_decode.run_ms.toFixed(2)} | ${r.profile_decode.outside_pct.toFixed(1)}% | ${r.profile_decode.top.map((o) => `${o.op} ${o.ms.toFixed(2)}`).join(', ')} |\n`;
  }
}
fs.writeFileSync(path.join(outDir, 'summary.md.tmp'), md);
fs.renameSync(path.join(outDir, 'summary.md.tmp'), path.join(outDir, 'summary.md'));
console.log(md);
