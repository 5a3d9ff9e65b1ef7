import { lockOutput } from '../util/lock.js';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../util/errors.js';
import { writeAll, writeFileAtomic, writeFileAtomicWith } from '../util/fsx.js';
import { f32ToBf16, f32ToF16 } from '../util/half.js';
import type { DecoderConfig } from './config.js';
import type { Init, Preset } from './family.js';
import { FAMILIES } from './families/index.js';
import { decoderConfig, familyOf, supportedArchitectures } from './index.js';

/** A preset: the HF config.json fields that fix the shapes of a real model. */
export interface SynthPreset extends Preset { arch: string }

/** Every family's presets by name (parameter counts are checked in synth.test.ts). */
export const SYNTH_PRESETS: Record<string, SynthPreset> = Object.fromEntries(
  FAMILIES.flatMap((f) => Object.entries(f.presets).map(([name, p]) => [name, { ...p, arch: String(p.config.model_type) }])),
);

/** A preset by name; `arch` (a model_type), when given, must be the preset's. */
export function synthPreset(arch: string | undefined, name: string): SynthPreset {
  const p = SYNTH_PRESETS[name];
  if (arch !== undefined && !supportedArchitectures().includes(arch)) throw new UsageError(`--arch must be one of ${supportedArchitectures().join(', ')}, got '${arch}'`);
  const names = Object.entries(SYNTH_PRESETS).filter(([, v]) => arch === undefined || v.arch === arch).map(([k]) => k);
  if (!p || (arch !== undefined && p.arch !== arch)) throw new UsageError(`unknown ${arch ?? ''}${arch ? ' ' : ''}preset '${name}' (presets: ${names.join(', ')})`);
  return p;
}

export type SynthDtype = 'f32' | 'f16' | 'bf16';
const ST_DTYPE: Record<SynthDtype, { name: string; bytes: number; torch: string }> = {
  f32: { name: 'F32', bytes: 4, torch: 'float32' }, f16: { name: 'F16', bytes: 2, torch: 'float16' }, bf16: { name: 'BF16', bytes: 2, torch: 'bfloat16' },
};

export interface TensorSpec { name: string; shape: number[]; init: Init }

const numel = (s: number[]): number => s.reduce((a, b) => a * b, 1);

/** Every checkpoint tensor with its HF name, HF layout and HF-style initialisation (the family's table). */
export function tensorSpecs(cfg: DecoderConfig): TensorSpec[] {
  return familyOf(cfg.arch).tensors(cfg);
}

export interface ParameterTable { config: DecoderConfig; tensors: TensorSpec[]; paramCount: number; fp32Bytes: number }

/** The parameters a preset will have, computed without generating any weights. */
export function parameterTable(preset: SynthPreset): ParameterTable {
  const config = decoderConfig(preset.config, 'preset');
  const tensors = tensorSpecs(config);
  const paramCount = tensors.reduce((s, t) => s + numel(t.shape), 0);
  return { config, tensors, paramCount, fp32Bytes: paramCount * 4 };
}

export interface SynthOptions {
  /** The preset's model_type (optional: the preset implies it). */
  arch?: string;
  preset: string;
  out: string;
  seed?: number;
  dtype?: SynthDtype;
  /** Replace an existing model.safetensors in `out`. */
  force?: boolean;
  /**
   * Split the weights into `model-0000k-of-0000n.safetensors` + index when they exceed this many
   * bytes (default 2 GB, so each shard stays under the 2 GiB a single file read allows).
   */
  maxShardBytes?: number;
  onProgress?: (doneParams: number, totalParams: number) => void;
}

export interface SynthResult { folder: string; files: string[]; paramCount: number; fp32Bytes: number; paramBytes: number; safetensorsBytes: number; shards: number; seconds: number }

/** Write an HF-layout folder with random weights in a preset's exact shapes into `opts.out` (a second run on the same folder is refused while this one holds it). */
export function synthesize(opts: SynthOptions): SynthResult {
  const release = lockOutput(opts.out, 'synth');
  try { return synthesizeUnlocked(opts); } finally { release(); }
}

