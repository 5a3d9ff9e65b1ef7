import { withOutputLock } from '../util/lock.js';
import path from 'node:path';
import type { DecoderConfig } from '../arch/config.js';
import { perplexity } from '../eval/perplexity.js';
import type { Model } from '../ir/graph.js';
import { loadModel } from '../load/index.js';
import { writeJsonAtomic } from '../util/fsx.js';
import { UsageError } from '../util/errors.js';
import { findCheckpoint, readCheckpoint, saveCheckpoint, type TrainState, writeModelFolder } from './checkpoint.js';
import { TokenWindows } from '../data/token-windows.js';
import { Trainer } from './trainer.js';

export interface TrainRunOptions {
  /** HF model folder the weights come from (non-trained tensors, config, tokenizer are copied from it). */
  sourceDir: string;
  cfg: DecoderConfig;
  /** Full-sequence decoder graph with the starting weights. */
  decoder: Model;
  trainTokens: ArrayLike<number>;
  /** Held-out tokens for validation perplexity (sliding windows, ctx valCtx, stride valCtx/2). */
  valTokens?: ArrayLike<number>;
  valCtx?: number;
  out: string;
  steps: number;
  batch: number;
  seq: number;
  lr: number;
  warmup: number;
  minLrRatio?: number;
  weightDecay?: number;
  maxGradNorm?: number;
  evalEvery?: number;
  saveEvery?: number;
  seed?: number;
  /** Continue from `<out>/checkpoint`. */
  resume?: boolean;
  /** Stop after this step (checkpointed, resumable) instead of `steps`: time-boxed sessions. */
  until?: number;
  threads?: number;
  /** Identifies the data in the checkpoint (resume refuses different data). */
  dataId?: string;
  log?: (line: string) => void;
}

export interface TrainRunResult {
  steps: number;
  startStep: number;
  firstLoss: number;
  /** Mean training loss over the last min(10, steps run) steps. */
  lastLoss: number;
  validation: TrainState['validation'];
  seconds: number;
  tokensPerSecond: number;
  peakRssMiB: number;
  out: string;
}

/** The settings a resumed run must share with the run it continues. */
function runIdentity(o: TrainRunOptions): Record<string, unknown> {
  return {
    batch: o.batch, seq: o.seq, lr: o.lr, warmup: o.warmup, minLrRatio: o.minLrRatio ?? 0.1, weightDecay: o.weightDecay ?? 0.01,
    maxGradNorm: o.maxGradNorm ?? 1, seed: o.seed ?? 0, data: o.dataId ?? null, trainTokens: o.trainTokens.length,
  };
}

/** Train into `o.out` (a second run on the same folder is refused while this one holds it). */
export function trainRun(o: TrainRunOptions): Promise<TrainRunResult> {
  return withOutputLock(o.out, 'train', () => trainUnlocked(o));
}

/**
 * Fine-tune a decoder: random windows of the training tokens, next-token cross-entropy, AdamW with
 * warm-up + cosine decay (over `steps`) and clipping; validation perplexity every `evalEvery` steps;
 * a resumable checkpoint every `saveEvery` steps and at the end; the trained model folder in `out`.
 */
