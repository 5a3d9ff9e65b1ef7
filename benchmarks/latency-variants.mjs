// Re-measure the latency ratios of a bench's variants with the bench's own interleaved protocol
// (prefill 512 tokens returning the last position's logits, 32 decode steps), to see run-to-run spread.
// Usage: node benchmarks/latency-variants.mjs <fp32 model folder> <bench out>/variants [repetitions=5] [threads=2]
import fs from 'node:fs';
import { loadModel } from '../dist/load/index.js';
import { measureInterleaved } from '../dist/bench/latency.js';

const [fp, dir, reps = '5', threads = '2'] = process.argv.slice(2);
const names = fs.readdirSync(dir).filter((n) => n !== 'fp32' && fs.existsSync(`${dir}/${n}/quantlab.json`)).sort();
const base = loadModel(fp);
const models = [{ name: 'fp32', model: base.graph({ kvCache: true }) }, ...names.map((n) => ({ name: n, model: loadModel(`${dir}/${n}`).graph({ kvCache: true }) }))];
const ids = Array.from({ length: 512 }, (_, i) => (i * 7919) % (base.config?.vocabSize ?? 50257));
const { results } = await measureInterleaved(models, { promptTokens: 512, decodeTokens: 32, warmup: 1, repetitions: Number(reps), session: { threads: Number(threads) }, promptIds: ids, maxPositions: base.maxPositions });
const f = results.get('fp32');
console.log('method          prefill p50 ms  decode p50 ms  prefill ×  decode ×');
for (const [n, r] of results) console.log(`${n.padEnd(16)}${r.prefill_ms.p50.toFixed(1).padStart(14)}${r.decode_ms.p50.toFixed(2).padStart(15)}${(f.prefill_ms.p50 / r.prefill_ms.p50).toFixed(2).padStart(11)}${(f.decode_ms.p50 / r.decode_ms.p50).toFixed(2).padStart(10)}`);
