// npm run bench:rewarm — why decode p95 exceeds 1.3 × p50 on this VM (issue 13): the first decode
// steps after a prefill are slow and recover over ~10 steps, in onnxruntime's run, whatever the GC,
// the thread count or a pause after the prefill; a 128 MB memory sweep in the middle of a decode run
// (no prefill) brings the same curve back, so it is the caches re-warming, not the runtime.
// Embedded 12M GPT-2, FP32 and int4-weight; median step time by position after the prefill over
// REPS repetitions (default 12), 64 steps each, a 128 MB sweep before step 32 in the "sweep" rows.
// Then the GPT-2 124M shape (synthetic, cached under .cache/synth/), 512-token prompt, 32 steps:
// which decode steps hold a V8 garbage-collection pause (Node's 'gc' performance entries, on the
// same clock as the steps) — the prefill's cache rows arrive as fresh ArrayBuffers (the binding
// copies every output), ~38 MB of external memory per prefill, and V8 answers with a major GC.
// Writes results/decode-rewarm.{json,md}.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { withAllocatorSettings } from './allocator.mjs';
import { root, synthModel } from './synth.mjs';

withAllocatorSettings(import.meta.url);
const { loadModel, machineInfo } = await import('../dist/index.js');
const { prepareVariant } = await import('../dist/bench/variants.js');
const { DecoderRunner } = await import('../dist/runtime/decoder.js');
const { promptOf } = await import('../dist/bench/latency.js');
const { NEXT_TOKEN } = await import('../dist/runtime/last-logits.js');
const { stats } = await import('../dist/eval/stats.js');

const REPS = Number(process.env.REPS ?? 12), STEPS = 64, PROMPT = 440; // 440 + 64 ≤ the model's 512 positions
const loaded = loadModel(path.join(root, 'models', 'gpt2-brown-12m'));
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ql-rewarm-'));
const big = new Float64Array(16 << 20);
const median = (xs) => stats(xs).p50; // the latency protocol's percentiles (eval/stats.ts)
const rows = [];
for (const method of ['fp32', 'int4-weight']) {
  const { model } = await prepareVariant(loaded, method, work);
  const runner = await DecoderRunner.create(model, { threads: 2 });
  const prompt = promptOf(Array.from({ length: PROMPT }, (_, i) => (i * 37) % 1000), PROMPT);
  const last = (o) => { const d = o[NEXT_TOKEN].data; return d[d.length - 1]; };
  for (const sweep of [false, true]) {
    const byPos = Array.from({ length: STEPS }, () => []);
    for (let rep = 0; rep < REPS; rep++) {
      const cache = runner.newCache(PROMPT + STEPS);
      let next = last(await runner.step(prompt, 1, cache, {}, [NEXT_TOKEN]));
      const ids = new BigInt64Array(1);
      for (let t = 0; t < STEPS; t++) {
        if (sweep && t === 32) for (let i = 0; i < big.length; i += 8) big[i] += 1;
        const s = performance.now();
        ids[0] = next;
        next = last(await runner.step(ids, 1, cache, {}, [NEXT_TOKEN]));
        byPos[t].push(performance.now() - s);
      }
      cache.release();
    }
    const med = byPos.map(median), steady = median(med.slice(16, 32));
    rows.push({ method, sweep, steady_ms: steady, by_position_ms: med, first_over_steady: med[0] / steady, after_sweep_over_steady: sweep ? med[32] / steady : null });
  }
  await runner.release();
}

