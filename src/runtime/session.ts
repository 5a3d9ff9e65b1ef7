import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { Model } from '../ir/graph.js';
import { encodeModel, writeModel } from '../onnx/write.js';

export interface SessionOptions {
  /** Intra-op threads (default: all cores). */
  threads?: number;
  /** onnxruntime graph optimisation level (default 'all'). */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Write onnxruntime's per-op profile with this file prefix. */
  profilePrefix?: string;
  /** Save the graph as optimised by onnxruntime (to see which kernels run). */
  optimizedModelPath?: string;
  /**
   * Run QuantizeLinear/DequantizeLinear as written (no QDQ fusion or propagation): fake
   * quantization in training must compute exactly the float function its gradient describes.
   */
  literalQdq?: boolean;
  /** false: no pre-packed copy of the MatMul weights (less memory for a one-off probe, slightly slower GEMMs). */
  prepack?: boolean;
}

export function defaultThreads(): number { return os.availableParallelism?.() ?? os.cpus().length; }

/**
 * Past this many bytes of weights a session is built from a temp file with external data, not from
 * an in-memory protobuf: onnxruntime then reads the weights straight into its tensors, where a
 * buffer costs two more transient copies (the encoded bytes and onnxruntime's parsed proto) — the
 * peak of a layer-by-layer calibration whose first stage holds the embedding table. (And protobuf
 * cannot encode more than 2 GiB.)
 */
const INLINE_LIMIT = 64 * 2 ** 20;

/** An onnxruntime session for an in-memory model (through a temp folder past INLINE_LIMIT). */
export async function createSession(model: Model, opts: SessionOptions = {}): Promise<ort.InferenceSession> {
  const so: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: opts.threads ?? defaultThreads(),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: opts.optimization ?? 'all',
    extra: { session: { qdq_matmulnbits_accuracy_level: '4', ...(opts.literalQdq ? { disable_quant_qdq: '1' } : {}), ...(opts.prepack === false ? { disable_prepacking: '1' } : {}) } },
  };
  if (opts.profilePrefix) { so.enableProfiling = true; so.profileFilePrefix = opts.profilePrefix; }
  if (opts.optimizedModelPath) so.optimizedModelFilePath = opts.optimizedModelPath;
  const bytes = model.graph.initializerBytes();
  if (bytes < INLINE_LIMIT) return ort.InferenceSession.create(encodeModel(model), so);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-'));
  try {
    const file = path.join(dir, 'model.onnx');
    writeModel(model, file, { externalData: { location: 'model.onnx.data' } });
    return await ort.InferenceSession.create(file, so);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export const ortVersion = (): string => ort.env.versions?.node ?? 'unknown';
export { ort };
