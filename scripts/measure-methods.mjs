// Paired latency of quantized model folders vs an FP32 baseline, in one process, round-robin so
// every variant sees the same background load; plus what onnxruntime actually runs (op counts of
// the graph it optimised). Usage (after `npx tsc -p .`):
//   GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296 \
//   node scripts/measure-methods.mjs --threads 2 --rounds 5 <fp32 folder> <variant folder>... [--json out.json]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadModel } from '../dist/load/index.js';
import { measureLatency } from '../dist/eval/latency.js';
import { createSession } from '../dist/runtime/session.js';
import { readModel } from '../dist/onnx/read.js';

const { values: o, positionals: dirs } = parseArgs({ allowPositionals: true, options: {
  threads: { type: 'string', default: '2' }, rounds: { type: 'string', default: '5' }, reps: { type: 'string', default: '3' },
  prompt: { type: 'string', default: '512' }, decode: { type: 'string', default: '16' }, json: { type: 'string' },
} });
const threads = Number(o.threads), rounds = Number(o.rounds);
const variants = dirs.map((d) => { const m = loadModel(d); return { name: path.basename(d), model: m.graph({ kvCache: true }), maxPositions: m.maxPositions, vocab: m.config?.vocabSize }; });

// What onnxruntime executes: op histogram of its optimised graph.
for (const v of variants) {
  const file = path.join(os.tmpdir(), `ql-opt-${process.pid}-${v.name}.onnx`);
  const s = await createSession(v.model, { threads, optimizedModelPath: file });
  await s.release();
  const g = readModel(file).graph;
  const ops = {};
  for (const n of g.nodes) { const k = (n.domain ? `${n.domain}.` : '') + n.opType; ops[k] = (ops[k] ?? 0) + 1; }
  const f16 = g.initializers().filter((x) => x.constant.dtype === 'float16').length;
  v.optimized = { nodes: g.nodes.length, ops, float16_initializers: f16 };
  fs.rmSync(file, { force: true });
  fs.rmSync(`${file}.data`, { force: true });
}

const prefill = new Map(variants.map((v) => [v.name, []]));
const decode = new Map(variants.map((v) => [v.name, []]));
for (let r = 0; r < rounds; r++) {
  for (const v of variants) {
    const l = await measureLatency(v.model, { promptTokens: Number(o.prompt), decodeTokens: Number(o.decode), warmup: 1, repetitions: Number(o.reps), session: { threads }, maxPositions: v.maxPositions, vocabSize: v.vocab });
    prefill.get(v.name).push(l.prefill_ms.p50);
    decode.get(v.name).push(l.decode_ms.p50);
  }
  process.stderr.write(`round ${r + 1}/${rounds}\n`);
}
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const base = variants[0].name;
const rows = variants.map((v) => ({
  name: v.name, prefill_ms: med(prefill.get(v.name)), decode_ms: med(decode.get(v.name)),
  prefill_speedup: med(prefill.get(base)) / med(prefill.get(v.name)), decode_speedup: med(decode.get(base)) / med(decode.get(v.name)),
  optimized: v.optimized,
}));
console.log(`threads ${threads}, ${rounds} rounds × ${o.reps} reps, prompt ${o.prompt}, load avg ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
console.log('variant            prefill ms   ×fp32   decode ms   ×fp32   ORT graph (top ops)');
for (const r of rows) {
  const top = Object.entries(r.optimized.ops).sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k, n]) => `${k}:${n}`).join(' ');
  console.log(`${r.name.padEnd(18)} ${r.prefill_ms.toFixed(2).padStart(10)} ${r.prefill_speedup.toFixed(2).padStart(7)} ${r.decode_ms.toFixed(3).padStart(11)} ${r.decode_speedup.toFixed(2).padStart(7)}   ${top}`);
}
if (o.json) fs.writeFileSync(o.json, JSON.stringify({ threads, rounds, loadavg: os.loadavg(), rows, raw: { prefill: Object.fromEntries(prefill), decode: Object.fromEntries(decode) } }, null, 2));
