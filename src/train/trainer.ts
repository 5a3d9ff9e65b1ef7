import { defaultTrainable } from '../autodiff/trainable.js';
import { addCrossEntropyLoss, nextTokenLabels } from '../autodiff/loss.js';
import { buildGradientGraph, gradName } from '../autodiff/engine.js';
import { cloneModel, type Model } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { emptyCacheFeeds } from '../runtime/decoder.js';
import { createSession, ort } from '../runtime/session.js';
import { UsageError } from '../util/errors.js';
import { AdamW, type AdamWOptions, type AdamWState, type Param } from './adamw.js';
import { clipScale, globalNorm } from './clip.js';
import { learningRate, type LrSchedule } from './schedule.js';

export interface TrainerOptions {
  /** Initializers to train (default: every float32 initializer of rank ≥ 1 except the rotary table). */
  params?: string[];
  schedule: LrSchedule;
  adamw?: AdamWOptions;
  /** Clip the global gradient norm to this (default 1; 0 turns clipping off). */
  maxGradNorm?: number;
  threads?: number;
  /** Learning-rate multipliers by parameter name (default 1). */
  lrScale?: Record<string, number>;
  /** Values no gradient flows through (e.g. QAT weight scales computed from the weights). */
  stopGradient?: string[];
}

export interface StepResult { step: number; loss: number; gradNorm: number; lr: number }

const IGNORE = -100;

/**
 * Next-token training of a decoder graph (either form) on onnxruntime: one session computes the
 * loss and all gradients (weights are graph inputs, fed from JS each step), AdamW updates in JS.
 */
export class Trainer {
  private stepCount = 0;
  private constructor(
    private readonly decoder: Model,
    private readonly session: ort.InferenceSession,
    readonly params: Param[],
    readonly dims: number[][],
    private readonly optimizer: AdamW,
    private readonly opts: TrainerOptions,
  ) {}

  static async create(decoder: Model, opts: TrainerOptions): Promise<Trainer> {
    const names = opts.params ?? defaultTrainable(decoder);
    if (!names.length) throw new UsageError('train: no trainable parameters');
    const lossModel = addCrossEntropyLoss(decoder, { ignoreIndex: IGNORE });
    const grad = buildGradientGraph(lossModel, { loss: 'loss', wrt: names, weightsAsInputs: true, stopGradient: opts.stopGradient });
    const session = await createSession(grad, { threads: opts.threads, literalQdq: true });
    const params: Param[] = [];
    const dims: number[][] = [];
    for (const n of names) {
      const t = decoder.graph.mustValue(n).constant;
      if (!t || t.dtype !== 'float32') throw new UsageError(`train: '${n}' is not a float32 initializer`);
      params.push({ name: n, data: Float32Array.from(t.data as Float32Array), decay: t.dims.length >= 2, lrScale: opts.lrScale?.[n] });
      dims.push([...t.dims]);
    }
    return new Trainer(decoder, session, params, dims, new AdamW(params, opts.adamw), opts);
  }

  get step(): number { return this.stepCount; }

  optimizerState(): AdamWState { return this.optimizer.state(); }

  /** Continue a checkpointed run: optimizer moments and the step counter (weights come with the model). */
  restore(step: number, state: AdamWState): void {
    this.optimizer.restore(state);
    this.stepCount = step;
  }

  /** Loss and gradients for token windows ids [batch, seq] (labels: the next tokens; the last position is ignored). */
  async lossAndGradients(ids: BigInt64Array, batch: number, seq: number): Promise<{ loss: number; grads: Float32Array[] }> {
    if (ids.length !== batch * seq) throw new UsageError(`train: ${ids.length} ids for batch ${batch} × seq ${seq}`);
    // A KV-cache form trains too: empty cache, full mask, positions 0…seq-1.
    const feeds = emptyCacheFeeds(this.decoder, ids, batch, { labels: new ort.Tensor('int64', nextTokenLabels(ids, batch, seq, IGNORE), [batch, seq]) });
    this.params.forEach((p, i) => { feeds[p.name] = new ort.Tensor('float32', p.data, this.dims[i]); });
    const out = await this.session.run(feeds);
    return { loss: Number(out.loss.data[0]), grads: this.params.map((p) => out[gradName(p.name)].data as Float32Array) };
  }

  /** One optimisation step: forward + backward, clip, AdamW at the scheduled learning rate. */
  async trainStep(ids: BigInt64Array, batch: number, seq: number): Promise<StepResult> {
    const { loss, grads } = await this.lossAndGradients(ids, batch, seq);
    const gradNorm = globalNorm(grads);
    const lr = learningRate(this.opts.schedule, this.stepCount);
    // A NaN/Inf loss or gradient changes nothing (the weights stay the last good ones); the caller stops.
    if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) return { step: this.stepCount, loss, gradNorm, lr };
    this.optimizer.step(grads, lr, clipScale(gradNorm, this.opts.maxGradNorm ?? 1));
    return { step: this.stepCount++, loss, gradNorm, lr };
  }

  /** The decoder with the current weights as initializers (the input model is not modified). */
  model(): Model {
    const m = cloneModel(this.decoder);
    this.params.forEach((p, i) => { m.graph.mustValue(p.name).constant = new Tensor('float32', this.dims[i], Float32Array.from(p.data)); });
    return m;
  }

  async release(): Promise<void> { await this.session.release(); }
}
