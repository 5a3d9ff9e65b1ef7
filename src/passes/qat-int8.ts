import type { Model } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { CALIBRATION_METADATA, loadCalibrationText } from '../quant/calibration/source.js';
import type { CalibMethod } from '../quant/calibration/thresholds.js';
import { defaultTrainable } from '../autodiff/trainable.js';
import { TokenWindows } from '../data/token-windows.js';
import { UsageError } from '../util/errors.js';
import { Progress } from '../util/progress.js';
import { engineOf } from './engine.js';
import { insertFakeQuant } from './fake-quant.js';
import { emptyReport, type PassResult, type QuantMethod } from './pass.js';
import type { SelectableConfig } from './select.js';
import { modelCtx } from './pass.js';
import { buildStaticInt8, int8Share, prepareStaticInt8, staticInt8Defaults, validateStaticInt8, type Ranges, type StaticInt8Config, type TextPassContext } from './static-int8.js';

/**
 * Quantization-aware training to static INT8: calibrate as static-int8 does, insert fake
 * quantization (int8 weights per output channel, int8 activations per tensor with learnable
 * scales: LSQ; straight-through gradients), fine-tune on text, then write the trained weights and
 * learned activation scales as a static-int8 model (same QDQ format, same size, same kernels).
 */
export interface QatInt8Config extends SelectableConfig {
  kind: 'qat-int8';
  /** Training text: a registered dataset (its `trainSplit`) or a file; never an evaluation split. */
  dataset: string;
  trainSplit: string;
  steps: number;
  /** Windows per step. */
  batch: number;
  /** Tokens per window (default: the model's maximum positions, as it is evaluated). */
  seq: number | null;
  /** Peak learning rate of the weights (warm-up, then cosine to minLrRatio·lr). */
  lr: number;
  warmup: number;
  minLrRatio: number;
  weightDecay: number;
  /** Clip the global gradient norm (0: off). */
  clip: number;
  /** Learn the activation scales (LSQ) with the weights; false keeps the calibrated ranges. */
  learnScales: boolean;
  /** Peak step of a learned scale, as a fraction of its calibrated value (Adam steps are ~lr in size whatever the parameter's scale). */
  scaleLr: number;
  seed: number;
  /** Initial activation ranges: static-int8's calibration settings. */
  calibration: string;
  calibSplit: string;
  calibWindows: number;
  calibMethod: CalibMethod;
  percentile: number;
  reduceRange: boolean;
  /** LM head: int8 with run-time activation ranges (as dynamic-int8), a learned static range, or float (embeddings then float too). */
  head: 'dynamic' | 'static' | 'float';
  threads: number | null;
}

export const qatInt8Defaults: QatInt8Config = {
  kind: 'qat-int8', dataset: 'brown', trainSplit: 'train', steps: 60, batch: 8, seq: null, lr: 1e-5, warmup: 10, minLrRatio: 0.1,
  weightDecay: 0, clip: 1, learnScales: true, scaleLr: 1e-3, seed: 0,
  // Start from the best calibration measured on the 12M GPT-2 (docs/qat.md); the head's range is learned too.
  calibration: staticInt8Defaults.calibration, calibSplit: staticInt8Defaults.calibSplit, calibWindows: staticInt8Defaults.calibWindows,
  calibMethod: 'mse', percentile: staticInt8Defaults.percentile, reduceRange: true, head: 'static', threads: null,
};

function validate(c: QatInt8Config): void {
  const bad = (m: string) => { throw new UsageError(`qat-int8: ${m}`); };
  const posInt = (v: number, name: string) => { if (!Number.isInteger(v) || v < 1) bad(`--${name} must be a positive integer, got ${v}`); };
  posInt(c.steps, 'steps');
  posInt(c.batch, 'batch');
  if (c.seq !== null && (!Number.isInteger(c.seq) || c.seq < 2)) bad(`--seq must be an integer ≥ 2, got ${c.seq}`);
  if (!(c.lr >= 0) || !Number.isFinite(c.lr)) bad(`--lr must be a non-negative number, got ${c.lr}`);
  if (!(c.warmup >= 0)) bad(`--warmup must be ≥ 0, got ${c.warmup}`);
  if (!(c.minLrRatio >= 0 && c.minLrRatio <= 1)) bad(`minLrRatio must be in [0, 1], got ${c.minLrRatio}`);
  if (!(c.weightDecay >= 0) || !(c.clip >= 0) || !(c.scaleLr >= 0)) bad('weightDecay, clip and scaleLr must be ≥ 0');
  validateStaticInt8(staticConfig(c), 'qat-int8');
}

/** The static-int8 settings QAT starts from and converts to (symmetric int8 activations, int8 weights per channel). */
function staticConfig(c: QatInt8Config): StaticInt8Config {
  return {
    ...staticInt8Defaults, select: c.select, calibration: c.calibration, calibSplit: c.calibSplit, calibWindows: c.calibWindows,
    calibMethod: c.calibMethod, percentile: c.percentile, reduceRange: c.reduceRange, head: c.head,
  };
}

