import fs from 'node:fs';
import path from 'node:path';
import { readModel } from '../onnx/read.js';
import { DecoderRunner } from '../runtime/decoder.js';
import { argmax, greedyGenerate } from '../runtime/generate.js';
import { ort, type SessionOptions } from '../runtime/session.js';
import { InputError, UsageError } from '../util/errors.js';
import { halfArrayToF32 } from '../util/half.js';
import { cachedForced, cachedGreedy, fullPass, kvLayout, maxAbsDiff, type KvLayout, type OrtLike, type SessionLike } from './ort-loop.js';

/** transformers.js dtypes and file suffixes (DEFAULT_DTYPE_SUFFIX_MAPPING), in table order. */
const SUFFIX_TO_DTYPE: [string, string][] = [
  ['', 'fp32'], ['_fp16', 'fp16'], ['_quantized', 'q8'], ['_int8', 'int8'], ['_uint8', 'uint8'], ['_q4', 'q4'], ['_q4f16', 'q4f16'],
  ['_bnb4', 'bnb4'], ['_q2', 'q2'], ['_q2f16', 'q2f16'], ['_q1', 'q1'], ['_q1f16', 'q1f16'],
];

export interface VariantFile { dtype: string; file: string }

/** The onnx/model{suffix}.onnx files of a transformers.js folder (fp32 first: the others are compared with it). */
export function listVariants(dir: string): VariantFile[] {
  const onnxDir = path.join(dir, 'onnx');
  if (!fs.existsSync(onnxDir)) throw new InputError(dir, 'no onnx/ folder (not a transformers.js export)');
  const found: VariantFile[] = [];
  for (const [suffix, dtype] of SUFFIX_TO_DTYPE) {
    const f = path.join(onnxDir, `model${suffix}.onnx`);
    if (fs.existsSync(f)) found.push({ dtype, file: f });
  }
  if (!found.length) throw new InputError(onnxDir, 'no model*.onnx files');
  return found;
}

/**
 * Default max |Δlogits| between the KV-cache and full-sequence paths of one file (about 2x the largest
 * measured on the 12M GPT-2 and the tiny Llama, see docs/transformers-js.md). Dynamic int8 quantizes
 * activations with one range per tensor per call, so a token decoded alone gets other scales than the
 * same token inside the whole sequence; MatMulNBits at accuracy level 4 does the same to its inputs.
 * q4f16 adds half-precision rounding of the context, which the cached path sums in two parts (past
 * and new, arch/attention.ts): 0.117 measured on the tiny Llama.
 */
export const KV_TOLERANCE: Record<string, number> = { fp32: 1e-3, fp16: 0.05, q8: 1.0, int8: 1.0, uint8: 1.0, q4: 0.1, q4f16: 0.25 };
/**
 * Same file and feeds under another runtime (onnxruntime-web WASM, transformers.js). q4/q4f16 are loose
 * because onnxruntime-node runs MatMulNBits accuracy_level 4 with int8 activations while the WASM
 * build computes it in float32 (equal to node at accuracy_level 0).
 */
export const RUNTIME_TOLERANCE: Record<string, number> = { fp32: 1e-3, fp16: 0.05, q8: 0.1, int8: 0.1, uint8: 0.1, q4: 0.3, q4f16: 0.3 };

export interface ParityOptions {
  dir: string;
  prompt: number[];
  newTokens: number;
  dtypes?: string[];
  /** Also load each variant with @huggingface/transformers (dev dependency) and compare. */
  transformersJs?: boolean;
  /** Also run each variant under onnxruntime-web (WASM) and compare. */
  web?: boolean;
  /** Overrides both default tolerance tables. */
  tolerance?: number;
  session?: SessionOptions;
}

/**
 * One path against the reference on the same token sequence. `tokenAgree` counts positions whose
 * argmax is the reference's token; a disagreement is a `tie` when the reference's top logit leads
 * the other path's choice by at most 2·tolerance (rounding can flip it), otherwise it fails the check.
 */
export interface PathComparison { maxAbs: number; tokenAgree: number; ties: number; tokens: number[]; tolerance: number; ok: boolean }

export interface ParityRow {
  dtype: string;
  file: string;
  /** quantlab runtime (greedyGenerate, KV-cache path) tokens. */
  tokens: number[];
  /** Full-sequence pass over prompt + tokens vs the KV-cache path, logits at every position, argmax tokens. */
  kvVsFull?: PathComparison;
  /** Against the fp32 file on fp32's sequence (informational: quantization error, not a failure). */
  vsFp32?: { maxAbs: number; tokenAgree: number };
  transformersJs?: PathComparison | { error: string };
  web?: PathComparison | { error: string };
  error?: string;
  ok: boolean;
}

