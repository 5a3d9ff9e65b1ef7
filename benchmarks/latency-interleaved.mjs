// Prefill/decode latency of several models measured round-robin, so every model sees the same
// background load (this VM is shared). Usage: node benchmarks/latency-interleaved.mjs [--threads N] [--rounds R] <model>...
// A model is a folder / .onnx path, or "dynamic-int8:<folder>" (quantized in process).
import { loadModel } from '../dist/load/index.js';
import { measureLatency } from '../dist/eval/latency.js';
import { dynamicInt8, dynamicInt8Defaults } from '../dist/passes/dynamic-int8.js';

const args = process.argv.slice(2);
const take = (k, d) => { const i = args.indexOf(k); if (i < 0) return d; const v = args[i + 1]; args.splice(i, 2); return v; };
const threads = Number(take('--threads', '1')), rounds = Number(take('--rounds', '4'));
const models = [];
for (const spec of args) {
  const dyn = spec.startsWith('dynamic-int8:');
  const lm = loadModel(dyn ? spec.slice(13) : spec);
  let g = lm.graph({ kvCache: true });
  if (dyn) g = (await dynamicInt8.run(g, dynamicInt8Defaults, { explain: () => {} })).model;
  models.push({ spec, g, prompt: lm.tokenizer.encode('The jury said it did find that many of Georgia\'s registration and election laws are outmoded. '.repeat(40)), prefill: [], decode: [] });
}
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
for (let r = 0; r < rounds; r++) {
  for (const m of models) {
    const l = await measureLatency(m.g, { promptTokens: 512, decodeTokens: 32, repetitions: 3, warmup: 1, session: { threads }, promptIds: m.prompt, maxPositions: 512 });
    m.prefill.push(l.prefill_ms.p50); m.decode.push(l.decode_ms.p50);
  }
}
const base = models[0];
for (const m of models) {
  console.log(JSON.stringify({ model: m.spec, threads, rounds, prefill_ms: +med(m.prefill).toFixed(1), decode_ms: +med(m.decode).toFixed(2),
    prefill_speedup: +(med(base.prefill) / med(m.prefill)).toFixed(2), decode_speedup: +(med(base.decode) / med(m.decode)).toFixed(2) }));
}
