import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Model } from '../ir/graph.js';
import { DecoderRunner, type CachePath } from '../runtime/decoder.js';
import { lastPositionLogits } from '../runtime/last-logits.js';
import type { SessionOptions } from '../runtime/session.js';
import { decodeContext, oneRepetition, promptOf } from './latency.js';

/** Kernel time by operator type for one phase, from onnxruntime's profiler. */
export interface PhaseProfile {
  /** Mean wall time of the profiled runs inside onnxruntime (model_run), ms. */
  run_ms: number;
  /**
   * Mean wall time of the same steps as the caller sees them (onnxruntime run plus feeds, output
   * copies, cache update, argmax), ms: step_ms − run_ms is the time outside onnxruntime. Absent in
   * older reports.
   */
  step_ms?: number;
  /** Mean kernel time per run by op type (domain-qualified for contrib ops), largest first, ms. */
  ops: { op: string; ms: number }[];
}

export interface OpProfile { prefill: PhaseProfile; decode: PhaseProfile }

export interface ProfileOptions {
  promptIds: ArrayLike<number>;
  promptTokens: number;
  /** Decode steps profiled after the prompt (default 8). */
  decodeTokens?: number;
  /** Model's maximum positions: decode starts after a shorter prompt when the full one leaves no room. */
  maxPositions?: number;
  session?: SessionOptions;
  /** Cache path to profile (default: in-place where the graph allows it). */
  cache?: CachePath;
}

interface TraceEvent { cat: string; name: string; ts: number; dur: number; args?: { op_name?: string; provider?: string } }

/**
 * Where the time goes: onnxruntime's per-op profile of one repetition of the latency protocol
 * (bench/latency.ts `oneRepetition`, after a warm-up repetition): the prefill of the prompt and
 * `decodeTokens` decode steps, with the same last-position logits as the latency measurement.
 */
export async function profileOps(model: Model, opts: ProfileOptions): Promise<OpProfile> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-profile-'));
  const runner = await DecoderRunner.create(lastPositionLogits(model) ?? model, { ...opts.session, cache: opts.cache, profilePrefix: path.join(dir, 'p') });
  const prompt = promptOf(opts.promptIds, opts.promptTokens);
  const N = opts.decodeTokens ?? 8;
  const ctxLen = decodeContext(opts.promptTokens, N, opts.maxPositions);
  let steps: { p: number; d: number[] } = { p: 0, d: [] };
  try {
    for (let rep = 0; rep < 2; rep++) steps = await oneRepetition(runner, prompt, ctxLen, N);
    // onnxruntime writes the trace when profiling ends (the file name carries a timestamp).
    runner.session.endProfiling();
  } finally {
    await runner.release();
  }
  try {
    const file = fs.readdirSync(dir).find((f) => f.endsWith('.json'));
    if (!file) throw new Error('onnxruntime wrote no profile');
    const events = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as TraceEvent[];
    const runs = events.filter((e) => e.name === 'model_run');
    // Each repetition: the prefill, a shorter prefill when ctxLen < prompt, then N decode steps; the first one is the warm-up.
    const perRep = 1 + (ctxLen < opts.promptTokens ? 1 : 0) + N;
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    return {
      prefill: { ...phase(events, runs.slice(perRep, perRep + 1)), step_ms: steps.p },
      decode: { ...phase(events, runs.slice(2 * perRep - N, 2 * perRep)), step_ms: mean(steps.d) },
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function phase(events: TraceEvent[], runs: TraceEvent[]): PhaseProfile {
  const by = new Map<string, number>();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || !e.args?.op_name) continue;
    if (!runs.some((r) => e.ts >= r.ts && e.ts <= r.ts + r.dur)) continue;
    by.set(e.args.op_name, (by.get(e.args.op_name) ?? 0) + e.dur / 1000 / runs.length);
  }
  const run_ms = runs.reduce((s, r) => s + r.dur / 1000, 0) / Math.max(1, runs.length);
  return { run_ms, ops: [...by].map(([op, ms]) => ({ op, ms })).sort((a, b) => b.ms - a.ms) };
}