interface RunState { fp32?: { tokens: number[]; full: Float32Array[] } }

export async function checkParity(opts: ParityOptions, onRow?: (r: ParityRow) => void): Promise<ParityRow[]> {
  if (!opts.prompt.length) throw new UsageError('the prompt has no tokens');
  if (opts.newTokens < 1) throw new UsageError('need at least one new token');
  let variants = listVariants(opts.dir);
  if (opts.dtypes) {
    const missing = opts.dtypes.filter((d) => !variants.some((v) => v.dtype === d));
    if (missing.length) throw new InputError(opts.dir, `no file for dtype ${missing.join(', ')} (has: ${variants.map((v) => v.dtype).join(', ')})`);
    variants = variants.filter((v) => opts.dtypes!.includes(v.dtype));
  }
  const eos = eosTokenId(opts.dir);
  const state: RunState = {};
  const rows: ParityRow[] = [];
  for (const v of variants) {
    let row: ParityRow;
    try { row = await checkVariant(v, opts, eos, state); } catch (e) {
      row = { dtype: v.dtype, file: v.file, tokens: [], error: (e as Error).message.split('\n')[0], ok: false };
    }
    rows.push(row);
    onRow?.(row);
  }
  return rows;
}

function eosTokenId(dir: string): number | undefined {
  for (const f of ['generation_config.json', 'config.json']) {
    const p = path.join(dir, f);
    if (!fs.existsSync(p)) continue;
    const e = (JSON.parse(fs.readFileSync(p, 'utf8')) as { eos_token_id?: number | number[] }).eos_token_id;
    if (e !== undefined && e !== null) return Array.isArray(e) ? e[0] : e;
  }
  return undefined;
}

const tol = (table: Record<string, number>, dtype: string, override?: number) => override ?? table[dtype] ?? 1.0;

export function compare(ref: { tokens: number[]; logits: Float32Array[] }, got: { tokens: number[]; logits: Float32Array[] }, tolerance: number): PathComparison {
  const maxAbs = maxAbsDiff(ref.logits, got.logits);
  const first = ref.logits.length - ref.tokens.length; // row predicting ref.tokens[0]
  let tokenAgree = 0;
  let ties = 0;
  ref.tokens.forEach((t, i) => {
    const mine = got.tokens[i];
    if (mine === t) { tokenAgree++; return; }
    const row = ref.logits[first + i];
    if (mine !== undefined && row[t] - row[mine] <= 2 * tolerance) ties++;
  });
  const ok = maxAbs <= tolerance && got.tokens.length === ref.tokens.length && tokenAgree + ties === ref.tokens.length;
  return { maxAbs, tokenAgree, ties, tokens: got.tokens, tolerance, ok };
}

const argmaxRows = (rows: Float32Array[]) => rows.map((r) => argmax(r, 0, r.length));

async function checkVariant(v: VariantFile, opts: ParityOptions, eos: number | undefined, state: RunState): Promise<ParityRow> {
  const model = readModel(v.file);
  const kv = kvLayout(model);
  // The file as exported runs the way transformers.js runs it: present tensors fed back (the concat cache).
  const runner = await DecoderRunner.create(model, { ...opts.session, cache: 'concat' });
  const node = ort as unknown as OrtLike;
  const session = runner.session as unknown as SessionLike;
  try {
    // quantlab's own runtime; DecoderRunner builds a float32 empty cache, so float16 caches use the shared loop.
    const ql = kv.dtype === 'float32'
      ? await greedyGenerate(runner, [opts.prompt], { maxNewTokens: opts.newTokens, eosTokenId: eos }).then((r) => ({ tokens: r.tokens[0], logits: r.logits[0] }))
      : await cachedGreedy(node, session, kv, opts.prompt, opts.newTokens);
    const seq = [...opts.prompt, ...ql.tokens.slice(0, -1)];
    const full = await fullPass(node, session, kv, seq);
    const T = opts.prompt.length;
    const fullTokens = argmaxRows(full.slice(T - 1));
    const row: ParityRow = {
      dtype: v.dtype, file: v.file, tokens: ql.tokens,
      kvVsFull: compare(ql, { tokens: fullTokens, logits: full }, tol(KV_TOLERANCE, v.dtype, opts.tolerance)),
      ok: true,
    };
    if (v.dtype === 'fp32') state.fp32 = { tokens: ql.tokens, full };
    else if (state.fp32) {
      const ref = state.fp32;
      const mine = await fullPass(node, session, kv, [...opts.prompt, ...ref.tokens.slice(0, -1)]);
      row.vsFp32 = { maxAbs: maxAbsDiff(ref.full, mine), tokenAgree: ref.tokens.filter((t, i) => ql.tokens[i] === t).length };
    }
    if (opts.web) row.web = await guarded(() => webRun(v.file, kv, opts, ql, v.dtype));
    if (opts.transformersJs) row.transformersJs = await guarded(() => transformersJsRun(v, opts, ql, full));
    row.ok = [row.kvVsFull, row.web, row.transformersJs].every((c) => !c || ('ok' in c && c.ok));
    return row;
  } finally {
    await runner.release();
  }
}

