import fs from 'node:fs';
import { cpuFeatures } from '../util/cpu.js';
import os from 'node:os';
import type { Model } from '../ir/graph.js';
import { DecoderRunner } from '../runtime/decoder.js';
import { lastPositionLogits } from '../runtime/last-logits.js';
import { defaultThreads, ort, ortVersion, type SessionOptions } from '../runtime/session.js';
import { stats, type Stats } from './stats.js';

export interface LatencyOptions {
  /** Prompt length for prefill (default 512). */
  promptTokens?: number;
  /** Tokens generated (each timed) after each prefill (default 32). */
  decodeTokens?: number;
  warmup?: number;
  repetitions?: number;
  session?: SessionOptions;
  /** Token ids to draw the prompt from (default: a fixed pseudo-random sequence). */
  promptIds?: ArrayLike<number>;
  vocabSize?: number;
  /** Model's maximum positions: decode starts after min(P, maxPositions - decodeTokens) tokens. */
  maxPositions?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface LatencyResult {
  prefill_ms: Stats;
  decode_ms: Stats;
  prefill_tokens_per_s: number;
  decode_tokens_per_s: number;
  prompt_tokens: number;
  decode_tokens: number;
  /** Tokens already in the KV cache when the timed decode steps start. */
  decode_context: number;
  /** The prefill returns the last position's logits (as generation does), or all positions' when the graph cannot be cut. */
  prefill_logits: 'last' | 'all';
  repetitions: number;
  threads: number;
  session_load_ms: number;
}

export interface MachineInfo {
  cpu: string;
  /** The vector/matrix ISA extensions the CPU reports: which int8/fp16 kernels onnxruntime can use (absent where not readable). */
  cpu_features?: string[];
  cores: number; memory_bytes: number; os: string; node: string; onnxruntime: string;
}

export function machineInfo(): MachineInfo {
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown', cpu_features: cpuFeatures(), cores: os.availableParallelism?.() ?? os.cpus().length, memory_bytes: os.totalmem(),
    os: `${os.type()} ${os.release()} ${os.arch()}`, node: process.version, onnxruntime: ortVersion(),
  };
}

/** Peak resident set size of this process so far (bytes). */
export function peakRssBytes(): number { return process.resourceUsage().maxRSS * 1024; }

/**
 * Prefill (one pass over a P-token prompt) and decode (one token per pass with the KV cache),
 * after warm-up, over repeated runs. Needs a graph with KV-cache inputs for decode.
 */
export async function measureLatency(model: Model, opts: LatencyOptions = {}): Promise<LatencyResult> {
  const P = opts.promptTokens ?? 512;
  const N = opts.decodeTokens ?? 32;
  const warmup = opts.warmup ?? 2;
  const reps = opts.repetitions ?? 10;
  const last = lastPositionLogits(model);
  const t0 = performance.now();
  const runner = await DecoderRunner.create(last ?? model, opts.session);
  const loadMs = performance.now() - t0;
  if (!runner.hasKvCache) throw new Error('latency needs the KV-cache form of the graph (past_key_values inputs)');
  const vocab = opts.vocabSize ?? 50257;
  const prompt = new BigInt64Array(P);
  let seed = 12345;
  for (let i = 0; i < P; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    prompt[i] = BigInt(opts.promptIds ? opts.promptIds[i % opts.promptIds.length] : seed % vocab);
  }
  const ctxLen = Math.max(1, Math.min(P, (opts.maxPositions ?? Infinity) - N));
  const prefill: number[] = [];
  const decode: number[] = [];
  try {
    for (let r = 0; r < warmup + reps; r++) {
      const a = performance.now();
      let out = await runner.run(prompt, 1);
      const pMs = performance.now() - a;
      // A model with few positions cannot decode after a full-length prompt: decode after a shorter one.
      if (ctxLen < P) out = await runner.run(prompt.subarray(0, ctxLen), 1);
      let cache = runner.nextCache(out);
      let next = lastArgmax(out.logits as ort.Tensor);
      for (let t = 0; t < N; t++) {
        const s = performance.now();
        const o = await runner.run(BigInt64Array.of(BigInt(next)), 1, cache);
        const dMs = performance.now() - s;
        if (r >= warmup) decode.push(dMs);
        cache = runner.nextCache(o);
        next = lastArgmax(o.logits as ort.Tensor);
      }
      if (r >= warmup) prefill.push(pMs);
      opts.onProgress?.(r + 1, warmup + reps);
    }
  } finally {
    await runner.release();
  }
  const ps = stats(prefill), ds = stats(decode);
  return {
    prefill_ms: ps, decode_ms: ds, prefill_tokens_per_s: (P / ps.p50) * 1000, decode_tokens_per_s: 1000 / ds.p50,
    prompt_tokens: P, decode_tokens: N, decode_context: ctxLen, prefill_logits: last ? 'last' : 'all', repetitions: reps, threads: opts.session?.threads ?? defaultThreads(), session_load_ms: loadMs,
  };
}

/** Argmax over the vocabulary at the last position of logits [B, T, V] (batch 0). */
export function lastArgmax(logits: ort.Tensor): number {
  const [, T, V] = logits.dims;
  const d = logits.data as Float32Array;
  let best = 0, bv = -Infinity;
  for (let i = 0, o = (T - 1) * V; i < V; i++) if (d[o + i] > bv) { bv = d[o + i]; best = i; }
  return best;
}
