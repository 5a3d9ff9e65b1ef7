// Measures method configurations on one model: perplexity on the full Brown test split, size, latency.
// Usage: node benchmarks/methods.mjs <model> <rows.json|-> [--max-tokens N] [--latency] [--threads N]
// rows: [{ "label": "...", "method": "<kind, default static-int8>", "config": { ...method fields } }, ...];
// label "fp32" is the unquantized baseline. One JSON line per row on stdout.
import fs from 'node:fs';
import { loadModel } from '../dist/index.js';
import { loadDataset } from '../dist/index.js';
import { perplexity } from '../dist/index.js';
import { measureLatency } from '../dist/index.js';
import { encodeModel } from '../dist/onnx/write.js';
import { resolveConfig } from '../dist/index.js';
import { methodByKind } from '../dist/index.js';

const args = process.argv.slice(2);
const opt = (k) => { const i = args.indexOf(k); return i >= 0 ? args[i + 1] : undefined; };
const [modelPath, rowsFile] = args;
const rows = JSON.parse(fs.readFileSync(rowsFile === '-' ? 0 : rowsFile, 'utf8'));
const threads = Number(opt('--threads') ?? 1);
const session = { threads };
const lm = loadModel(modelPath);
const graph = lm.graph({ kvCache: true });
const test = loadDataset('brown', 'test');
let tokens = lm.tokenizer.encode(test.text);
if (opt('--max-tokens')) tokens = tokens.slice(0, Number(opt('--max-tokens')));
const ctx = { explain: process.env.VERBOSE ? (m) => console.error('  ' + m) : () => {}, tokenizer: lm.tokenizer, session };
let fp32 = null;
for (const row of rows) {
  const t0 = performance.now();
  let model, notes = [];
  if (row.label === 'fp32') model = graph;
  else {
    const kind = row.method ?? 'static-int8';
    const r = await methodByKind(kind).run(graph, resolveConfig({ ...row.config, kind }), ctx);
    model = r.model; notes = r.report.notes;
  }
  const passS = (performance.now() - t0) / 1000;
  const ppl = (await perplexity(model, tokens, { ctx: 512, stride: 256, batchSize: 4, session })).perplexity;
  if (row.label === 'fp32') fp32 = ppl;
  const bytes = encodeModel(model).length;
  let lat = null;
  if (args.includes('--latency')) lat = await measureLatency(model, { promptTokens: 512, decodeTokens: 32, repetitions: 10, session, promptIds: tokens, maxPositions: 512 });
  const out = { label: row.label, ppl: +ppl.toFixed(4), dppl_pct: fp32 ? +(100 * ppl / fp32 - 100).toFixed(2) : null, bytes, pass_s: +passS.toFixed(1),
    prefill_ms: lat?.prefill_ms.p50, decode_ms: lat?.decode_ms.p50, notes: notes.filter((n) => !n.startsWith('  ')) };
  console.log(JSON.stringify(out));
  if (process.env.NOTES) for (const n of notes) console.error(n);
}
