import { gb, memoryLimitBytes, runMemoryBytes } from '../eval/memory.js';
import { withOutputLock } from '../util/lock.js';
import { PROTOCOL } from '../eval/protocol.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadDataset, type Dataset } from '../data/index.js';
import type { QualityStats } from '../eval/kld.js';
import { machineInfo } from '../eval/latency.js';
import { evaluateLockstep, type LockstepResult } from '../eval/lockstep.js';
import { modelSize } from '../eval/size.js';
import { loadModel } from '../load/index.js';
import { checkOutFolder, quantlabVersion } from '../passes/output.js';
import { sourceInfo } from '../passes/quantize.js';
import { collapseFlags, recommend } from '../report/recommend.js';
import { REPORT_SCHEMA, type BenchReport, type MethodRow } from '../report/schema.js';
import { writeReport } from '../report/write.js';
import { defaultThreads } from '../runtime/session.js';
import { UsageError } from '../util/errors.js';
import { measureInterleaved, type VariantLatency } from './latency.js';
import { BenchProgress } from './progress.js';
import { profileOps } from './profile.js';
import { peakRssOf } from './rss.js';
import { BASELINE, defaultMethods, parseMethods, prepareVariant, type Variant } from './variants.js';

export interface BenchOptions {
  /** Local model folder or .onnx file (hub ids are resolved by the caller). */
  model: string;
  /** The model as the user named it (a hub id, the path as typed), for the report's title; default `model`. */
  modelName?: string;
  /** Methods to compare (default: fp32 + every registered method); fp32 is always included. */
  methods?: string[];
  /** Report folder; variants are cached under <out>/variants/<method>/. */
  out: string;
  dataset?: string;
  split?: string;
  /** False for random-weight models: no perplexity / KLD / top-1, latency and size only. */
  quality?: boolean;
  ctx?: number;
  stride?: number;
  maxTokens?: number;
  /** Windows per forward pass in the quality evaluation (default 1; see LockstepOptions.batchSize). */
  batch?: number;
  threads?: number;
  promptTokens?: number;
  decodeTokens?: number;
  warmup?: number;
  repetitions?: number;
  /** Measure each variant's peak RSS in a fresh process (default true). */
  memory?: boolean;
  /** Memory a variant may need to be run (default: this machine's); the FP32 baseline is skipped past it. */
  memoryLimitBytes?: number;
  signal?: AbortSignal;
  /** Progress drawing (default: a line on stderr). */
  progress?: BenchProgress;
  explain?: (message: string) => void;
  /** Called when a method fails to quantize (the bench goes on without it). */
  onFailure?: (method: string, error: unknown) => void;
}

export interface BenchResult { report: BenchReport; files: string[] }

/** The whole benchmark into `opts.out` (one run per folder at a time: a second is refused while this one holds it). */
export function runBench(opts: BenchOptions): Promise<BenchResult> {
  return withOutputLock(opts.out, 'bench', () => runBenchUnlocked(opts));
}

