import type { Tensor } from '../ir/tensor.js';
import type { Model } from '../ir/graph.js';
import type { SessionOptions } from '../runtime/session.js';
import type { PassEngine } from './engine.js';

/** Every method's config is JSON data with a `kind`; the same string names the CLI method and the report row. */
export interface MethodConfig { kind: string }

export interface PassContext {
  /** Called with a reason for every weight/node the pass skipped or changed (printed by --verbose). */
  explain(message: string): void;
  /**
   * Where a resumable run keeps each quantized weight (passes/journal.ts): `compute` runs only
   * when `key` was not made by an interrupted earlier run. Absent: compute every time.
   */
  journal?: { lookup(key: string): Tensor[] | null; record(key: string, tensors: Tensor[]): Tensor[] };
  /** Runs models for the passes that calibrate, measure or train (default: the registered engine, passes/engine.ts). */
  engine?: PassEngine;
}

/** The model's maximum positions, as the graph builder recorded them. */
export function modelCtx(m: Model): number | undefined {
  try { return (JSON.parse(m.metadata['quantlab.config'] ?? '{}') as { maxPositions?: number }).maxPositions; } catch { return undefined; }
}

/** What a pass that runs the model on text needs beyond `explain` (the quantize command supplies it). */
export interface TextPassContext extends PassContext {
  tokenizer?: { encode(text: string): number[] };
  session?: SessionOptions;
}

/** `compute()` through the context's journal when there is one. */
export function journaled(ctx: PassContext, key: string, compute: () => Tensor[]): Tensor[] {
  if (!ctx.journal) return compute();
  return ctx.journal.lookup(key) ?? ctx.journal.record(key, compute());
}

/** `journaled` for a computation that awaits (GPTQ's GEMMs run in onnxruntime). */
export async function journaledAsync(ctx: PassContext, key: string, compute: () => Promise<Tensor[]>): Promise<Tensor[]> {
  if (!ctx.journal) return compute();
  return ctx.journal.lookup(key) ?? ctx.journal.record(key, await compute());
}

export interface PassReport {
  /** Weights (initializer names) the pass quantized or converted. */
  converted: string[];
  /** Nodes it left alone, with the reason. */
  skipped: { node: string; reason: string }[];
  notes: string[];
}

export interface PassResult { model: Model; report: PassReport }

/**
 * A quantization method: config in, graph in, graph out. Passes never mutate their input model
 * (use `cloneModel`); tensors are shared, never edited in place.
 */
export interface QuantMethod<C extends MethodConfig = MethodConfig> {
  kind: C['kind'];
  summary: string;
  defaults: C;
  run(model: Model, config: C, ctx: PassContext): PassResult | Promise<PassResult>;
}

export const emptyReport = (): PassReport => ({ converted: [], skipped: [], notes: [] });