// GPT-2 124M: GC pauses inside decode steps. Entries arrive asynchronously: collected after each repetition.
const gcs = [];
new PerformanceObserver((list) => { for (const e of list.getEntries()) gcs.push({ start: e.startTime, ms: e.duration }); }).observe({ entryTypes: ['gc'] });
const dir124 = synthModel('gpt2', 'f32');
const BIG_PROMPT = 512, BIG_STEPS = 32, SHOWN = 8;
const gcRows = [];
const loaded124 = loadModel(dir124);
for (const method of ['fp32', 'int4-weight']) {
  const { model } = await prepareVariant(loaded124, method, work);
  const runner = await DecoderRunner.create(model, { threads: 2 });
  const prompt = promptOf(Array.from({ length: BIG_PROMPT }, (_, i) => (i * 7919) % 50000), BIG_PROMPT);
  const last = (o) => { const d = o[NEXT_TOKEN].data; return d[d.length - 1]; };
  const steps = []; // { t: position after the prefill, ms, gcMs: GC pause inside }
  for (let rep = 0; rep < REPS + 1; rep++) {
    const cache = runner.newCache(BIG_PROMPT + BIG_STEPS);
    let next = last(await runner.step(prompt, 1, cache, {}, [NEXT_TOKEN]));
    const ids = new BigInt64Array(1), windows = [];
    for (let t = 0; t < BIG_STEPS; t++) {
      const s = performance.now();
      ids[0] = next;
      next = last(await runner.step(ids, 1, cache, {}, [NEXT_TOKEN]));
      windows.push([s, performance.now()]);
    }
    cache.release();
    await new Promise((r) => setTimeout(r, 20));
    if (rep === 0) continue; // warm-up
    windows.forEach(([a, b], t) => {
      const gcMs = gcs.filter((g) => g.start < b && g.start + g.ms > a).reduce((x, g) => x + g.ms, 0);
      steps.push({ t, ms: b - a, gcMs });
    });
  }
  await runner.release();
  const { p50, p95 } = stats(steps.map((s) => s.ms));
  const slow = steps.filter((s) => s.ms > 1.3 * p50);
  const byPos = Array.from({ length: SHOWN }, (_, t) => steps.filter((s) => s.t === t));
  gcRows.push({
    method, p50_ms: p50, p95_ms: p95,
    slow_steps: slow.length, slow_with_gc: slow.filter((s) => s.gcMs > 0).length, steps: steps.length,
    slow_at_0_1: slow.filter((s) => s.t < 2).length,
    by_position: byPos.map((xs) => ({ median_over_p50: median(xs.map((s) => s.ms)) / p50, with_gc: xs.filter((s) => s.gcMs > 0).length, gc_ms_median: xs.some((s) => s.gcMs > 0) ? median(xs.filter((s) => s.gcMs > 0).map((s) => s.gcMs)) : 0 })),
  });
}
fs.rmSync(work, { recursive: true, force: true });
const result = { schema: 'quantlab.bench-rewarm/2', date: new Date().toISOString(), machine: machineInfo(), reps: REPS, prompt: PROMPT, rows, gpt2_124m: { prompt: BIG_PROMPT, steps: BIG_STEPS, rows: gcRows } };
const out = path.join(root, 'results', 'decode-rewarm');
fs.writeFileSync(`${out}.json.tmp`, JSON.stringify(result, null, 2) + '\n');
fs.renameSync(`${out}.json.tmp`, `${out}.json`);
const f = (x) => x.toFixed(2);
let md = `# Decode steps after a prefill (npm run bench:rewarm)\n\n${result.date} · ${result.machine.cpu} (${(result.machine.cpu_features ?? []).join(', ')}) · ${result.machine.cores} cores · 2 threads · embedded 12M GPT-2, prompt ${PROMPT}, median of ${REPS} repetitions per step position.\n\n`;
md += `| method | sweep before step 32 | steady ms (steps 16–31) | steps 0–11 ÷ steady | steps 32–43 ÷ steady |\n|---|---|---:|---|---|\n`;
for (const r of rows) md += `| ${r.method} | ${r.sweep ? '128 MB' : '—'} | ${f(r.steady_ms)} | ${r.by_position_ms.slice(0, 12).map((x) => f(x / r.steady_ms)).join(' ')} | ${r.by_position_ms.slice(32, 44).map((x) => f(x / r.steady_ms)).join(' ')} |\n`;
md += `\n## GPT-2 124M shape: garbage-collection pauses inside decode steps\n\nPrompt ${BIG_PROMPT}, then ${BIG_STEPS} decode steps, ${REPS} repetitions (after one warm-up). A step "with GC" overlaps a V8 garbage-collection pause (Node's \`gc\` performance entries). Slow: over 1.3 × p50 of all steps.\n\n`;
md += `| method | p50 / p95 ms | slow steps | … with a GC pause | … at steps 0–1 | steps 0–${SHOWN - 1}: median ÷ p50 | steps 0–${SHOWN - 1}: repetitions with GC (median GC ms) |\n|---|---:|---:|---:|---:|---|---|\n`;
for (const r of gcRows) md += `| ${r.method} | ${f(r.p50_ms)} / ${f(r.p95_ms)} | ${r.slow_steps} of ${r.steps} | ${r.slow_with_gc} | ${r.slow_at_0_1} | ${r.by_position.map((x) => f(x.median_over_p50)).join(' ')} | ${r.by_position.map((x) => (x.with_gc ? `${x.with_gc} (${x.gc_ms_median.toFixed(1)})` : '0')).join(' · ')} |\n`;
fs.writeFileSync(`${out}.md.tmp`, md);
fs.renameSync(`${out}.md.tmp`, `${out}.md`);
console.log(md);
