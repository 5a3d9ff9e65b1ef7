import fs from 'node:fs';
import path from 'node:path';
import type { DecoderConfig } from '../arch/config.js';
import { checkpointLayout } from '../arch/index.js';
import { readModelWeights, readSafetensors, writeSafetensors } from '../hf/safetensors.js';
import { Tensor } from '../ir/tensor.js';
import { writeJsonAtomic } from '../util/fsx.js';
import { InputError } from '../util/errors.js';
import type { AdamWState, Param } from './adamw.js';

/** Files copied from the source model so a checkpoint folder loads as a model (quantlab eval --model). */
const COPY = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.json', 'merges.txt'];

export interface TrainState {
  step: number;
  /** Everything needed to check a resume continues the same run. */
  run: Record<string, unknown>;
  history: { step: number; loss: number; lr: number; gradNorm: number }[];
  validation: { step: number; perplexity: number; nll: number }[];
}

/**
 * Write a model folder: the source checkpoint's tensors with the trained ones replaced (float32,
 * Hugging Face layout), config and tokenizer copied. A tied model drops a saved lm_head copy so the
 * head stays tied to the trained embedding.
 */
export function writeModelFolder(dir: string, sourceDir: string, cfg: DecoderConfig, params: Param[], dims: number[][]): void {
  fs.mkdirSync(dir, { recursive: true });
  const tensors = readModelWeights(sourceDir);
  const trained = new Set(params.map((p) => p.name));
  if (cfg.tieWordEmbeddings && !trained.has('lm_head.weight')) tensors.delete('lm_head.weight');
  const layout = checkpointLayout(cfg);
  params.forEach((p, i) => {
    if (!tensors.has(p.name)) throw new InputError(sourceDir, `trained tensor '${p.name}' is not in the source checkpoint`);
    tensors.set(p.name, layout(p.name, new Tensor('float32', dims[i], p.data)));
  });
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  for (const f of COPY) {
    if (!fs.existsSync(path.join(sourceDir, f))) continue;
    // The source may be read-only (shared models): replace, and leave the copy writable.
    const dst = path.join(dir, f);
    fs.rmSync(dst, { force: true });
    fs.copyFileSync(path.join(sourceDir, f), dst);
    fs.chmodSync(dst, 0o644);
  }
}

/**
 * A resumable checkpoint in `<out>/checkpoint`: a model folder plus optimizer.safetensors and
 * trainer_state.json. Written to a temporary folder and swapped in, so an interruption leaves the
 * previous checkpoint (or `checkpoint.old`) intact.
 */
export function saveCheckpoint(out: string, sourceDir: string, cfg: DecoderConfig, params: Param[], dims: number[][], opt: AdamWState, state: TrainState): string {
  const final = path.join(out, 'checkpoint'), tmp = `${final}.tmp`, old = `${final}.old`;
  fs.rmSync(tmp, { recursive: true, force: true });
  writeModelFolder(tmp, sourceDir, cfg, params, dims);
  const moments = new Map<string, Tensor>();
  params.forEach((p, i) => {
    moments.set(`m.${p.name}`, new Tensor('float32', dims[i], opt.m[i]));
    moments.set(`v.${p.name}`, new Tensor('float32', dims[i], opt.v[i]));
  });
  writeSafetensors(path.join(tmp, 'optimizer.safetensors'), moments, { t: String(opt.t), step: String(state.step) });
  writeJsonAtomic(path.join(tmp, 'trainer_state.json'), state);
  fs.rmSync(old, { recursive: true, force: true });
  if (fs.existsSync(final)) fs.renameSync(final, old);
  fs.renameSync(tmp, final);
  fs.rmSync(old, { recursive: true, force: true });
  return final;
}

/** The checkpoint folder to resume from (the previous one when a swap was interrupted), or null. */
export function findCheckpoint(out: string): string | null {
  for (const d of ['checkpoint', 'checkpoint.old']) {
    const dir = path.join(out, d);
    if (fs.existsSync(path.join(dir, 'trainer_state.json'))) return dir;
  }
  return null;
}

export function readCheckpoint(dir: string, params: Param[]): { state: TrainState; opt: AdamWState } {
  const stateFile = path.join(dir, 'trainer_state.json');
  let state: TrainState;
  try { state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as TrainState; } catch { throw new InputError(stateFile, 'cannot read the trainer state'); }
  const optFile = path.join(dir, 'optimizer.safetensors');
  const { tensors, metadata } = readSafetensors(optFile);
  if (Number(metadata.step) !== state.step) throw new InputError(optFile, `optimizer state is for step ${metadata.step}, trainer_state.json for ${state.step}`);
  const get = (n: string, size: number) => {
    const t = tensors.get(n);
    if (!t || t.dtype !== 'float32' || t.size !== size) throw new InputError(optFile, `missing or mis-sized '${n}'`);
    return t.data as Float32Array;
  };
  return {
    state,
    opt: { t: Number(metadata.t), m: params.map((p) => get(`m.${p.name}`, p.data.length)), v: params.map((p) => get(`v.${p.name}`, p.data.length)) },
  };
}
