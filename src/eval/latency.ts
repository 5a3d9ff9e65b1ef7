import { cpuFeatures } from '../util/cpu.js';
import os from 'node:os';
import type { Model } from '../ir/graph.js';
import { measureInterleaved } from '../bench/latency.js';
import type { CachePath } from '../runtime/decoder.js';
import { defaultThreads, ortVersion, type SessionOptions } from '../runtime/session.js';
import { PROTOCOL } from './protocol.js';
import type { Stats } from './stats.js';

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
  /** How the KV cache travelled between the timed decode steps (runtime/kv-cache.ts). */
  kv_cache: CachePath;
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
 * Prefill (one pass over a P-token prompt) and decode (one token per pass with the KV cache) of one
 * model, after warm-up, over repeated runs: the bench's protocol (bench/latency.ts) for one model.
 */
export async function measureLatency(model: Model, opts: LatencyOptions = {}): Promise<LatencyResult> {
  const P = opts.promptTokens ?? PROTOCOL.promptTokens;
  const N = opts.decodeTokens ?? PROTOCOL.decodeTokens;
  const reps = opts.repetitions ?? PROTOCOL.repetitions;
  let promptIds = opts.promptIds;
  if (!promptIds) {
    const vocab = opts.vocabSize ?? 50257;
    let seed = 12345;
    promptIds = Array.from({ length: P }, () => { seed = (seed * 1103515245 + 12345) >>> 0; return seed % vocab; });
  }
  const { results, decodeContext, prefillLogits, cachePath } = await measureInterleaved([{ name: 'model', model }], {
    promptTokens: P, decodeTokens: N, warmup: opts.warmup ?? PROTOCOL.warmup, repetitions: reps, session: opts.session, promptIds, maxPositions: opts.maxPositions, onProgress: opts.onProgress,
  });
  const r = results.get('model')!;
  return {
    ...r, prompt_tokens: P, decode_tokens: N, decode_context: decodeContext, prefill_logits: prefillLogits, kv_cache: cachePath.get('model')!,
    repetitions: reps, threads: opts.session?.threads ?? defaultThreads(),
  };
}