export const qatInt8: QuantMethod<QatInt8Config> = {
  kind: 'qat-int8',
  summary: 'quantization-aware training (fake quant, STE, learned activation scales) fine-tuned on text, converted to static INT8',
  defaults: qatInt8Defaults,
  async run(input: Model, c: QatInt8Config, ctx: TextPassContext): Promise<PassResult> {
    validate(c);
    if (!ctx.tokenizer) throw new UsageError('qat-int8 needs the model tokenizer to read the training text');
    const sc = staticConfig(c);
    const p = await prepareStaticInt8(input, sc, ctx);
    const report = emptyReport();
    report.skipped.push(...p.skipped);
    report.notes.push(...p.notes);

    // Simulate every int8 weight of the converted model: the static MatMuls (with their calibrated
    // activation ranges), the dynamic head's weight, and the embedding tables (per row).
    const sites = p.sites;
    const ranges = new Map([...p.ranges].map(([name, r]) => [name, r.hi]));
    const g = p.base.graph;
    const dynamic = p.dynamicNodes.map((n) => g.nodes.find((x) => x.name === n)!);
    const readByMatmul = (w: string) => [...g.mustValue(w).uses].some((u) => u.node.opType !== 'Gather');
    const tables = dynamic.filter((n) => n.opType === 'Gather').map((n) => ({ name: n.inputs[0]!.name, reduceRange: readByMatmul(n.inputs[0]!.name) }));
    const fq = insertFakeQuant(p.base, {
      nodes: [...sites.map((s) => s.node.name), ...dynamic.filter((n) => n.opType !== 'Gather').map((n) => n.name)],
      tables, activationRanges: ranges, reduceRange: c.reduceRange,
    });

    const text = loadCalibrationText(c.dataset, c.trainSplit);
    const tokens = ctx.tokenizer.encode(text.text);
    const seq = c.seq ?? modelCtx(input) ?? 512;
    const data = new TokenWindows(tokens, seq, c.seed);
    const weights = defaultTrainable(p.base);
    const initialScale = new Map(fq.activationScales.map((n) => [n, fq.model.graph.mustValue(n).constant!.data[0] as number]));
    const trainer = await engineOf(ctx, 'qat-int8').fineTuner(fq.model, {
      params: [...weights, ...(c.learnScales ? fq.activationScales : [])],
      stopGradient: fq.weightScales,
      lrScale: Object.fromEntries([...initialScale].map(([n, s0]) => [n, c.lr > 0 ? (c.scaleLr * s0) / c.lr : 0])),
      schedule: { peak: c.lr, warmupSteps: c.warmup, totalSteps: c.steps, minRatio: c.minLrRatio },
      adamw: { weightDecay: c.weightDecay },
      maxGradNorm: c.clip,
      threads: c.threads ?? undefined,
    });
    const losses: number[] = [];
    const bar = new Progress('qat', c.steps);
    const t0 = performance.now();
    try {
      for (let s = 0; s < c.steps; s++) {
        const r = await trainer.trainStep(data.batch(s, c.batch), c.batch, seq);
        if (!Number.isFinite(r.loss)) throw new UsageError(`qat-int8: the loss became ${r.loss} at step ${s + 1}; lower --lr`);
        losses.push(r.loss);
        bar.update(s + 1);
      }
    } finally {
      bar.done();
      await trainer.release();
    }
    const seconds = (performance.now() - t0) / 1000;

    // Trained weights into the float model, learned scales into the activation ranges; then the static-int8 writer.
    const trained = new Map(trainer.params.map((x, i) => [x.name, { data: x.data, dims: trainer.dims[i] }]));
    for (const name of weights) {
      const t = trained.get(name)!;
      p.base.graph.mustValue(name).constant = new Tensor('float32', t.dims, t.data);
    }
    const learned: Ranges = new Map(p.ranges);
    let moved = 0;
    for (const scale of fq.activationScales) {
      const s = c.learnScales ? trained.get(scale)!.data[0] : initialScale.get(scale)!;
      const x = fq.activationOf.get(scale)!;
      if (!(s > 0)) throw new UsageError(`qat-int8: the learned scale of ${x} became ${s}; lower --lr`);
      const before = p.ranges.get(x)!.hi;
      moved = Math.max(moved, Math.abs(Math.log((127 * s) / before)));
      learned.set(x, { lo: -127 * s, hi: 127 * s });
      ctx.explain(`activation ${x}: calibrated range ±${before.toPrecision(4)}, learned ±${(127 * s).toPrecision(4)}`);
    }
    const quantize = new Set(sites.map((s) => s.node.name));
    const model = await buildStaticInt8({ ...p, ranges: learned }, sc, quantize, ctx);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    const k = Math.min(10, losses.length);
    report.notes.push(
      `qat: ${c.steps} steps × ${c.batch} windows × ${seq} tokens of ${text.name} (sha256 ${text.sha256.slice(0, 12)}…), lr ${c.lr} (warm-up ${c.warmup}, cosine to ${c.minLrRatio}×), ${c.learnScales ? 'learned' : 'fixed'} activation scales`,
      `qat: training loss ${mean(losses.slice(0, k)).toFixed(4)} (first ${k} steps) → ${mean(losses.slice(-k)).toFixed(4)} (last ${k}); ${((c.steps * c.batch * seq) / seconds).toFixed(0)} tokens/s; ${seconds.toFixed(1)} s; activation ranges moved up to ${(100 * (Math.exp(moved) - 1)).toFixed(1)}%`,
      int8Share(input, p, quantize),
    );
    if (c.head === 'static') {
      // The one size difference from static-int8's default file: say it where the size is read.
      const head = sites.find((s) => p.headNodes.includes(s.node.name));
      if (head) report.notes.push(`size: the head's range is learned (head 'static'), so its int8 weights go through a DequantizeLinear with per-channel zero points (${head.outDim.toLocaleString('en-US')} bytes more than static-int8's default head, which quantizes at run time; --config with head 'dynamic' gives the same form and size)`);
    }
    report.converted.push(...sites.map((s) => s.weight.name), ...p.dynamicNodes);
    model.metadata[CALIBRATION_METADATA] = JSON.stringify({ dataset: text.name, sha256: text.sha256, method: 'qat', calibration: p.calibration.name, steps: c.steps });
    return { model, report };
  },
};
