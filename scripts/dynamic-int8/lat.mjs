// Interleaved latency: FP32 vs quantized folders, same process, threads 2, prefill 512 + decode.
// Usage (repo root, after npm run build): ROUNDS=4 node scripts/dynamic-int8/lat.mjs fp32 <folder> [<folder>...]
import { loadModel } from '../../dist/load/index.js';
import { measureLatency } from '../../dist/eval/latency.js';
const names = process.argv.slice(2);
const models = names.map((n) => [n, n === 'fp32' ? process.env.FP32_MODEL ?? '../shared/models/gpt2-brown-12m' : n]);
const graphs = models.map(([n, p]) => { const m = loadModel(p); return [n, m.graph({ kvCache: true }), m.maxPositions]; });
const res = Object.fromEntries(names.map((n) => [n, { prefill: [], decode: [], load: [] }]));
const rounds = +(process.env.ROUNDS ?? 5);
for (let r = 0; r < rounds; r++) for (const [n, g, maxPos] of graphs) {
  const l = await measureLatency(g, { promptTokens: 512, decodeTokens: 16, warmup: 1, repetitions: 3, session: { threads: +(process.env.THREADS ?? 2) }, maxPositions: maxPos });
  res[n].prefill.push(l.prefill_ms.p50); res[n].decode.push(l.decode_ms.p50); res[n].load.push(l.session_load_ms);
}
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
const base = res[names[0]];
for (const n of names) {
  const p = med(res[n].prefill), d = med(res[n].decode);
  console.log(`${n.padEnd(10)} prefill512 ${p.toFixed(1)} ms (x${(med(base.prefill) / p).toFixed(2)})  decode ${d.toFixed(3)} ms (x${(med(base.decode) / d).toFixed(2)})  load ${med(res[n].load).toFixed(0)} ms  rounds p=${res[n].prefill.map((x) => x.toFixed(0)).join(',')} d=${res[n].decode.map((x) => x.toFixed(2)).join(',')}`);
}