async function guarded<T>(f: () => Promise<T>): Promise<T | { error: string }> {
  try { return await f(); } catch (e) { return { error: (e as Error).message.split('\n')[0] }; }
}

/** The same file under onnxruntime-web's WASM backend: cached greedy decoding, compared with the node runtime. */
async function webRun(file: string, kv: KvLayout, opts: ParityOptions, ref: { tokens: number[]; logits: Float32Array[] }, dtype: string): Promise<PathComparison> {
  const ortw = await importOptional('onnxruntime-web') as typeof import('onnxruntime-web');
  ortw.env.wasm.numThreads = 1;
  ortw.env.logLevel = 'error';
  const so: import('onnxruntime-web').InferenceSession.SessionOptions = { executionProviders: ['wasm'], logSeverityLevel: 3 };
  const ext = externalDataOf(file);
  if (ext.length) so.externalData = ext.map((p) => ({ path: path.basename(p), data: new Uint8Array(fs.readFileSync(p)) }));
  const s = await ortw.InferenceSession.create(new Uint8Array(fs.readFileSync(file)), so);
  try {
    const logits = await cachedForced(ortw as unknown as OrtLike, s as unknown as SessionLike, kv, opts.prompt, ref.tokens);
    return compare(ref, { tokens: argmaxRows(logits.slice(opts.prompt.length - 1)), logits }, tol(RUNTIME_TOLERANCE, dtype, opts.tolerance));
  } finally { await s.release(); }
}

function externalDataOf(file: string): string[] {
  const dir = path.dirname(file);
  const base = path.basename(file);
  return fs.readdirSync(dir).filter((f) => f.startsWith(`${base}_data`)).map((f) => path.join(dir, f));
}

/**
 * The variant through @huggingface/transformers from the local folder (remote models off): generate()
 * greedily and a plain forward over the same sequence, compared with the quantlab runtime.
 */
async function transformersJsRun(v: VariantFile, opts: ParityOptions, ref: { tokens: number[]; logits: Float32Array[] }, full: Float32Array[]): Promise<PathComparison> {
  const tjs = await importOptional('@huggingface/transformers') as typeof import('@huggingface/transformers');
  const dir = path.resolve(opts.dir);
  tjs.env.allowRemoteModels = false;
  tjs.env.allowLocalModels = true;
  tjs.env.localModelPath = path.dirname(dir) + path.sep;
  const model = await tjs.AutoModelForCausalLM.from_pretrained(path.basename(dir), { dtype: v.dtype as never, device: 'cpu' });
  try {
    const ids = (xs: number[]) => new tjs.Tensor('int64', BigInt64Array.from(xs, BigInt), [1, xs.length]);
    const ones = (n: number) => ids(new Array<number>(n).fill(1));
    const out = await model.generate({ input_ids: ids(opts.prompt), attention_mask: ones(opts.prompt.length), max_new_tokens: ref.tokens.length, do_sample: false } as never) as InstanceType<typeof tjs.Tensor>;
    const tokens = (out.tolist() as bigint[][])[0].slice(opts.prompt.length).map(Number);
    const seq = [...opts.prompt, ...ref.tokens.slice(0, -1)];
    const fwd = await model({ input_ids: ids(seq), attention_mask: ones(seq.length) }) as { logits: InstanceType<typeof tjs.Tensor> };
    const l = fwd.logits;
    const data = l.data instanceof Uint16Array ? halfArrayToF32(l.data, false) : Float32Array.from(l.data as ArrayLike<number>);
    const V = l.dims[2];
    const logits = Array.from({ length: l.dims[1] }, (_, i) => data.slice(i * V, (i + 1) * V));
    // Logits: the library's own forward over our sequence. Tokens: its free-running generate(), same runtime, so exact.
    const c = compare({ tokens: ref.tokens, logits: full }, { tokens, logits }, tol(RUNTIME_TOLERANCE, v.dtype, opts.tolerance));
    return { ...c, ties: 0, ok: c.ok && c.tokenAgree === ref.tokens.length };
  } finally { await model.dispose(); }
}

async function importOptional(name: string): Promise<unknown> {
  try { return await import(name); } catch (e) {
    throw new UsageError(`${name} is not installed (a dev dependency of quantlab: npm install -D ${name}) (${(e as Error).message.split('\n')[0]})`);
  }
}
