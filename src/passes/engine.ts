import type { Model } from '../ir/graph.js';
import type { Gemm } from '../quant/linalg.js';
import type { SessionOptions } from '../runtime/session.js';
import type { TrainerOptions } from '../train/trainer.js';

/*
 * What a pass needs from the layers above it — running a model, a GEMM, perplexity, fine-tuning —
 * as an interface the caller supplies (src/engine.ts binds it to onnxruntime, eval/ and train/).
 * Passes import only types from those layers, so the flow stays one way: passes → runtime → eval.
 * Like tfjs-core's backends, the engine registers itself (importing 'quantlab' does it); a context's
 * own `engine` wins.
 */

/** One output of a model run: float values, row-major. */
export interface RunTensor { data: Float32Array; dims: readonly number[] }

/** A session on one model, run on token windows from an empty cache. */
export interface ModelRun {
  /**
   * `ids` holds `batch` windows of equal length; returns the named outputs. `extra` feeds the model's
   * other inputs with outputs of an earlier run (a layer-by-layer probe's hidden states).
   */
  run(ids: BigInt64Array, batch: number, outputs: string[], extra?: Record<string, RunTensor>): Promise<Record<string, RunTensor>>;
  release(): Promise<void>;
}

/** Next-token fine-tuning of a graph (QAT): trainable values by name, updated in place each step. */
export interface FineTuner {
  readonly params: { name: string; data: Float32Array }[];
  readonly dims: number[][];
  trainStep(ids: BigInt64Array, batch: number, seq: number): Promise<{ loss: number }>;
  release(): Promise<void>;
}

export interface PassEngine {
  open(model: Model, session?: SessionOptions): Promise<ModelRun>;
  /** A float32 GEMM for GPTQ/AWQ's linear algebra; release it when done. */
  gemm(session?: SessionOptions): Promise<{ gemm: Gemm; release(): Promise<void> }>;
  /** Perplexity over `tokens` in non-overlapping windows of `ctx`. */
  perplexity(model: Model, tokens: number[], ctx: number, session?: SessionOptions): Promise<number>;
  fineTuner(model: Model, opts: TrainerOptions): Promise<FineTuner>;
}

let registered: PassEngine | undefined;

export function registerPassEngine(engine: PassEngine): void { registered = engine; }

/** The context's engine, else the registered one. */
export function engineOf(ctx: { engine?: PassEngine }, who: string): PassEngine {
  const e = ctx.engine ?? registered;
  if (!e) throw new Error(`${who} runs the model, and no engine is registered (import 'quantlab' or src/engine.js first)`);
  return e;
}