async function trainUnlocked(o: TrainRunOptions): Promise<TrainRunResult> {
  const log = o.log ?? (() => {});
  if (path.resolve(o.out) === path.resolve(o.sourceDir)) throw new UsageError('--out must differ from the input model folder');
  const identity = runIdentity(o);
  let resumeFrom: string | null = null;
  if (o.resume) {
    resumeFrom = findCheckpoint(o.out);
    if (!resumeFrom) throw new UsageError(`--resume: no checkpoint in ${o.out}`);
  } else if (findCheckpoint(o.out)) {
    throw new UsageError(`${o.out} already holds a checkpoint: pass --resume to continue it, or choose another --out`);
  }
  // A resumed run starts from the checkpoint's weights (a model folder itself).
  const decoder = resumeFrom ? loadModel(resumeFrom).graph({ kvCache: false }) : o.decoder;
  const trainer = await Trainer.create(decoder, {
    schedule: { peak: o.lr, warmupSteps: o.warmup, totalSteps: o.steps, minRatio: o.minLrRatio ?? 0.1 },
    adamw: { weightDecay: o.weightDecay ?? 0.01 },
    maxGradNorm: o.maxGradNorm ?? 1,
    threads: o.threads,
  });
  let state: TrainState = { step: 0, run: identity, history: [], validation: [] };
  if (resumeFrom) {
    const ck = readCheckpoint(resumeFrom, trainer.params);
    for (const [k, v] of Object.entries(identity)) {
      if (JSON.stringify(ck.state.run[k]) !== JSON.stringify(v)) throw new UsageError(`--resume: the checkpoint was made with ${k} = ${JSON.stringify(ck.state.run[k])}, this run has ${JSON.stringify(v)}`);
    }
    if (ck.state.step > o.steps) throw new UsageError(`--resume: the checkpoint is at step ${ck.state.step}, beyond --steps ${o.steps}`);
    trainer.restore(ck.state.step, ck.opt);
    state = ck.state;
    log(`resumed from ${resumeFrom} at step ${state.step}`);
  }
  const startStep = state.step;
  const data = new TokenWindows(o.trainTokens, o.seq, o.seed ?? 0);
  let savedStep = resumeFrom ? state.step : null;
  const save = () => { saveCheckpoint(o.out, o.sourceDir, o.cfg, trainer.params, trainer.dims, trainer.optimizerState(), { ...state, step: trainer.step }); savedStep = trainer.step; };
  const validate = async () => {
    if (!o.valTokens) return;
    const ctx = Math.min(o.valCtx ?? o.cfg.maxPositions, o.cfg.maxPositions);
    const r = await perplexity(trainer.model(), o.valTokens, { ctx, stride: Math.max(1, ctx >> 1), session: { threads: o.threads } });
    state.validation.push({ step: trainer.step, perplexity: r.perplexity, nll: r.nll });
    log(`step ${trainer.step}: validation perplexity ${r.perplexity.toFixed(4)} (${r.tokensScored} tokens, ctx ${ctx})`);
  };

  if (startStep === 0 && o.valTokens) await validate();
  const t0 = performance.now();
  const end = Math.min(o.steps, o.until ?? o.steps);
  for (let s = startStep; s < end; s++) {
    const r = await trainer.trainStep(data.batch(s, o.batch), o.batch, o.seq);
    if (!Number.isFinite(r.loss) || !Number.isFinite(r.gradNorm)) {
      // Nothing more is saved: the last checkpoint stays the last good one.
      await trainer.release();
      const last = savedStep === null ? null : findCheckpoint(o.out);
      throw new UsageError(`train: the ${Number.isFinite(r.loss) ? 'gradient norm' : 'loss'} became ${Number.isFinite(r.loss) ? r.gradNorm : r.loss} at step ${s + 1} (lr ${r.lr.toExponential(2)}); ${last ? `the last good checkpoint is ${last} (step ${savedStep}): resume from it with a lower --lr` : 'no checkpoint was saved before it: lower --lr, or save more often (--save-every)'}`);
    }
    state.history.push({ step: r.step, loss: r.loss, lr: r.lr, gradNorm: r.gradNorm });
    if (s === startStep || (s + 1) % 10 === 0 || s + 1 === end) {
      log(`step ${s + 1}/${o.steps}: loss ${r.loss.toFixed(4)}, lr ${r.lr.toExponential(2)}, grad norm ${r.gradNorm.toFixed(3)}`);
    }
    state.step = trainer.step;
    if (o.evalEvery && (s + 1) % o.evalEvery === 0 && s + 1 !== end) await validate();
    if (o.saveEvery && (s + 1) % o.saveEvery === 0 && s + 1 !== end) save();
  }
  const seconds = (performance.now() - t0) / 1000;
  if (o.valTokens && state.validation.at(-1)?.step !== trainer.step) await validate();
  save();
  writeModelFolder(o.out, o.sourceDir, o.cfg, trainer.params, trainer.dims);
  await trainer.release();
  const run = state.history.filter((h) => h.step >= startStep);
  const tail = state.history.slice(-Math.min(10, run.length));
  const result: TrainRunResult = {
    steps: trainer.step, startStep,
    firstLoss: state.history[0]?.loss ?? NaN,
    lastLoss: tail.reduce((a, h) => a + h.loss, 0) / Math.max(1, tail.length),
    validation: state.validation, seconds,
    tokensPerSecond: seconds > 0 ? (run.length * o.batch * o.seq) / seconds : 0,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    out: o.out,
  };
  writeJsonAtomic(path.join(o.out, 'train_result.json'), { ...result, run: identity });
  return result;
}

