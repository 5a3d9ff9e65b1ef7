import path from 'node:path';
import { loadDataset } from '../data/index.js';
import { loadModel, resolveModelSpec } from '../load/index.js';
import { trainRun } from '../train/run.js';
import { UsageError } from '../util/errors.js';
import type { Command } from './command.js';
import { intOption, numOption, requireString } from './options.js';

export const trainCommand: Command = {
  name: 'train',
  summary: 'fine-tune a model on a text (AdamW, warm-up + cosine LR, clipping; resumable checkpoints)',
  usage: 'quantlab train --model <folder> --out <folder> [--dataset brown|<file>] [--steps 200] [--batch 8] [--seq 128] [--lr 1e-4] [--resume]',
  options: {
    model: { type: 'string', description: 'Hugging Face model folder (safetensors) to start from', valueName: 'path|id' },
    out: { type: 'string', description: 'output folder: the trained model, checkpoint/ and train_result.json', valueName: 'folder' },
    dataset: { type: 'string', description: 'training text: brown or a text file', default: 'brown', valueName: 'name|file' },
    split: { type: 'string', description: 'split of a named dataset to train on', default: 'train', valueName: 'split' },
    val: { type: 'string', description: "validation text: brown (its val split), a file, or 'none'", default: 'brown', valueName: 'name|file' },
    'val-tokens': { type: 'string', description: 'validate on the first N tokens only (default all)', valueName: 'N' },
    'val-ctx': { type: 'string', description: 'validation window (default: the model maximum positions; stride ctx/2)', valueName: 'N' },
    steps: { type: 'string', description: 'optimisation steps (the cosine schedule spans them)', default: '200', valueName: 'N' },
    batch: { type: 'string', description: 'windows per step', default: '8', valueName: 'N' },
    seq: { type: 'string', description: 'tokens per window', default: '128', valueName: 'N' },
    lr: { type: 'string', description: 'peak learning rate', default: '1e-4', valueName: 'x' },
    warmup: { type: 'string', description: 'linear warm-up steps', default: '20', valueName: 'N' },
    'min-lr-ratio': { type: 'string', description: 'final learning rate as a fraction of the peak', default: '0.1', valueName: 'x' },
    'weight-decay': { type: 'string', description: 'AdamW decoupled weight decay (matrices and embeddings)', default: '0.01', valueName: 'x' },
    clip: { type: 'string', description: 'clip the global gradient norm to this (0: off)', default: '1', valueName: 'x' },
    'eval-every': { type: 'string', description: 'validation perplexity every N steps (0: start and end only)', default: '100', valueName: 'N' },
    'save-every': { type: 'string', description: 'checkpoint every N steps (0: end only)', default: '100', valueName: 'N' },
    until: { type: 'string', description: 'stop (checkpointed) after this step; continue later with --resume', valueName: 'N' },
    seed: { type: 'string', description: 'data order seed', default: '0', valueName: 'N' },
    resume: { type: 'boolean', description: 'continue the checkpoint in --out' },
    threads: { type: 'string', description: 'onnxruntime intra-op threads (default: all cores)', valueName: 'N' },
  },
  async run(v) {
    const src = await resolveModelSpec(requireString(v.model, 'model'));
    const out = requireString(v.out, 'out');
    const model = loadModel(src);
    if (model.kind !== 'safetensors' || !model.config) throw new UsageError(`${model.source}: training needs a Hugging Face safetensors folder`);
    if (!model.tokenizer) throw new UsageError(`${model.source} has no tokenizer.json`);
    if (path.resolve(out) === path.resolve(model.source)) throw new UsageError('--out must differ from the input model folder');
    const train = loadDataset(String(v.dataset), String(v.split));
    const log = (s: string) => console.log(s);
    log(`tokenizing ${train.name} …`);
    const trainTokens = model.tokenizer.encode(train.text);
    let valTokens: number[] | undefined;
    if (v.val !== 'none') {
      const val = loadDataset(String(v.val), 'val');
      if (val.sha256 === train.sha256) throw new UsageError('the validation text is the training text');
      valTokens = model.tokenizer.encode(val.text);
      const n = intOption(v['val-tokens'], 'val-tokens');
      if (n) valTokens = valTokens.slice(0, n);
    }
    const seq = intOption(v.seq, 'seq', 128)!;
    if (seq > model.config.maxPositions) throw new UsageError(`--seq ${seq} exceeds the model's ${model.config.maxPositions} positions`);
    const r = await trainRun({
      sourceDir: model.source, cfg: model.config, decoder: model.graph({ kvCache: false }),
      trainTokens, valTokens, valCtx: intOption(v['val-ctx'], 'val-ctx'), out,
      steps: intOption(v.steps, 'steps', 200)!, batch: intOption(v.batch, 'batch', 8)!, seq,
      lr: numOption(v.lr, 'lr', 1e-4), warmup: numOption(v.warmup, 'warmup', 20),
      minLrRatio: numOption(v['min-lr-ratio'], 'min-lr-ratio', 0.1), weightDecay: numOption(v['weight-decay'], 'weight-decay', 0.01),
      maxGradNorm: numOption(v.clip, 'clip', 1), evalEvery: numOption(v['eval-every'], 'eval-every', 100), saveEvery: numOption(v['save-every'], 'save-every', 100),
      until: intOption(v.until, 'until'), seed: numOption(v.seed, 'seed', 0), resume: v.resume === true, threads: intOption(v.threads, 'threads'),
      dataId: `${train.name} sha256:${train.sha256.slice(0, 16)}`, log,
    });
    log(`trained     ${r.steps - r.startStep} steps in ${r.seconds.toFixed(1)} s (${r.tokensPerSecond.toFixed(0)} tokens/s, peak RSS ${r.peakRssMiB.toFixed(0)} MiB)`);
    log(`train loss  ${r.firstLoss.toFixed(4)} → ${r.lastLoss.toFixed(4)} (mean of the last steps)`);
    const val = r.validation;
    if (val.length) log(`val ppl     ${val[0].perplexity.toFixed(4)} (step ${val[0].step}) → ${val.at(-1)!.perplexity.toFixed(4)} (step ${val.at(-1)!.step})`);
    log(`wrote       ${r.out}`);
    return 0;
  },
};
