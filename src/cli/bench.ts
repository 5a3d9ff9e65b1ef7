import fs from 'node:fs';
import { UsageError } from '../util/errors.js';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { runBench } from '../bench/run.js';
import { PROTOCOL } from '../eval/protocol.js';
import { defaultMethods } from '../bench/variants.js';
import { loadModel, resolveModelSpec } from '../load/index.js';
import { renderMarkdown } from '../report/markdown.js';
import type { Command } from './command.js';
import { intOption, requireString } from './options.js';

/** The default model shipped in the package (resolved from this file: <root>/dist/cli/bench.js). */
const EMBEDDED_MODEL = fileURLToPath(new URL('../../models/gpt2-brown-12m', import.meta.url));

export const benchCommand: Command = {
  name: 'bench',
  summary: 'quantize with every method, measure quality, speed and size the same way, write the trade-off report',
  usage: 'quantlab bench [--model <folder|onnx|hub id>] [--dataset brown|wikitext2|<file>] [--split test] [--methods fp32,dynamic-int8,…] [--out <folder>] [--ctx N] [--stride N] [--max-tokens N] [--threads N] [--reps N]',
  options: {
    model: { type: 'string', description: 'model folder (HF safetensors or ONNX export), .onnx file or Hugging Face id (default: the embedded 12M GPT-2, models/gpt2-brown-12m)', valueName: 'path|id' },
    dataset: { type: 'string', description: 'brown, wikitext2 or a text file', default: 'brown', valueName: 'name|file' },
    split: { type: 'string', description: 'dataset split', default: 'test', valueName: 'split' },
    methods: { type: 'string', description: 'comma-separated methods (default: fp32 and every registered method; fp32 is always included)', valueName: 'list' },
    out: { type: 'string', description: 'report folder; quantized variants are cached in <out>/variants/ and reused on a re-run (default out/bench-<model name>)', valueName: 'folder' },
    ctx: { type: 'string', description: 'perplexity window (default: the model maximum positions, at most 1024)', valueName: 'N' },
    stride: { type: 'string', description: 'window stride (default ctx/2)', valueName: 'N' },
    'max-tokens': { type: 'string', description: 'evaluate only the first N tokens of the dataset', valueName: 'N' },
    batch: { type: 'string', description: 'windows per forward pass in the quality evaluation (dynamic activation scales span the whole batch)', default: String(PROTOCOL.batch), valueName: 'N' },
    threads: { type: 'string', description: 'onnxruntime intra-op threads for every measurement (default: all cores)', valueName: 'N' },
    reps: { type: 'string', description: 'latency repetitions per variant (interleaved rounds)', default: String(PROTOCOL.repetitions), valueName: 'N' },
    warmup: { type: 'string', description: 'warm-up rounds (discarded)', default: String(PROTOCOL.warmup), valueName: 'N' },
    'prompt-tokens': { type: 'string', description: 'prefill prompt length (capped at the model positions)', default: String(PROTOCOL.promptTokens), valueName: 'N' },
    'decode-tokens': { type: 'string', description: 'decode steps timed per repetition', default: String(PROTOCOL.decodeTokens), valueName: 'N' },
    'no-quality': { type: 'boolean', description: 'latency and size only (random-weight models: perplexity is meaningless)' },
    'no-memory': { type: 'boolean', description: 'skip the per-variant peak memory measurement' },
  },
  async run(v) {
    // The embedded model ships with the repository, not with the npm package.
    if (typeof v.model !== 'string' && !fs.existsSync(EMBEDDED_MODEL)) throw new UsageError('no --model given and the embedded 12M GPT-2 is not here (it ships with the repository, not the npm package): pass --model <folder|.onnx|hub id>');
    const spec = typeof v.model === 'string' ? requireString(v.model, 'model') : EMBEDDED_MODEL;
    const model = await resolveModelSpec(spec);
    const methods = typeof v.methods === 'string' ? v.methods.split(',').map((s) => s.trim()).filter(Boolean) : defaultMethods();
    const out = typeof v.out === 'string' ? v.out : path.join('out', `bench-${path.basename(path.resolve(loadModel(model).source)).replace(/\.onnx$/, '')}`);
    // Ctrl-C: stop at the next checkpoint (no report is written; finished variants stay cached).
    // A second Ctrl-C exits at once; report files are only ever renamed into place whole.
    const abort = new AbortController();
    const onSigint = () => {
      if (abort.signal.aborted) process.exit(130);
      process.stderr.write('\ninterrupted: stopping (Ctrl-C again to exit now)\n');
      abort.abort(new Error('interrupted'));
    };
    process.on('SIGINT', onSigint);
    try {
      const { report, files } = await runBench({
        model, modelName: typeof v.model === 'string' ? v.model : 'models/gpt2-brown-12m (embedded)', methods, out,
        dataset: String(v.dataset), split: String(v.split), quality: !v['no-quality'], memory: !v['no-memory'],
        ctx: intOption(v.ctx, 'ctx'), stride: intOption(v.stride, 'stride'), maxTokens: intOption(v['max-tokens'], 'max-tokens'),
        batch: intOption(v.batch, 'batch'), threads: intOption(v.threads, 'threads'),
        repetitions: intOption(v.reps, 'reps'), warmup: v.warmup === '0' ? 0 : intOption(v.warmup, 'warmup'),
        promptTokens: intOption(v['prompt-tokens'], 'prompt-tokens'), decodeTokens: intOption(v['decode-tokens'], 'decode-tokens'),
        signal: abort.signal,
        onFailure: (m, e) => console.error(`quantlab bench: ${m} failed, continuing without it: ${((e as Error).message ?? String(e)).split('\n')[0]}`),
      });
      const md = renderMarkdown(report);
      console.log(md.slice(0, md.indexOf('## Protocol')).trimEnd());
      console.log(`\nreport written (${report.wall_s.toFixed(0)} s): ${files.join(', ')}`);
      // A method that failed is marked in the report; the exit code says so too (an FP32 baseline
      // skipped because it does not fit in memory is a decision, not a failure).
      const failed = report.failures.filter((f) => !f.error.startsWith('not run:'));
      if (failed.length) {
        console.error(`quantlab bench: ${failed.length} method${failed.length > 1 ? 's' : ''} failed (${failed.map((f) => f.method).join(', ')}); the report marks ${failed.length > 1 ? 'them' : 'it'}`);
        return 1;
      }
      return 0;
    } catch (e) {
      if (abort.signal.aborted) {
        console.error(`quantlab bench: interrupted; no report written. Finished variants are cached in ${path.join(out, 'variants')}: run the same command again to resume.`);
        return 130;
      }
      throw e;
    } finally {
      process.off('SIGINT', onSigint);
    }
  },
};