/** Quantize (or reuse) every method, evaluate all of them the same way, write report.{md,json,csv,html}. */
async function runBenchUnlocked(opts: BenchOptions): Promise<BenchResult> {
  const t0 = performance.now();
  const loadStart = os.loadavg()[0];
  const loaded = loadModel(opts.model);
  let methods = parseMethods(opts.methods ?? defaultMethods());
  // The FP32 weights' bytes come from the headers (lazy tensors): a baseline that cannot fit in this
  // machine's memory is not run, and the report says what it would need.
  const fp32Bytes = loaded.graph({ kvCache: true }).graph.initializerBytes();
  const notRun: BenchReport['failures'] = [];
  const need = runMemoryBytes(fp32Bytes), have = opts.memoryLimitBytes ?? memoryLimitBytes();
  if (need > have) {
    notRun.push({ method: BASELINE, error: `not run: FP32 needs ≈ ${gb(need)} of memory (${gb(fp32Bytes)} of weights), this machine has ${gb(have)}; speedups are then unavailable and quality needs a saved reference (quantlab eval --kld-base)` });
    methods = methods.filter((m) => m !== BASELINE);
    if (!methods.length) throw new UsageError(`${opts.model}: the FP32 model needs ≈ ${gb(need)} of memory, this machine has ${gb(have)}; pass --methods with quantized variants`);
  }
  checkOutFolder(opts.out, sourceInfo(loaded));
  const quality = (opts.quality ?? true) && !notRun.length;
  const threads = opts.threads ?? defaultThreads();
  const session = { threads };
  const maxPos = loaded.maxPositions;

  let dataset: Dataset | null = null;
  let tokens: number[] = [];
  if (quality) {
    if (!loaded.tokenizer) throw new UsageError(`${loaded.source} has no tokenizer.json; perplexity needs one (or pass --no-quality for latency and size only)`);
    dataset = loadDataset(opts.dataset ?? 'brown', opts.split ?? 'test');
    tokens = loaded.tokenizer.encode(dataset.text);
    if (opts.maxTokens) tokens = tokens.slice(0, opts.maxTokens);
  }
  const tokensTotal = tokens.length;
  const ctx = opts.ctx ?? Math.min(maxPos ?? 1024, 1024);
  if (maxPos && ctx > maxPos) throw new UsageError(`--ctx ${ctx} exceeds the model's ${maxPos} positions`);
  const stride = opts.stride ?? Math.max(1, Math.floor(ctx / 2));
  if (stride > ctx) throw new UsageError(`--stride ${stride} is larger than --ctx ${ctx}`);
  const batch = opts.batch ?? PROTOCOL.batch;
  const P = Math.min(opts.promptTokens ?? PROTOCOL.promptTokens, maxPos ?? Infinity);
  const N = opts.decodeTokens ?? PROTOCOL.decodeTokens;
  const warmup = opts.warmup ?? PROTOCOL.warmup, reps = opts.repetitions ?? PROTOCOL.repetitions;
  const promptIds = tokens.length ? tokens : pseudoRandomIds(P + N, loaded.config?.vocabSize ?? 50257);

  // Stage weights are rough seconds for a 12M-parameter model on 2 cores; they only shape the ETA.
  const c = loaded.config;
  const scale = Math.max(1, (c ? c.hiddenSize * (c.hiddenSize * c.numLayers * 12 + c.vocabSize) : 12e6) / 12e6);
  const nWindows = quality ? Math.ceil(Math.max(0, tokens.length - ctx) / stride) + 1 : 0;
  const progress = opts.progress ?? new BenchProgress([
    { name: 'quantize', weight: 10 * (methods.length - 1) * scale },
    { name: 'evaluate', weight: nWindows * methods.length * 0.3 * scale },
    { name: 'latency', weight: (warmup + reps) * methods.length * (0.7 + N * 0.02) * scale },
    { name: 'profile', weight: methods.length * 3 * scale },
    { name: 'memory', weight: opts.memory === false ? 0 : methods.length * 2 * scale },
  ]);
  try {
    const variants: Variant[] = [];
    const failures: BenchReport['failures'] = [...notRun];
    for (const [i, m] of methods.entries()) {
      opts.signal?.throwIfAborted();
      progress.stage('quantize', `quantize ${m} (${i + 1}/${methods.length})`);
      try {
        variants.push(await prepareVariant(loaded, m, path.join(opts.out, 'variants'), opts.explain));
      } catch (e) {
        // One method failing (e.g. calibration without a tokenizer) leaves the others' comparison intact.
        if (m === BASELINE || opts.signal?.aborted) throw e;
        failures.push({ method: m, error: ((e as Error).message ?? String(e)).split('\n')[0] });
        opts.onFailure?.(m, e);
      }
      progress.update(i + 1, methods.length, `methods`);
    }
    const [base, ...others] = variants;

    let q: LockstepResult | null = null;
    if (quality) {
      progress.stage('evaluate', 'evaluate perplexity / KLD / top-1');
      q = await evaluateLockstep(base.model, others.map((v) => ({ name: v.method, model: v.model })), tokens, {
        ctx, stride, bos: loaded.tokenizer?.bos, batchSize: batch, session, signal: opts.signal, onProgress: (d, t) => progress.update(d, t, 'windows'),
      });
    }

    progress.stage('latency', 'latency (interleaved)');
    const lat = await measureInterleaved(variants.map((v) => ({ name: v.method, model: v.model })), {
      promptTokens: P, decodeTokens: N, warmup, repetitions: reps, session, promptIds, maxPositions: maxPos, signal: opts.signal,
      onProgress: (d, t) => progress.update(d, t, 'runs'),
    });

    // Where the time goes: onnxruntime's per-op profile of one prefill and a few decode steps per variant.
    const profile: NonNullable<BenchReport['profile']> = {};
    progress.stage('profile', 'per-op profile');
    for (const [i, v] of variants.entries()) {
      opts.signal?.throwIfAborted();
      profile[v.method] = await profileOps(v.model, { promptIds, promptTokens: P, maxPositions: maxPos, session });
      progress.update(i + 1, variants.length, 'variants');
    }

    const rss = new Map<string, number>();
    if (opts.memory !== false) {
      progress.stage('memory', 'peak memory');
      for (const [i, v] of variants.entries()) {
        rss.set(v.method, await peakRssOf(v.files[0], v.model, { promptTokens: Math.min(P, (maxPos ?? Infinity) - 4), decodeTokens: 4, promptIds, threads, signal: opts.signal }));
        progress.update(i + 1, variants.length, 'variants');
      }
    }
    opts.signal?.throwIfAborted();

    // Compression is against the FP32 file, or its weight bytes when it was not written.
    const baseBytes = base.method === BASELINE ? base.files.reduce((n, f) => n + fileBytes(f), 0) : fp32Bytes;
    const rows = variants.map((v) => row(v, baseBytes, q, lat.results, rss));
    for (const r of rows) r.flags = collapseFlags(r);
    const report: BenchReport = {
      schema: REPORT_SCHEMA,
      created: new Date().toISOString(),
      quantlab_version: quantlabVersion(),
      note: notRun.length ? `The FP32 baseline does not fit in this machine's memory: ${notRun[0].error.replace(/^not run: /, '')}.` : quality ? null : 'Random weights: perplexity, KLD and top-1 agreement are meaningless and were not measured; latency and size only.',
      quality_measured: quality,
      model: { name: opts.modelName ?? opts.model, source: opts.model, hash: loaded.hash, arch: loaded.config?.arch ?? null },
      dataset: dataset ? { name: dataset.name, sha256: dataset.sha256, source: dataset.source, tokens_total: tokensTotal } : null,
      protocol: {
        ctx, stride, bos: quality ? loaded.tokenizer?.bos ?? null : null, windows: q?.reference.windows ?? 0, tokens_scored: q?.reference.tokensScored ?? 0, batch, threads,
        prompt_tokens: P, decode_tokens: N, decode_context: lat.decodeContext, prefill_logits: lat.prefillLogits, kv_cache: Object.fromEntries(lat.cachePath), warmup, repetitions: reps,
        schedule: 'round-robin (one repetition of every variant per round, order rotated each round)',
        load_average: [loadStart, os.loadavg()[0]],
      },
      machine: machineInfo(),
      rows,
      failures,
      recommendations: recommend(rows),
      profile,
      wall_s: (performance.now() - t0) / 1000,
    };
    const files = writeReport(opts.out, report);
    return { report, files };
  } finally {
    progress.done();
  }
}

