import { withOutputLock } from '../util/lock.js';
import fs from 'node:fs';
import path from 'node:path';
import type { LoadedModel } from '../load/index.js';
import { SpillFile, withSpill } from '../ir/spill.js';
import { QuantJournal } from './journal.js';
import { lazyLoads } from '../ir/tensor.js';
import { UsageError } from '../util/errors.js';
import { checkOutFolder, writeQuantizedFolder, type QuantizedRecord, type SourceInfo } from './output.js';
import type { MethodConfig, PassContext, PassResult } from './pass.js';
import { methodByKind, METHODS } from './registry.js';

/** The method's defaults overlaid with `partial` (a config as JSON data). Unknown kinds name the known ones. */
export function resolveConfig(partial: MethodConfig & Record<string, unknown>): MethodConfig {
  const m = methodByKind(partial.kind);
  if (!m) throw new UsageError(`unknown method '${partial.kind}' (known: ${METHODS.map((x) => x.kind).join(', ') || 'none'})`);
  const unknown = Object.keys(partial).filter((k) => !(k in m.defaults) && k !== 'select');
  if (unknown.length) throw new UsageError(`${m.kind}: unknown config field(s) ${unknown.join(', ')} (fields: ${Object.keys(m.defaults).filter((k) => k !== 'kind').join(', ')}, select)`);
  return { ...m.defaults, ...partial };
}

/** Where a loaded model's config and tokenizer live (an ONNX file may sit in <folder>/onnx/). */
export function sourceInfo(model: LoadedModel): SourceInfo {
  let dir = model.source;
  if (model.kind === 'onnx') {
    const d = path.dirname(path.resolve(model.source));
    dir = fs.existsSync(path.join(d, 'config.json')) || !fs.existsSync(path.join(d, '..', 'config.json')) ? d : path.dirname(d);
  }
  return { dir, files: model.files, hash: model.hash };
}

export interface QuantizeFolderOptions {
  model: LoadedModel;
  config: MethodConfig & Record<string, unknown>;
  out: string;
  explain?: (message: string) => void;
  /** Spill the pass's new weights to disk as they are made (default: when FP32 weights exceed SPILL_ABOVE), or to this file. */
  spill?: boolean | SpillFile;
  /**
   * Keep each quantized weight in `<out>.partial/` as it is made, so an interrupted run resumes
   * (default: for models past SPILL_ABOVE, where a run takes minutes).
   */
  resumable?: boolean;
  /** Source weights read so far (of `total`) and their FP32 bytes: the pass and the writer read each once. */
  onProgress?: (done: number, total: number, bytes: number) => void;
}

/** FP32 weight bytes above which quantization spills its outputs to disk (models near this machine's memory). */
export const SPILL_ABOVE = 4e9;

export interface QuantizeFolderResult {
  record: QuantizedRecord; result: PassResult; passMs: number; sourceBytes: number; outBytes: number;
  /** Weights taken from an interrupted earlier run's `<out>.partial/`. */
  resumed: number;
}

/** Load → run the method on the KV-cache graph → write a model folder that `loadModel` and `quantlab eval` read unchanged. A second run on the same `out` is refused while this one holds it. */
export function quantizeToFolder(opts: QuantizeFolderOptions): Promise<QuantizeFolderResult> {
  return withOutputLock(opts.out, `quantize ${String(opts.config.kind)}`, () => quantizeUnlocked(opts));
}

async function quantizeUnlocked(opts: QuantizeFolderOptions): Promise<QuantizeFolderResult> {
  const config = resolveConfig(opts.config);
  const method = methodByKind(config.kind)!;
  const source = sourceInfo(opts.model);
  checkOutFolder(opts.out, source);
  const graph = opts.model.graph({ kvCache: true });
  // Methods that run the model on text (static-int8 calibration) read the tokenizer from the context.
  const ctx: PassContext & { tokenizer?: LoadedModel['tokenizer'] } = { explain: opts.explain ?? (() => {}), tokenizer: opts.model.tokenizer };
  const weightBytes = graph.graph.initializerBytes();
  // Past SPILL_ABOVE bytes of FP32 weights the pass's outputs go to an unlinked temp file as they
  // are made (the inputs are read lazily): peak memory stays far below the model's size.
  const spill = opts.spill instanceof SpillFile ? opts.spill : (opts.spill ?? weightBytes > SPILL_ABOVE) ? new SpillFile() : null;
  const journal = (opts.resumable ?? weightBytes > SPILL_ABOVE)
    ? new QuantJournal(`${path.resolve(opts.out)}.partial`, JSON.stringify({ source: source.hash, method: config }))
    : null;
  if (journal) ctx.journal = journal;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  // Progress: each source weight is read lazily once, by the pass or else by the writer.
  const pending = new Set(graph.graph.initializers().map((v) => v.constant!).filter((t) => t.lazy));
  const total = pending.size;
  let readBytes = 0;
  const prevListener = lazyLoads.listener;
  if (opts.onProgress) {
    lazyLoads.listener = (t) => {
      if (!pending.delete(t)) return;
      readBytes += t.byteLength;
      opts.onProgress!(total - pending.size, total, readBytes);
    };
  }
  try {
    const result = await withSpill(spill, async () => method.run(graph, config, ctx));
    const passMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    // CPU time as well as wall time: on a shared machine the wall clock mostly measures the neighbours.
    const cpuMs = (cpu.user + cpu.system) / 1000;
    const record = writeQuantizedFolder({
      source, model: result.model, out: opts.out, method: config, report: result.report,
      extra: { timing: {
        pass_ms: Math.round(passMs), pass_cpu_ms: Math.round(cpuMs), source_weight_bytes: weightBytes,
        mb_per_s: +(weightBytes / 1e6 / (passMs / 1000)).toFixed(1), mb_per_cpu_s: +(weightBytes / 1e6 / (cpuMs / 1000)).toFixed(1),
      } },
    });
    const sourceBytes = opts.model.files.reduce((s, f) => s + fs.statSync(f).size, 0);
    const outBytes = Object.entries(record.model.files).filter(([f]) => f.startsWith('onnx/')).reduce((s, [, n]) => s + n, 0);
    const resumed = journal?.reused ?? 0;
    journal?.remove();
    return { record, result, passMs, sourceBytes, outBytes, resumed };
  } finally {
    lazyLoads.listener = prevListener;
  }
}