function synthesizeUnlocked(opts: SynthOptions): SynthResult {
  const t0 = performance.now();
  const preset = synthPreset(opts.arch, opts.preset);
  const dtype = opts.dtype ?? 'f32';
  if (!ST_DTYPE[dtype]) throw new UsageError(`--dtype must be f32, f16 or bf16, got '${dtype}'`);
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new UsageError(`--seed must be an integer in 0..4294967295, got '${seed}'`);
  const table = parameterTable(preset);
  const dir = opts.out;
  const existing = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => WEIGHT_FILE.test(f)) : [];
  if (existing.length && !opts.force) throw new UsageError(`${path.join(dir, existing[0])} already exists (pass --force to replace it)`);
  fs.mkdirSync(dir, { recursive: true });
  for (const f of existing) fs.rmSync(path.join(dir, f)); // a stale single file would shadow new shards

  const shards = planShards(table.tensors, ST_DTYPE[dtype].bytes, opts.maxShardBytes ?? 2e9);
  const files: string[] = [];
  let safetensorsBytes = 0, done = 0;
  const weightMap: Record<string, string> = {};
  shards.forEach((specs, k) => {
    const name = shards.length === 1 ? 'model.safetensors' : `model-${String(k + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`;
    const base = done;
    safetensorsBytes += writeRandomSafetensors(path.join(dir, name), specs, {
      seed, dtype, onProgress: opts.onProgress && ((d) => opts.onProgress!(base + d, table.paramCount)),
    });
    done += specs.reduce((a, t) => a + numel(t.shape), 0);
    for (const t of specs) weightMap[t.name] = name;
    files.push(path.join(dir, name));
  });
  if (shards.length > 1) {
    const index = { metadata: { total_size: table.paramCount * ST_DTYPE[dtype].bytes }, weight_map: weightMap };
    files.push(writeText(path.join(dir, 'model.safetensors.index.json'), JSON.stringify(index, null, 2) + '\n'));
  }
  const config = {
    ...preset.config,
    torch_dtype: ST_DTYPE[dtype].torch,
    quantlab_synthetic: true,
    quantlab_preset: opts.preset,
    quantlab_seed: seed,
    _comment: `RANDOM WEIGHTS written by 'quantlab synth' (preset ${opts.preset}, seed ${seed}): real shapes, normal(0, 0.02) values; perplexity is meaningless.`,
  };
  files.push(writeText(path.join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n'));
  const tokenizer = preset.arch === 'gpt2' ? copyGpt2Tokenizer(dir, table.config.vocabSize) : [];
  files.push(...tokenizer);
  files.push(writeText(path.join(dir, 'README.md'), readme(opts.preset, preset, seed, dtype, table, tokenizer.length > 0)));
  return {
    folder: dir, files, paramCount: table.paramCount, fp32Bytes: table.fp32Bytes, paramBytes: table.paramCount * ST_DTYPE[dtype].bytes,
    safetensorsBytes, shards: shards.length, seconds: (performance.now() - t0) / 1000,
  };
}

function readme(name: string, p: SynthPreset, seed: number, dtype: SynthDtype, t: ParameterTable, tokenizer: boolean): string {
  return `# RANDOM WEIGHTS — no meaningful perplexity

Synthetic ${p.arch} checkpoint written by \`quantlab synth --preset ${name} --seed ${seed} --dtype ${dtype}\`.
It has the exact tensor shapes of ${p.summary}, but every weight is drawn from normal(0, 0.02)
(norm weights 1, biases 0), as Hugging Face initialises an untrained model.

Use it for size, speed, memory and graph-compatibility measurements only: its perplexity is that
of an untrained model and says nothing about quantization quality.

- parameters: ${t.paramCount.toLocaleString('en-US')}
- FP32 parameter bytes: ${t.fp32Bytes.toLocaleString('en-US')}
- stored as: ${ST_DTYPE[dtype].name}
- tokenizer: ${tokenizer ? 'GPT-2 BPE (copied from gpt2-brown-12m)' : 'none'}
`;
}

function writeText(file: string, text: string): string {
  writeFileAtomic(file, text);
  return file;
}

const TOKENIZER_FILES = ['tokenizer.json', 'vocab.json', 'merges.txt', 'tokenizer_config.json', 'special_tokens_map.json'];

/** The repository's embedded GPT-2 model folder (absent from the npm package: then no tokenizer is copied). */
export function gpt2TokenizerSource(): string | null {
  const embedded = fileURLToPath(new URL('../../models/gpt2-brown-12m', import.meta.url));
  return fs.existsSync(path.join(embedded, 'tokenizer.json')) ? embedded : null;
}

function copyGpt2Tokenizer(dir: string, vocab: number): string[] {
  const src = gpt2TokenizerSource();
  if (!src || vocab !== 50257) return [];
  const out: string[] = [];
  for (const f of TOKENIZER_FILES) {
    if (!fs.existsSync(path.join(src, f))) continue;
    const dst = path.join(dir, f);
    fs.copyFileSync(path.join(src, f), `${dst}.${process.pid}.tmp`);
    fs.renameSync(`${dst}.${process.pid}.tmp`, dst);
    out.push(dst);
  }
  return out;
}

const WEIGHT_FILE = /^model(-\d+-of-\d+)?\.safetensors(\.index\.json)?$/;

/** Consecutive tensors into shards of at most `max` data bytes (a larger tensor gets its own). */
export function planShards(specs: TensorSpec[], elementBytes: number, max: number): TensorSpec[][] {
  const shards: TensorSpec[][] = [];
  let cur: TensorSpec[] = [], size = 0;
  for (const t of specs) {
    const b = numel(t.shape) * elementBytes;
    if (cur.length && size + b > max) { shards.push(cur); cur = []; size = 0; }
    cur.push(t); size += b;
  }
  if (cur.length) shards.push(cur);
  return shards;
}

// ---- streaming writer -------------------------------------------------------------------------

const CHUNK = 1 << 20; // elements generated and written at a time

/**
 * Write tensors as safetensors, generating each in chunks so memory stays O(chunk) however large
 * the model. Each tensor has its own PRNG stream (seed, name): output does not depend on order.
 */
export function writeRandomSafetensors(file: string, specs: TensorSpec[], o: { seed: number; dtype: SynthDtype; total?: number; onProgress?: (d: number, t: number) => void }): number {
  const { name: stName, bytes: eb } = ST_DTYPE[o.dtype];
  const header: Record<string, unknown> = { __metadata__: { format: 'pt', quantlab_synthetic: 'true' } };
  let off = 0;
  for (const s of specs) {
    const n = numel(s.shape) * eb;
    header[s.name] = { dtype: stName, shape: s.shape, data_offsets: [off, off + n] };
    off += n;
  }
  const raw = Buffer.from(JSON.stringify(header), 'utf8');
  const hb = Buffer.concat([raw, Buffer.from(' '.repeat((8 - (raw.length % 8)) % 8))]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(hb.length));

  const f32 = new Float32Array(CHUNK);
  const half = new Uint16Array(CHUNK);
  let done = 0;
  writeFileAtomicWith(file, (fd) => {
    writeAll(fd, len); writeAll(fd, hb);
    for (const s of specs) {
      const rng = new Normal(tensorSeed(o.seed, s.name));
      for (let left = numel(s.shape); left > 0;) {
        const n = Math.min(left, CHUNK);
        const a = f32.subarray(0, n);
        fill(a, s.init, rng);
        if (o.dtype === 'f32') writeAll(fd, new Uint8Array(a.buffer, 0, n * 4));
        else {
          const conv = o.dtype === 'f16' ? f32ToF16 : f32ToBf16;
          for (let i = 0; i < n; i++) half[i] = conv(a[i]);
          writeAll(fd, new Uint8Array(half.buffer, 0, n * 2));
        }
        left -= n; done += n;
        o.onProgress?.(done, o.total ?? done);
      }
    }
  });
  return 8 + hb.length + off;
}

function fill(a: Float32Array, init: Init, rng: Normal): void {
  if (init.kind === 'ones') a.fill(1);
  else if (init.kind === 'zeros') a.fill(0);
  else rng.fill(a, init.std);
}

/** FNV-1a of the name mixed with the seed: one independent stream per tensor. */
function tensorSeed(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

// Ziggurat tables (Marsaglia & Tsang 2000, 128 layers), scaled for a 25-bit signed draw whose
// low 7 bits of the same word pick the layer without correlating with the value (Doornik 2005).
const ZN = 128, R = 3.442619855899, VOL = 9.91256303526217e-3, M = 2 ** 24;
const KN = new Float64Array(ZN), WN = new Float64Array(ZN), FN = new Float64Array(ZN);
{
  let dn = R, tn = dn;
  const q = VOL / Math.exp(-0.5 * dn * dn);
  KN[0] = (dn / q) * M; KN[1] = 0;
  WN[0] = q / M; WN[ZN - 1] = dn / M;
  FN[0] = 1; FN[ZN - 1] = Math.exp(-0.5 * dn * dn);
  for (let i = ZN - 2; i >= 1; i--) {
    dn = Math.sqrt(-2 * Math.log(VOL / dn + Math.exp(-0.5 * dn * dn)));
    KN[i + 1] = (dn / tn) * M; tn = dn;
    FN[i] = Math.exp(-0.5 * dn * dn); WN[i] = dn / M;
  }
}

/** Standard normal deviates: sfc32 uniforms through a ziggurat (no transcendental call 98.8% of the time). */
export class Normal {
  private a: number; private b: number; private c: number; private d: number;
  constructor(seed: number) {
    this.a = 0x9e3779b9 | 0; this.b = 0x243f6a88; this.c = 0xb7e15162 | 0; this.d = seed | 0;
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** Next 32 random bits as a signed int32 (sfc32). */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t;
  }

  /** Uniform in (0, 1). */
  private uni(): number { return ((this.u32() >>> 0) + 0.5) / 4294967296; }

  next(): number {
    for (;;) {
      const hz = this.u32();
      const iz = hz & (ZN - 1);
      const j = hz >> 7;
      if (Math.abs(j) < KN[iz]) return j * WN[iz];
      const x = j * WN[iz];
      if (iz === 0) {
        // Base layer: sample the tail beyond R.
        let tx: number, ty: number;
        do { tx = -Math.log(this.uni()) / R; ty = -Math.log(this.uni()); } while (ty + ty < tx * tx);
        return j > 0 ? R + tx : -R - tx;
      }
      if (FN[iz] + this.uni() * (FN[iz - 1] - FN[iz]) < Math.exp(-0.5 * x * x)) return x;
    }
  }

  /** Fill `out` with normal(0, std) samples. */
  fill(out: Float32Array, std: number): void {
    for (let i = 0; i < out.length; i++) out[i] = std * this.next();
  }
}
