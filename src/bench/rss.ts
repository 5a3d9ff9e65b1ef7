import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Model } from '../ir/graph.js';

/** What the worker needs to feed a decoder without parsing the graph itself. */
export interface RssJob {
  file: string;
  inputNames: string[];
  past: { name: string; heads: number; headDim: number }[];
  promptTokens: number;
  decodeTokens: number;
  promptIds: number[];
  threads: number;
}

const WORKER = fileURLToPath(new URL('./rss-worker.js', import.meta.url));

/**
 * Peak RSS of a fresh process that loads the ONNX file with onnxruntime and runs one prefill and
 * `decodeTokens` decode steps: the variant's memory footprint on its own (node + onnxruntime included).
 */
export function peakRssOf(file: string, model: Model, opts: { promptTokens: number; decodeTokens: number; promptIds: ArrayLike<number>; threads: number; signal?: AbortSignal }): Promise<number> {
  const past = model.graph.inputs.filter((v) => v.name.startsWith('past_key_values.')).map((v) => {
    const s = v.type?.shape ?? [];
    return { name: v.name, heads: Number(s[1]), headDim: Number(s[3]) };
  });
  const job: RssJob = {
    file, inputNames: model.graph.inputs.map((v) => v.name), past, promptTokens: opts.promptTokens, decodeTokens: past.length ? opts.decodeTokens : 0,
    promptIds: Array.from({ length: Math.min(opts.promptIds.length, opts.promptTokens + opts.decodeTokens) }, (_, i) => opts.promptIds[i]), threads: opts.threads,
  };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER, JSON.stringify(job)], { stdio: ['ignore', 'pipe', 'pipe'], signal: opts.signal });
    let out = '', err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`memory measurement of ${file} failed (exit ${code}): ${err.split('\n').find((l) => l.startsWith('Error')) ?? err.trim().slice(-300)}`));
      try { resolve((JSON.parse(out) as { peak_rss_bytes: number }).peak_rss_bytes); } catch { reject(new Error(`memory measurement of ${file}: unexpected output '${out.slice(0, 200)}'`)); }
    });
  });
}
