// Child process: load one ONNX decoder with onnxruntime, run one prefill and a few decode steps,
// print the process's peak resident memory as JSON. Run alone so each variant's peak is its own.
import fs from 'node:fs';
import * as ort from 'onnxruntime-node';
import type { RssJob } from './rss.js';

const job = JSON.parse(process.argv[2]) as RssJob;
const session = await ort.InferenceSession.create(job.file, { intraOpNumThreads: job.threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
const names = new Set(job.inputNames);

function feeds(ids: bigint[], past: Map<string, ort.Tensor> | null, pastLen: number): Record<string, ort.Tensor> {
  const seq = ids.length;
  const f: Record<string, ort.Tensor> = { input_ids: new ort.Tensor('int64', BigInt64Array.from(ids), [1, seq]) };
  if (names.has('attention_mask')) f.attention_mask = new ort.Tensor('int64', new BigInt64Array(pastLen + seq).fill(1n), [1, pastLen + seq]);
  if (names.has('position_ids')) f.position_ids = new ort.Tensor('int64', BigInt64Array.from({ length: seq }, (_, t) => BigInt(pastLen + t)), [1, seq]);
  for (const p of job.past) f[p.name] = past?.get(p.name) ?? new ort.Tensor('float32', new Float32Array(0), [1, p.heads, 0, p.headDim]);
  return f;
}

const prompt = Array.from({ length: job.promptTokens }, (_, i) => BigInt(job.promptIds[i % job.promptIds.length]));
let out = await session.run(feeds(prompt, null, 0));
let len = prompt.length;
for (let t = 0; t < job.decodeTokens; t++) {
  const past = new Map(job.past.map((p) => [p.name, out[p.name.replace('past_key_values.', 'present.')] as ort.Tensor]));
  out = await session.run(feeds([BigInt(job.promptIds[t % job.promptIds.length])], past, len));
  len++;
}
await session.release();
// VmHWM belongs to this process image; getrusage's maxRSS can carry the parent's peak across fork/exec.
const hwm = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
process.stdout.write(JSON.stringify({ peak_rss_bytes: hwm ? Number(hwm[1]) * 1024 : process.resourceUsage().maxRSS * 1024 }) + '\n');
