/*
 * quantlab — the library entry. One direction of flow: load a model, quantize it with a method
 * config, evaluate (perplexity, KLD/top-1 against a reference, latency), run the whole benchmark,
 * export for transformers.js, generate with the in-place KV cache. Everything else is internal.
 */
import './engine.js'; // registers the passes' engine (passes/engine.ts)
export { loadModel, resolveModelSpec, type LoadedModel } from './load/index.js';
export { loadDataset, type Dataset } from './data/index.js';
export { METHODS, methodByKind } from './passes/registry.js';
export { quantizeToFolder, resolveConfig, type QuantizeFolderOptions, type QuantizeFolderResult } from './passes/quantize.js';
export type { MethodConfig, PassResult } from './passes/pass.js';
export { perplexity, type PerplexityOptions, type PerplexityResult } from './eval/perplexity.js';
export { evaluateLockstep, type LockstepOptions, type LockstepResult } from './eval/lockstep.js';
export { measureLatency, machineInfo, type LatencyOptions, type LatencyResult, type MachineInfo } from './eval/latency.js';
export { runBench, type BenchOptions, type BenchResult } from './bench/run.js';
export type { BenchReport } from './report/schema.js';
export { exportTransformersJs, type ExportOptions, type ExportResult } from './export/transformers-js.js';
export { DecoderRunner, type CachePath, type DecoderCache, type RunnerOptions } from './runtime/decoder.js';
export { greedyGenerate, leftPad, type GreedyOptions, type GreedyResult } from './runtime/generate.js';
export { writeModel } from './onnx/write.js';
export { readModel } from './onnx/read.js';
