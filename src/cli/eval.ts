import { loadDataset } from '../data/index.js';
import { machineInfo, measureLatency, peakRssBytes } from '../eval/latency.js';
import { scoreTokens, summarize } from '../eval/perplexity.js';
import { modelSize } from '../eval/size.js';
import { loadModel, resolveModelSpec } from '../load/index.js';
import { assertNotCalibratedOn } from '../quant/calibration/source.js';
import { writeJsonAtomic } from '../util/fsx.js';
import { Progress } from '../util/progress.js';
import { UsageError } from '../util/errors.js';
import type { Command } from './command.js';
import { intOption, requireString } from './options.js';

export const evalCommand: Command = {
  name: 'eval',
  summary: 'perplexity, latency and size of one model',
  usage: 'quantlab eval --model <folder|onnx|hub-id> [--dataset brown|wikitext2|<file>] [--split test] [--ctx N] [--stride N] [--json out.json]',
  options: {
    model: { type: 'string', description: 'model folder (HF safetensors or ONNX export), .onnx file, or Hugging Face id org/name[@revision] (downloaded to $QUANTLAB_CACHE)', valueName: 'path|id' },
    dataset: { type: 'string', description: 'brown, wikitext2 or a text file', default: 'brown', valueName: 'name|file' },
    split: { type: 'string', description: 'dataset split: train, val (valid/validation) or test', default: 'test', valueName: 'split' },
    ctx: { type: 'string', description: 'window length (default: the model maximum positions)', valueName: 'N' },
    stride: { type: 'string', description: 'window stride (default ctx/2)', valueName: 'N' },
    'max-tokens': { type: 'string', description: 'evaluate only the first N tokens', valueName: 'N' },
    threads: { type: 'string', description: 'onnxruntime intra-op threads (default: all cores)', valueName: 'N' },
    batch: { type: 'string', description: 'windows per forward pass', default: '4', valueName: 'N' },
    'prompt-tokens': { type: 'string', description: 'prefill prompt length for latency', default: '512', valueName: 'N' },
    'decode-tokens': { type: 'string', description: 'decoded tokens per latency repetition', default: '32', valueName: 'N' },
    reps: { type: 'string', description: 'latency repetitions (after 2 warm-up runs)', default: '10', valueName: 'N' },
    'no-latency': { type: 'boolean', description: 'skip the latency measurement' },
    'no-perplexity': { type: 'boolean', description: 'skip perplexity (e.g. random-weight synthetic models)' },
    json: { type: 'string', description: 'write the result as JSON here', valueName: 'file' },
  },
  async run(v) {
    const model = loadModel(await resolveModelSpec(requireString(v.model, 'model')));
    const threads = intOption(v.threads, 'threads');
    const session = { threads };
    const ds = loadDataset(String(v.dataset), String(v.split));
    assertNotCalibratedOn(model.graph({ kvCache: false }).metadata, ds);
    const wantPpl = !v['no-perplexity'];
    if (!model.tokenizer && wantPpl) throw new UsageError(`${model.source} has no tokenizer.json; perplexity needs one (or pass --no-perplexity for latency and size only)`);
    // Without a tokenizer (synthetic checkpoints) latency prompts are pseudo-random ids.
    let tokens = model.tokenizer?.encode(ds.text) ?? [];
    const maxTokens = intOption(v['max-tokens'], 'max-tokens');
    if (maxTokens) tokens = tokens.slice(0, maxTokens);
    const ctx = intOption(v.ctx, 'ctx', model.maxPositions ?? 1024)!;
    if (model.maxPositions && ctx > model.maxPositions) throw new UsageError(`--ctx ${ctx} exceeds the model's ${model.maxPositions} positions`);
    const stride = intOption(v.stride, 'stride', Math.max(1, Math.floor(ctx / 2)))!;
    if (stride > ctx) throw new UsageError(`--stride ${stride} is larger than --ctx ${ctx}`);

    let ppl;
    if (wantPpl) {
      const bar = new Progress('perplexity', 1);
      const graph = model.graph({ kvCache: false });
      const scores = await scoreTokens(graph, tokens, { ctx, stride, bos: model.tokenizer?.bos, batchSize: intOption(v.batch, 'batch', 4), session, onProgress: (d, t) => bar.update(d, t) });
      bar.done();
      ppl = summarize(scores, ctx, stride);
    }

    let latency;
    if (!v['no-latency']) {
      const lbar = new Progress('latency', 1);
      const P = Math.min(intOption(v['prompt-tokens'], 'prompt-tokens', 512)!, model.maxPositions ?? Infinity);
      latency = await measureLatency(model.graph({ kvCache: true }), {
        promptTokens: P, decodeTokens: intOption(v['decode-tokens'], 'decode-tokens', 32), repetitions: intOption(v.reps, 'reps', 10),
        session, promptIds: tokens.length ? tokens : undefined, vocabSize: model.config?.vocabSize, maxPositions: model.maxPositions, onProgress: (d, t) => lbar.update(d, t),
      });
      lbar.done();
    }
    const size = modelSize(model.graph({ kvCache: true }), model.files);
    const fileBytes = size.file_bytes!;
    const result = {
      schema: 'quantlab.eval/1',
      model: { source: model.source, hash: model.hash, arch: model.config?.arch },
      dataset: { name: ds.name, sha256: ds.sha256, source: ds.source },
      tokenizer: model.tokenizer?.id ?? null,
      perplexity: ppl?.perplexity ?? null,
      nll: ppl?.nll ?? null,
      nll_stderr: ppl?.nllStderr ?? null,
      tokens_scored: ppl?.tokensScored ?? 0,
      protocol: { ctx, stride, bos: model.tokenizer?.bos ?? null, windows: ppl?.windows ?? 0, tokens_total: tokens.length, batch: intOption(v.batch, 'batch', 4) },
      size: { ...size, files: model.files },
      latency,
      peak_rss_bytes: peakRssBytes(),
      machine: machineInfo(),
    };
    console.log(`model       ${model.source} (${model.hash.slice(0, 40)}…)`);
    if (ppl) {
      const lo = Math.exp(ppl.nll - 1.96 * ppl.nllStderr), hi = Math.exp(ppl.nll + 1.96 * ppl.nllStderr);
      console.log(`dataset     ${ds.name} sha256:${ds.sha256.slice(0, 16)}…  ctx ${ctx} stride ${stride}${model.tokenizer?.bos === undefined ? '' : ` BOS ${model.tokenizer.bos} per window`}`);
      console.log(`perplexity  ${ppl.perplexity.toFixed(4)}  (95% CI ${lo.toFixed(2)}–${hi.toFixed(2)})  over ${ppl.tokensScored} tokens in ${ppl.windows} windows`);
    }
    if (latency) {
      console.log(`prefill     ${latency.prompt_tokens} tokens: p50 ${latency.prefill_ms.p50.toFixed(2)} ms, p95 ${latency.prefill_ms.p95.toFixed(2)} ms (${latency.prefill_tokens_per_s.toFixed(0)} tok/s)`);
      console.log(`decode      p50 ${latency.decode_ms.p50.toFixed(3)} ms/token, p95 ${latency.decode_ms.p95.toFixed(3)} ms after ${latency.decode_context} tokens (${latency.decode_tokens_per_s.toFixed(1)} tok/s), threads ${latency.threads}`);
    }
    console.log(`size        ${fileBytes.toLocaleString('en-US')} bytes on disk; ${size.param_count.toLocaleString('en-US')} parameters in ${size.param_bytes.toLocaleString('en-US')} bytes`);
    console.log(`peak RSS    ${(result.peak_rss_bytes / 2 ** 20).toFixed(0)} MiB`);
    if (typeof v.json === 'string') writeJsonAtomic(v.json, result);
    return 0;
  },
};
