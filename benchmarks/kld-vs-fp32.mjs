// PPL, KLD and top-1 agreement of quantized model folders against the FP32 source on a full split (lockstep).
// Usage: node benchmarks/kld-vs-fp32.mjs <fp32 model> <quantized folder>... [--threads N]
import { loadModel } from '../dist/index.js';
import { loadDataset } from '../dist/index.js';
import { evaluateLockstep } from '../dist/index.js';

const args = process.argv.slice(2);
const ti = args.indexOf('--threads');
const threads = ti >= 0 ? Number(args.splice(ti, 2)[1]) : 1;
const [refPath, ...variants] = args;
const ref = loadModel(refPath);
const tokens = ref.tokenizer.encode(loadDataset('brown', 'test').text);
const r = await evaluateLockstep(ref.graph({ kvCache: true }), variants.map((v) => ({ name: v, model: loadModel(v).graph({ kvCache: true }) })), tokens,
  { ctx: 512, stride: 256, session: { threads } });
console.log(JSON.stringify({ model: refPath, ppl: r.reference.perplexity }));
for (const [name, q] of r.variants) {
  console.log(JSON.stringify({ model: name, ppl: q.perplexity.perplexity, kld_mean: q.quality.kld_mean, kld_stderr: q.quality.kld_stderr, kld_p99: q.quality.kld_p99, same_top_pct: q.quality.same_top_pct }));
}
