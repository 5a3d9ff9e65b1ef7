import { Builder } from '../ir/builder.js';
import { cloneModel, type Model } from '../ir/graph.js';
import { UsageError } from '../util/errors.js';

export interface CrossEntropyOptions {
  /** Logits value [batch, seq, vocab] (default 'logits'). */
  logits?: string;
  /** Name of the new int64 [batch, seq] labels input (default 'labels'). */
  labels?: string;
  /** Name of the scalar output (default 'loss'). */
  loss?: string;
  /** Label value whose positions are left out of the mean (e.g. -100); off when undefined. */
  ignoreIndex?: number;
  /** Drop the logits output (default true: training reads only the loss). */
  dropLogits?: boolean;
}

/**
 * Add a mean next-token NLL: loss = -mean over positions of log_softmax(logits)[label].
 * Labels are taken as given (shifting by one is the caller's job); with ignoreIndex, positions
 * holding it are excluded and the mean is over the others (0 when none are left).
 */
export function addCrossEntropyLoss(model: Model, opts: CrossEntropyOptions = {}): Model {
  const m = cloneModel(model);
  const g = m.graph;
  const logits = g.value(opts.logits ?? 'logits');
  if (!logits) throw new UsageError(`cross-entropy: no value named '${opts.logits ?? 'logits'}'`);
  const labelsName = opts.labels ?? 'labels';
  if (g.value(labelsName)) throw new UsageError(`cross-entropy: a value named '${labelsName}' already exists`);
  const shape = logits.type?.shape;
  const labels = g.addInput(labelsName, { dtype: 'int64', shape: shape ? shape.slice(0, -1) : ['batch_size', 'sequence_length'] });
  const b = new Builder(g);
  const out = b.scope('loss', () => {
    const lp = b.op('LogSoftmax', [logits], { axis: -1 });
    let ids = labels;
    let valid = null;
    if (opts.ignoreIndex !== undefined) {
      valid = b.op('Not', [b.op('Equal', [labels, b.scalarI64(opts.ignoreIndex)])]);
      ids = b.op('Where', [valid, labels, b.scalarI64(0)]);
    }
    const picked = b.op('Squeeze', [b.op('GatherElements', [lp, b.op('Unsqueeze', [ids, b.constI64([-1])])], { axis: -1 }), b.constI64([-1])]);
    if (!valid) return b.op('Neg', [b.op('ReduceMean', [picked], { keepdims: 0 })]);
    const kept = b.op('Where', [valid, picked, b.scalarF32(0)]);
    const count = b.op('Max', [b.op('ReduceSum', [b.op('Cast', [valid], { to: 1 })], { keepdims: 0 }), b.scalarF32(1)]);
    return b.op('Neg', [b.op('Div', [b.op('ReduceSum', [kept], { keepdims: 0 }), count])]);
  });
  const lossName = opts.loss ?? 'loss';
  if (g.value(lossName)) throw new UsageError(`cross-entropy: a value named '${lossName}' already exists`);
  g.renameValue(out, lossName);
  out.type = { dtype: 'float32', shape: [] };
  if (opts.dropLogits ?? true) {
    const i = g.outputs.indexOf(logits);
    if (i >= 0) g.outputs.splice(i, 1);
  }
  g.markOutput(out);
  return m;
}

/** Shifted next-token labels for ids [B, T]: labels[t] = ids[t+1], the last position ignored. */
export function nextTokenLabels(ids: BigInt64Array, batch: number, seq: number, ignoreIndex = -100): BigInt64Array {
  const out = new BigInt64Array(batch * seq).fill(BigInt(ignoreIndex));
  for (let r = 0; r < batch; r++) for (let t = 0; t + 1 < seq; t++) out[r * seq + t] = ids[r * seq + t + 1];
  return out;
}

