// Usage: node --expose-gc benchmarks/session-rss.mjs fp32|<folder>  (RSS growth of one session + one run)
import { loadModel } from '../dist/index.js';
import { DecoderRunner } from '../dist/index.js';
const p = process.argv[2];
const g = loadModel(p === 'fp32' ? process.env.FP32_MODEL ?? '../shared/models/gpt2-brown-12m' : p).graph({ kvCache: true });
global.gc?.(); const before = process.memoryUsage().rss;
const r = await DecoderRunner.create(g, { threads: 1 });
const after = process.memoryUsage().rss;
await r.run(BigInt64Array.of(1n, 2n, 3n), 1);
const run = process.memoryUsage().rss;
console.log(`${p.padEnd(8)} session RSS +${((after - before) / 2 ** 20).toFixed(1)} MiB, after 1 run +${((run - before) / 2 ** 20).toFixed(1)} MiB`);
