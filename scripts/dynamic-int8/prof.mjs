// Usage: node scripts/dynamic-int8/prof.mjs fp32 <folder>...
// ORT per-op profile of one prefill (512 tokens) and 16 decode steps; time share by op type.
import fs from 'node:fs';
import { loadModel } from '../../dist/load/index.js';
import { DecoderRunner } from '../../dist/runtime/decoder.js';
for (const n of process.argv.slice(2)) {
  const g = loadModel(n === 'fp32' ? process.env.FP32_MODEL ?? '../shared/models/gpt2-brown-12m' : n).graph({ kvCache: true });
  const dir = fs.mkdtempSync('/tmp/quantlab-prof-');
  const prefix = `${dir}/prof`;
  const r = await DecoderRunner.create(g, { threads: 2, profilePrefix: prefix });
  const ids = BigInt64Array.from({ length: 496 }, (_, i) => BigInt((i * 7919) % 50257));
  let out;
  for (let k = 0; k < 2; k++) out = await r.run(ids, 1);
  let cache = r.nextCache(out);
  for (let t = 0; t < 16; t++) { const o = await r.run(BigInt64Array.of(5n), 1, cache); cache = r.nextCache(o); }
  r.session.endProfiling();
  await r.release();
  const file = fs.readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => `${dir}/${f}`)[0];
  const ev = JSON.parse(fs.readFileSync(file, 'utf8'));
  // model_run events mark each run; node events carry op_name. Split prefill (first 2 runs) from decode.
  const runs = ev.filter((e) => e.name === 'model_run');
  const byPhase = { prefill: {}, decode: {} };
  const tot = { prefill: 0, decode: 0 };
  for (const e of ev) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const idx = runs.findIndex((rr) => e.ts >= rr.ts && e.ts <= rr.ts + rr.dur);
    const phase = idx >= 0 && idx < 2 ? 'prefill' : 'decode';
    const op = e.args.op_name;
    byPhase[phase][op] = (byPhase[phase][op] ?? 0) + e.dur; tot[phase] += e.dur;
  }
  const runDur = { prefill: runs.slice(0, 2).reduce((s, x) => s + x.dur, 0) / 2, decode: runs.slice(2).reduce((s, x) => s + x.dur, 0) / Math.max(1, runs.length - 2) };
  for (const ph of ['prefill', 'decode']) {
    const nRuns = ph === 'prefill' ? 2 : 16;
    const top = Object.entries(byPhase[ph]).sort((a, b) => b[1] - a[1]).slice(0, 7).map(([o, d]) => `${o} ${(d / nRuns / 1000).toFixed(2)}ms (${(100 * d / tot[ph]).toFixed(0)}%)`);
    console.log(`${n} ${ph}: run ${(runDur[ph] / 1000).toFixed(2)} ms, kernels ${(tot[ph] / nRuns / 1000).toFixed(2)} ms: ${top.join(', ')}`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
}