function row(v: Variant, baseBytes: number, q: LockstepResult | null, lat: Map<string, VariantLatency>, rss: Map<string, number>): MethodRow {
  const size = modelSize(v.model, v.files);
  const bytes = size.file_bytes ?? 0;
  const ppl = q ? (v.method === BASELINE ? q.reference : q.variants.get(v.method)!.perplexity) : null;
  const l = lat.get(v.method) ?? null;
  const bl = lat.get(BASELINE) ?? null;
  return {
    method: v.method, config: v.config as MethodRow['config'], summary: v.summary, quantize_s: v.quantizeS, cached: v.cached,
    perplexity: ppl?.perplexity ?? null, nll: ppl?.nll ?? null, nll_stderr: ppl?.nllStderr ?? null,
    delta_ppl_pct: ppl && q ? (ppl.perplexity / q.reference.perplexity - 1) * 100 : null,
    quality: q ? (v.method === BASELINE ? identical(q.reference.tokensScored) : q.variants.get(v.method)!.quality) : null,
    latency: l ? { prefill_ms: l.prefill_ms, decode_ms: l.decode_ms, prefill_tokens_per_s: l.prefill_tokens_per_s, decode_tokens_per_s: l.decode_tokens_per_s } : null,
    speedup_prefill: l && bl ? bl.prefill_ms.p50 / l.prefill_ms.p50 : null,
    speedup_decode: l && bl ? bl.decode_ms.p50 / l.decode_ms.p50 : null,
    size: { file_bytes: bytes, compression: baseBytes / bytes, param_bytes: size.param_bytes, param_count: size.param_count, by_dtype: size.by_dtype as Record<string, { count: number; bytes: number }> },
    peak_rss_bytes: rss.get(v.method) ?? null,
    flags: [],
    pass: v.method === BASELINE ? null : { converted: v.record.report.converted.length, skipped: v.record.report.skipped.length, notes: v.record.report.notes },
  };
}

/** The reference compared with itself. */
const identical = (tokens: number): QualityStats => ({
  tokens, kld_mean: 0, kld_stderr: 0, kld_median: 0, kld_p99: 0, kld_p999: 0, kld_max: 0,
  same_top_pct: 100, same_top_stderr_pct: 0, delta_p_mean_pct: 0, delta_p_rms_pct: 0,
});

const fileBytes = (f: string) => fs.statSync(f).size;

function pseudoRandomIds(n: number, vocab: number): number[] {
  let seed = 12345;
  return Array.from({ length: n }, () => { seed = (seed * 1103515245 + 12345) >>> 0; return seed % vocab; });
}
