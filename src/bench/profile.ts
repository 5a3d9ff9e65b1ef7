import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Model } from '../ir/graph.js';
import { lastArgmax } from '../eval/latency.js';
import { DecoderRunner } from '../runtime/decoder.js';
import { lastPositionLogits } from '../runtime/last-logits.js';
import type { ort, SessionOptions } from '../runtime/session.js';

/** Kernel time by operator type for one phase, from onnxruntime's profiler. */
export interface PhaseProfile {
  /** Mean wall time of the profiled runs inside onnxruntime (model_run), ms. */
  run_ms: number;
  /** Mean kernel time per run by op type (domain-qualified for contrib ops), largest first, ms. */
  ops: { op: string; ms: number }[];
}

export interface OpProfile { prefill: PhaseProfile; decode: PhaseProfile }

export interface ProfileOptions {
  promptIds: ArrayLike<number>;
  promptTokens: number;
  /** Decode steps profiled after the prompt (default 8). */
  decodeTokens?: number;
  session?: SessionOptions;
}

interface TraceEvent { cat: string; name: string; ts: number; dur: number; args?: { op_name?: string; provider?: string } }

/**
 * Where the time goes: onnxruntime's per-op profile of one prefill (after a warm-up prefill) and of
 * `decodeTokens` decode steps, with the same last-position logits as the latency measurement.
 */
export async function profileOps(model: Model, opts: ProfileOptions): Promise<OpProfile> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-profile-'));
  const runner = await DecoderRunner.create(lastPositionLogits(model) ?? model, { ...opts.session, profilePrefix: path.join(dir, 'p') });
  const prompt = BigInt64Array.from({ length: opts.promptTokens }, (_, i) => BigInt(opts.promptIds[i % opts.promptIds.length]));
  try {
    await runner.run(prompt, 1);
    let out = await runner.run(prompt.subarray(0, Math.max(1, opts.promptTokens - (opts.decodeTokens ?? 8))), 1);
    let cache = runner.nextCache(out);
    for (let t = 0; t < (opts.decodeTokens ?? 8); t++) {
      out = await runner.run(BigInt64Array.of(BigInt(lastArgmax(out.logits as ort.Tensor))), 1, cache);
      cache = runner.nextCache(out);
    }
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
    // Runs: warm-up prefill, prefill, then the decode steps.
    return { prefill: phase(events, runs.slice(1, 2)), decode: phase(events, runs.slice(2)) };
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
