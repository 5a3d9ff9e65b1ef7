import { assertFitsInMemory } from '../eval/memory.js';
import { loadDataset } from '../data/index.js';
import { machineInfo, measureLatency, peakRssBytes } from '../eval/latency.js';
import type { QualityStats } from '../eval/kld.js';
import { evaluateLockstep } from '../eval/lockstep.js';
import { scoreTokens, summarize } from '../eval/perplexity.js';
import { SavedLogits, saveReferenceLogits } from '../eval/saved-logits.js';
import { slidingWindows } from '../eval/windows.js';
import { modelSize } from '../eval/size.js';
import { PROTOCOL } from '../eval/protocol.js';
import { loadModel, resolveModelSpec } from '../load/index.js';
import { assertNotCalibratedOn } from '../quant/calibration/source.js';
import { writeJsonTo } from '../util/fsx.js';
import { Progress } from '../util/progress.js';
import { UsageError } from '../util/errors.js';
import type { Command } from './command.js';
import { intOption, requireString } from './options.js';

export const evalCommand: Command = {
  name: 'eval',
  summary: 'perplexity, latency and size of one model',
  usage: 'quantlab eval --model <folder|onnx|hub-id> [--dataset brown|wikitext2|<file>] [--split test] [--ctx N] [--stride N] [--kld-base <model|logits file>] [--save-logits <file>] [--json out.json]',
  options: {
    model: { type: 'string', description: 'model folder (HF safetensors or ONNX export), .onnx file, or Hugging Face id org/name[@revision] (downloaded to $QUANTLAB_CACHE)', valueName: 'path|id' },
    dataset: { type: 'string', description: 'brown, wikitext2 or a text file', default: 'brown', valueName: 'name|file' },
    split: { type: 'string', description: 'dataset split: train, val (valid/validation) or test', default: 'test', valueName: 'split' },
    ctx: { type: 'string', description: 'window length (default: the model maximum positions)', valueName: 'N' },
    stride: { type: 'string', description: 'window stride (default ctx/2)', valueName: 'N' },
    'max-tokens': { type: 'string', description: 'evaluate only the first N tokens', valueName: 'N' },
    threads: { type: 'string', description: 'onnxruntime intra-op threads (default: all cores)', valueName: 'N' },
    batch: { type: 'string', description: 'windows per forward pass (dynamic activation scales span the whole batch)', default: String(PROTOCOL.batch), valueName: 'N' },
    'prompt-tokens': { type: 'string', description: 'prefill prompt length for latency', default: String(PROTOCOL.promptTokens), valueName: 'N' },
    'decode-tokens': { type: 'string', description: 'decoded tokens per latency repetition', default: String(PROTOCOL.decodeTokens), valueName: 'N' },
    reps: { type: 'string', description: `latency repetitions (after ${PROTOCOL.warmup} warm-up)`, default: String(PROTOCOL.repetitions), valueName: 'N' },
    'no-latency': { type: 'boolean', description: 'skip the latency measurement' },
    'no-perplexity': { type: 'boolean', description: 'skip perplexity (e.g. random-weight synthetic models)' },
    'kld-base': { type: 'string', description: 'compare with this model, or with logits saved by --save-logits: KLD, top-1 agreement and Δln PPL on the same windows', valueName: 'model|file' },
    'save-logits': { type: 'string', description: 'save this model\'s top-k log-probabilities on the windows, for later --kld-base comparisons', valueName: 'file' },
    'top-k': { type: 'string', description: 'log-probabilities kept per token by --save-logits (up to the vocabulary size: exact)', default: '256', valueName: 'N' },
    json: { type: 'string', description: 'write the result as JSON here (- for stdout)', valueName: 'file' },
  },
  async run(v) {
    const model = loadModel(await resolveModelSpec(requireString(v.model, 'model')));
    assertFitsInMemory(model.source, model.graph({ kvCache: true }).graph.initializerBytes());
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

    const kldBase = typeof v['kld-base'] === 'string' ? v['kld-base'] : undefined;
    const saveTo = typeof v['save-logits'] === 'string' ? v['save-logits'] : undefined;
    if ((kldBase || saveTo) && !wantPpl) throw new UsageError('--kld-base and --save-logits score the text: drop --no-perplexity');
    if (kldBase && saveTo) throw new UsageError('--kld-base and --save-logits are separate runs: save the reference first, then compare');
    const bos = model.tokenizer?.bos;
    let ppl: ReturnType<typeof summarize> | undefined;
    let comparison: { base: Record<string, unknown>; quality: QualityStats } | undefined;
    if (wantPpl) {
      const bar = new Progress(kldBase ? 'perplexity + KLD' : 'perplexity', 1);
      const graph = model.graph({ kvCache: false });
      const batchSize = intOption(v.batch, 'batch', PROTOCOL.batch);
      const onProgress = (d: number, t: number) => bar.update(d, t);
      if (kldBase) {
        const isFile = SavedLogits.isFile(kldBase);
        const base = isFile ? SavedLogits.read(kldBase) : loadModel(await resolveModelSpec(kldBase));
        // A saved reference is checked against these windows by evaluateLockstep (its file named on a mismatch).
        const ref = base instanceof SavedLogits ? base : base.graph({ kvCache: false });
        // Dynamic activation scales span the whole batch: compare window by window.
        const q = await evaluateLockstep(ref, [{ name: 'model', model: graph }], tokens, { ctx, stride, bos, batchSize: 1, session, onProgress });
        const r = q.variants.get('model')!;
        ppl = r.perplexity;
        comparison = {
          base: base instanceof SavedLogits ? { source: kldBase, saved_from: base.header.source, top_k: base.header.k, perplexity: q.reference.perplexity } : { source: base.source, hash: base.hash, perplexity: q.reference.perplexity },
          quality: r.quality,
        };
      } else if (saveTo) {
        const saved = await saveReferenceLogits(graph, tokens, { ctx, stride, bos, batchSize, session, k: intOption(v['top-k'], 'top-k', 256), source: { model: model.source, hash: model.hash }, onProgress });
        saved.write(saveTo);
        ppl = summarize({ nll: Float64Array.from(saved.nll), argmax: saved.argmax, window: slidingWindows(tokens.length, ctx, stride, bos) }, ctx, stride);
      } else {
        ppl = summarize(await scoreTokens(graph, tokens, { ctx, stride, bos, batchSize, session, onProgress }), ctx, stride);
      }
      bar.done();
    }

    let latency;
    if (!v['no-latency']) {
      const lbar = new Progress('latency', 1);
      const P = Math.min(intOption(v['prompt-tokens'], 'prompt-tokens', PROTOCOL.promptTokens)!, model.maxPositions ?? Infinity);
      latency = await measureLatency(model.graph({ kvCache: true }), {
        promptTokens: P, decodeTokens: intOption(v['decode-tokens'], 'decode-tokens', PROTOCOL.decodeTokens), repetitions: intOption(v.reps, 'reps', PROTOCOL.repetitions),
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
      ...(comparison ? {
        kld_base: comparison.base,
        kld: { mean: comparison.quality.kld_mean, median: comparison.quality.kld_median, p99: comparison.quality.kld_p99, max: comparison.quality.kld_max, stderr: comparison.quality.kld_stderr },
        top1: { agree: comparison.quality.same_top_pct / 100, stderr: comparison.quality.same_top_stderr_pct / 100 },
        delta_ln_ppl: { mean: comparison.quality.delta_ln_ppl, stderr: comparison.quality.delta_ln_ppl_stderr },
      } : {}),
      ...(saveTo ? { saved_logits: saveTo } : {}),
      protocol: { ctx, stride, bos: model.tokenizer?.bos ?? null, windows: ppl?.windows ?? 0, tokens_total: tokens.length, batch: intOption(v.batch, 'batch', PROTOCOL.batch) },
      size: { ...size, files: model.files },
      latency: latency ?? null,
      peak_rss_bytes: peakRssBytes(),
      machine: machineInfo(),
    };
    console.log(`model       ${model.source} (${model.hash.slice(0, 40)}…)`);
    if (ppl) {
      const lo = Math.exp(ppl.nll - 1.96 * ppl.nllStderr), hi = Math.exp(ppl.nll + 1.96 * ppl.nllStderr);
      console.log(`dataset     ${ds.name} sha256:${ds.sha256.slice(0, 16)}…  ctx ${ctx} stride ${stride}${model.tokenizer?.bos === undefined ? '' : ` BOS ${model.tokenizer.bos} per window`}`);
      console.log(`perplexity  ${ppl.perplexity.toFixed(4)}  (95% CI ${lo.toFixed(2)}–${hi.toFixed(2)})  over ${ppl.tokensScored} tokens in ${ppl.windows} windows`);
    }
    if (comparison) {
      const q = comparison.quality;
      console.log(`vs base     ${String(comparison.base.source)} (PPL ${(comparison.base.perplexity as number).toFixed(4)})`);
      console.log(`KLD         mean ${q.kld_mean.toExponential(3)} ± ${q.kld_stderr.toExponential(2)}, median ${q.kld_median.toExponential(3)}, p99 ${q.kld_p99.toExponential(3)}, max ${q.kld_max.toExponential(3)}`);
      console.log(`top-1       ${q.same_top_pct.toFixed(2)}% ± ${q.same_top_stderr_pct.toFixed(2)}% agree;  Δln PPL ${q.delta_ln_ppl!.toExponential(3)} ± ${q.delta_ln_ppl_stderr!.toExponential(2)}`);
    }
    if (saveTo) console.log(`saved       top-k log-probabilities of ${ppl!.tokensScored} tokens to ${saveTo}`);
    if (latency) {
      console.log(`prefill     ${latency.prompt_tokens} tokens: p50 ${latency.prefill_ms.p50.toFixed(2)} ms, p95 ${latency.prefill_ms.p95.toFixed(2)} ms (${latency.prefill_tokens_per_s.toFixed(0)} tok/s)`);
      console.log(`decode      p50 ${latency.decode_ms.p50.toFixed(3)} ms/token, p95 ${latency.decode_ms.p95.toFixed(3)} ms after ${latency.decode_context} tokens (${latency.decode_tokens_per_s.toFixed(1)} tok/s), threads ${latency.threads}`);
    }
    console.log(`size        ${fileBytes.toLocaleString('en-US')} bytes on disk; ${size.param_count.toLocaleString('en-US')} parameters in ${size.param_bytes.toLocaleString('en-US')} bytes`);
    console.log(`peak RSS    ${(result.peak_rss_bytes / 2 ** 20).toFixed(0)} MiB`);
    if (typeof v.json === 'string') writeJsonTo(v.json, result);
    return 0;
  },
};
