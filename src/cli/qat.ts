import { loadModel, resolveModelSpec } from '../load/index.js';
import { quantizeToFolder } from '../passes/quantize.js';
import type { QatInt8Config } from '../passes/qat-int8.js';
import type { Command } from './command.js';
import { intOption, numOption, requireString } from './options.js';
import { printQuantized, readJson } from './quantize.js';

export const qatCommand: Command = {
  name: 'qat',
  summary: 'quantization-aware training: fine-tune with fake INT8 quantization, write a static-INT8 model folder',
  usage: 'quantlab qat --model <folder> --out <folder> [--dataset brown|<file>] [--steps 60] [--lr 1e-5] [--batch 8] [--seq N] [--fixed-scales] [--calibration brown] [--config file.json] [--verbose]',
  options: {
    model: { type: 'string', description: 'model folder (HF safetensors or ONNX export), .onnx file or Hugging Face id', valueName: 'path|id' },
    out: { type: 'string', description: 'output folder: a static-int8 model folder (loads like any other)', valueName: 'folder' },
    dataset: { type: 'string', description: 'training text: a dataset (its train split) or a file; never an evaluation split (default brown)', valueName: 'name|file' },
    steps: { type: 'string', description: 'optimisation steps (the cosine schedule spans them) (default 60)', valueName: 'N' },
    batch: { type: 'string', description: 'windows per step (default 8)', valueName: 'N' },
    seq: { type: 'string', description: 'tokens per window (default: the model maximum positions)', valueName: 'N' },
    lr: { type: 'string', description: 'peak learning rate (warm-up, then cosine decay to 0.1×) (default 1e-5)', valueName: 'x' },
    warmup: { type: 'string', description: 'linear warm-up steps (default 10)', valueName: 'N' },
    'fixed-scales': { type: 'boolean', description: 'keep the calibrated activation scales (default: learn them, LSQ)' },
    calibration: { type: 'string', description: 'text that sets the initial activation ranges (train split) (default brown)', valueName: 'dataset' },
    seed: { type: 'string', description: 'data order seed (default 0)', valueName: 'N' },
    threads: { type: 'string', description: 'onnxruntime intra-op threads for training (default: all cores)', valueName: 'N' },
    config: { type: 'string', description: 'JSON file with qat-int8 config fields (applied before the flags)', valueName: 'file' },
    verbose: { type: 'boolean', description: 'explain every MatMul and every learned activation range' },
  },
  async run(v) {
    const out = requireString(v.out, 'out');
    const config: Partial<QatInt8Config> & { kind: 'qat-int8' } = { ...readJson(v.config, 'config'), kind: 'qat-int8' };
    const set = <K extends keyof QatInt8Config>(k: K, val: QatInt8Config[K] | undefined) => { if (val !== undefined) config[k] = val; };
    set('dataset', v.dataset as string | undefined);
    set('steps', intOption(v.steps, 'steps'));
    set('batch', intOption(v.batch, 'batch'));
    set('seq', intOption(v.seq, 'seq'));
    if (v.lr !== undefined) config.lr = numOption(v.lr, 'lr', 0);
    if (v.warmup !== undefined) config.warmup = numOption(v.warmup, 'warmup', 0);
    if (v['fixed-scales']) config.learnScales = false;
    set('calibration', v.calibration as string | undefined);
    if (v.seed !== undefined) config.seed = numOption(v.seed, 'seed', 0);
    set('threads', intOption(v.threads, 'threads'));
    const model = loadModel(await resolveModelSpec(requireString(v.model, 'model')));
    const verbose = Boolean(v.verbose);
    const r = await quantizeToFolder({ model, config, out, explain: verbose ? (m) => console.error(`  ${m}`) : undefined });
    printQuantized(r, 'qat-int8', out, verbose);
    return 0;
  },
};
