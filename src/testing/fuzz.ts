import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { cachedRecord } from '../bench/variants.js';
import { main } from '../cli/main.js';
import { fileDataset } from '../data/index.js';
import { readSafetensors, writeSafetensors } from '../hf/safetensors.js';
import { loadTokenizer } from '../hf/tokenizer.js';
import { Tensor } from '../ir/tensor.js';
import { loadModel } from '../load/index.js';
import { decodeModel } from '../onnx/read.js';
import { encodeModel } from '../onnx/write.js';
import { InputError, UsageError } from '../util/errors.js';
import { fixtureDir, repoRoot } from './fixtures.js';
import { tinyGpt2 } from './random-decoder.js';

/*
 * Every parser of user-supplied input, as a fuzz target: a fast-check generator of mutated inputs
 * and a check that reads one. The contract: each input is read, or refused with one line that
 * starts with the file's path (InputError / UsageError) — never another exception, never a hang.
 * `npm test` runs each target a few hundred times (the *.fuzz.test.ts files); `npm run fuzz`
 * (scripts/fuzz.mjs) tens of thousands, and records the counts in results/fuzz/.
 */

export type Outcome = 'ok' | 'refused';

export interface FuzzTarget<T = unknown> {
  name: string;
  /** What is mutated and what reads it. */
  what: string;
  arbitrary(): fc.Arbitrary<T>;
  check(input: T): Outcome | Promise<Outcome>;
}

export interface FuzzStats {
  target: string; what: string; seed: number; cases: number; ok: number; refused: number;
  /** Broken contract: an exception that is not a one-line refusal naming the file (first 5 kept). */
  crashes: string[]; crashCount: number;
  /** Cases over HANG_MS. */
  hangs: number; slowestMs: number; seconds: number;
}

export const HANG_MS = 5000;

/** A refusal that keeps the contract, else the exception goes on as a crash. */
export function refusal(e: unknown, file: string): Outcome {
  if ((e instanceof InputError || e instanceof UsageError) && !e.message.includes('\n') && e.message.startsWith(`${file}`)) return 'refused';
  throw e;
}

export async function runFuzz<T>(t: FuzzTarget<T>, runs: number, seed: number): Promise<FuzzStats> {
  const s: FuzzStats = { target: t.name, what: t.what, seed, cases: 0, ok: 0, refused: 0, crashes: [], crashCount: 0, hangs: 0, slowestMs: 0, seconds: 0 };
  const t0 = performance.now();
  for (const input of fc.sample(t.arbitrary(), { numRuns: runs, seed })) {
    const a = performance.now();
    try {
      s[await t.check(input)]++;
    } catch (e) {
      s.crashCount++;
      if (s.crashes.length < 5) s.crashes.push(`${(e as Error)?.stack?.split('\n').slice(0, 3).join(' | ') ?? e} — input ${JSON.stringify(input)?.slice(0, 300)}`);
    }
    const ms = performance.now() - a;
    s.slowestMs = Math.max(s.slowestMs, ms);
    if (ms > HANG_MS) s.hangs++;
    s.cases++;
  }
  s.seconds = (performance.now() - t0) / 1000;
  return s;
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-fuzz-'));
process.on('exit', () => fs.rmSync(work, { recursive: true, force: true }));
let caseNo = 0;
/** A fresh folder per case. */
const caseDir = () => { const d = path.join(work, `case-${caseNo++}`); fs.mkdirSync(d); return d; };
const rm = (d: string) => fs.rmSync(d, { recursive: true, force: true });

/** Byte edits and a cut of `bytes` (the cut keeps at least one byte). */
const byteEdits = (bytes: Uint8Array, hot = bytes.length) => fc.record({
  edits: fc.array(fc.tuple(fc.oneof(fc.nat(Math.max(0, hot - 1)), fc.nat(bytes.length - 1)), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
  cut: fc.option(fc.nat(bytes.length - 1), { nil: undefined }),
});
const applyEdits = (bytes: Uint8Array, m: { edits: [number, number][]; cut?: number }) => {
  const b = Buffer.from(bytes);
  for (const [i, v] of m.edits) b[i] = v;
  return m.cut === undefined ? b : b.subarray(0, Math.max(1, m.cut));
};

/** A JSON document with fields replaced (any JSON), deleted or added at some path. */
type JsonEdit = { path: string[]; value: unknown } | { path: string[]; remove: true };
function jsonEdits(doc: unknown, extraKeys: string[] = []): fc.Arbitrary<JsonEdit[]> {
  const paths: string[][] = [];
  (function walk(x: unknown, p: string[]) {
    if (p.length) paths.push(p);
    if (x && typeof x === 'object' && p.length < 3) {
      const entries = Array.isArray(x) ? x.map((v, i) => [String(i), v] as const).slice(0, 4) : Object.entries(x).slice(0, 40);
      for (const [k, v] of entries) walk(v, [...p, k]);
    }
  })(doc, []);
  for (const k of extraKeys) paths.push([k]);
  const value = fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.constantFrom(0, -1, 1, 2 ** 31, 2 ** 53, 1e308, -1e308, 0.5, 1e-300, '', 'x', 'llama', 'gpt2', null, true, [], {}, [0], [1e9, 1e9]),
  );
  const edit = fc.oneof(
    fc.record({ path: fc.constantFrom(...paths), value }),
    fc.record({ path: fc.constantFrom(...paths), remove: fc.constant(true as const) }),
  );
  return fc.array(edit, { minLength: 1, maxLength: 3 });
}
function applyJson(doc: unknown, edits: JsonEdit[]): unknown {
  const d = structuredClone(doc) as Record<string, unknown>;
  for (const e of edits) {
    let o: Record<string, unknown> = d;
    for (const k of e.path.slice(0, -1)) {
      if (!o || typeof o[k] !== 'object' || o[k] === null) { o = null as never; break; }
      o = o[k] as Record<string, unknown>;
    }
    if (!o) continue;
    const last = e.path[e.path.length - 1];
    if ('remove' in e) delete o[last]; else o[last] = structuredClone(e.value); // a copy: fast-check may hand two edits one object
  }
  return d;
}
/** JSON-level edits, or byte edits of the serialized text. */
const jsonOrBytes = (doc: unknown, extra?: string[]) => {
  const text = Buffer.from(JSON.stringify(doc, null, 1));
  return fc.oneof(
    { weight: 3, arbitrary: jsonEdits(doc, extra).map((e) => Buffer.from(JSON.stringify(applyJson(doc, e), null, 1))) },
    { weight: 1, arbitrary: byteEdits(text).map((m) => applyEdits(text, m)) },
  );
};

// --- safetensors -------------------------------------------------------------------------------
const stValid = path.join(work, 'valid.safetensors');
writeSafetensors(stValid, new Map([
  ['a', Tensor.f32([2, 3], [1, 2, 3, 4, 5, 6])],
  ['b', new Tensor('int64', [2], BigInt64Array.of(7n, 8n))],
]), { format: 'pt' });
const stBytes = fs.readFileSync(stValid);
const stHeaderLen = Number(stBytes.readBigUInt64LE(0));
const stHeader = JSON.parse(stBytes.subarray(8, 8 + stHeaderLen).toString('utf8')) as Record<string, unknown>;
/** A safetensors file with `header` (any JSON) before the valid file's data. */
export function withSafetensorsHeader(h: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(h), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, stBytes.subarray(8 + stHeaderLen)]);
}
/** Read a safetensors file and every tensor's data. */
export function readSafetensorsBytes(buf: Uint8Array): Outcome {
  const d = caseDir(), f = path.join(d, 'model.safetensors');
  fs.writeFileSync(f, buf);
  try {
    for (const t of readSafetensors(f).tensors.values()) void t.data;
    return 'ok';
  } catch (e) { return refusal(e, f); } finally { rm(d); }
}

// --- a small model folder (config.json + weights) ------------------------------------------------
const modelFixture = fixtureDir('llama3-rope');
const configDoc = JSON.parse(fs.readFileSync(path.join(modelFixture, 'config.json'), 'utf8')) as Record<string, unknown>;
const CONFIG_KEYS = ['head_dim', 'sliding_window', 'partial_rotary_factor', 'layer_types', 'query_pre_attn_scalar', 'final_logit_softcapping', 'n_embd', 'n_layer', 'n_head', 'n_positions', 'text_config'];
/** Load the folder and build both graph forms: a model, or one line naming a file in it. */
function loadFolder(d: string): Outcome {
  try {
    const m = loadModel(d);
    m.graph({ kvCache: true });
    m.graph({ kvCache: false });
    return 'ok';
  } catch (e) { return refusal(e, d); }
}
/** The fixture's tensors split into two shards with an index (the sharded layout). */
const shardTensors = readSafetensors(path.join(modelFixture, 'model.safetensors')).tensors;
const shardNames = [...shardTensors.keys()];
const indexDoc = { metadata: { total_size: 0 }, weight_map: Object.fromEntries(shardNames.map((n, i) => [n, `model-0000${i % 2 + 1}-of-00002.safetensors`])) };
const shardDir = path.join(work, 'shards');
fs.mkdirSync(shardDir);
for (const s of [1, 2]) writeSafetensors(path.join(shardDir, `model-0000${s}-of-00002.safetensors`), new Map(shardNames.filter((_, i) => i % 2 + 1 === s).map((n) => [n, shardTensors.get(n)!])));

// --- tokenizer.json: the embedded model's BPE cut to its first 400 tokens --------------------------
const tokDoc = (() => {
  const full = JSON.parse(fs.readFileSync(path.join(repoRoot, 'models', 'gpt2-brown-12m', 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number>; merges: (string | string[])[] } };
  const vocab = Object.fromEntries(Object.entries(full.model.vocab).filter(([, id]) => id < 400));
  const merges = full.model.merges.filter((m) => {
    const [a, b] = Array.isArray(m) ? m : m.split(' ');
    return a + b in vocab && a in vocab && b in vocab;
  });
  return { ...full, model: { ...full.model, vocab, merges } };
})();

// --- quantlab.json of a finished variant ---------------------------------------------------------
const recordDoc = {
  schema: 'quantlab.quantized/1', quantlab_version: '0.1.0', created: '2026-12-01T00:00:00.000Z',
  method: { kind: 'int4-weight', blockSize: 32 }, source: { path: 'm', hash: 'h' },
  model: { file: 'onnx/model.onnx', sha256: 'x', files: { 'onnx/model.onnx': 10, 'config.json': 2 } },
  report: { converted: [], skipped: [], notes: [] }, timing: { pass_ms: 5 },
};

// --- the CLI: every command with random flags and values (no model it could load) -----------------
const CLI_VALUES = ['', '-', '-1', '0', '1', '1.5', 'NaN', 'Infinity', '1e309', '9007199254740993', '0x10', 'abc', '../..', '/dev/null', '/nonexistent/model', 'brown', 'wikitext2', 'test', 'int4-weight', 'fp32,nope', 'x'.repeat(300), '--model', '-h', '8MB', '18%', '\u00e9\u0000'];
const cliCommands = ['eval', 'inspect', 'synth', 'quantize', 'export', 'check', 'train', 'qat', 'bench', 'nope'];
let cliOptions: Record<string, string[]> | null = null;
async function optionsOf(cmd: string): Promise<string[]> {
  cliOptions ??= Object.fromEntries((await import('../cli/registry.js')).COMMANDS.map((c) => [c.name, Object.keys(c.options)]));
  return cliOptions[cmd] ?? ['model'];
}

export const FUZZ_TARGETS = [
  {
    name: 'safetensors-bytes', what: 'byte edits and truncations of a .safetensors file; readSafetensors + every tensor\'s data',
    arbitrary: () => byteEdits(stBytes, 8 + stHeaderLen).map((m) => applyEdits(stBytes, m)),
    check: (b: Buffer) => readSafetensorsBytes(b),
  },
  {
    name: 'safetensors-header', what: 'any JSON in a header field (dtype, shape, data_offsets, entries, __metadata__)',
    arbitrary: () => fc.tuple(fc.constantFrom('a', 'b', '__metadata__', 'c'), fc.constantFrom('dtype', 'shape', 'data_offsets'), fc.jsonValue({ maxDepth: 2 })),
    check: ([name, key, value]: [string, string, unknown]) => {
      const h = structuredClone(stHeader);
      if (name === '__metadata__' || name === 'c') h[name] = value;
      else (h[name] as Record<string, unknown>)[key] = value;
      return readSafetensorsBytes(withSafetensorsHeader(h));
    },
  },
  {
    name: 'onnx', what: 'byte edits (biased to the graph before the weights) and truncations of a tiny GPT-2 .onnx; decodeModel',
    arbitrary: () => { const b = onnxBytes(); return byteEdits(b, 4000).map((m) => applyEdits(b, m)); },
    check: (b: Buffer) => {
      try { decodeModel(b, { file: 'fuzz.onnx' }); return 'ok'; } catch (e) { return refusal(e, 'fuzz.onnx'); }
    },
  },
  {
    name: 'config.json', what: 'field edits (any JSON, removals, added keys) and byte edits of a Llama config.json; loadModel + both graph forms',
    arbitrary: () => jsonOrBytes(configDoc, CONFIG_KEYS),
    check: (b: Buffer) => {
      const d = caseDir();
      try {
        fs.writeFileSync(path.join(d, 'config.json'), b);
        fs.symlinkSync(path.join(modelFixture, 'model.safetensors'), path.join(d, 'model.safetensors'));
        return loadFolder(d);
      } finally { rm(d); }
    },
  },
  {
    name: 'safetensors.index.json', what: 'field and byte edits of a sharded checkpoint\'s model.safetensors.index.json; loadModel + both graph forms',
    arbitrary: () => jsonOrBytes(indexDoc),
    check: (b: Buffer) => {
      const d = caseDir();
      try {
        fs.copyFileSync(path.join(modelFixture, 'config.json'), path.join(d, 'config.json'));
        for (const f of fs.readdirSync(shardDir)) fs.symlinkSync(path.join(shardDir, f), path.join(d, f));
        fs.writeFileSync(path.join(d, 'model.safetensors.index.json'), b);
        return loadFolder(d);
      } finally { rm(d); }
    },
  },
  {
    name: 'tokenizer.json', what: 'field and byte edits of a BPE tokenizer.json; loadTokenizer + encode/decode of a sample',
    arbitrary: () => jsonOrBytes(tokDoc, ['added_tokens', 'normalizer', 'pre_tokenizer', 'post_processor', 'decoder']),
    check: (b: Buffer) => {
      const d = caseDir();
      try {
        fs.writeFileSync(path.join(d, 'tokenizer.json'), b);
        const t = loadTokenizer(d);
        t.decode(t.encode('The quick brown fox, 1961.'));
        return 'ok';
      } catch (e) { return refusal(e, path.join(d, 'tokenizer.json')); } finally { rm(d); }
    },
  },
  {
    name: 'quantlab.json', what: 'field and byte edits of a cached variant\'s quantlab.json; the bench\'s cache lookup (reuse, or make it again)',
    arbitrary: () => jsonOrBytes(recordDoc),
    check: (b: Buffer) => {
      const d = caseDir();
      try {
        fs.mkdirSync(path.join(d, 'onnx'));
        fs.writeFileSync(path.join(d, 'onnx', 'model.onnx'), 'x');
        fs.writeFileSync(path.join(d, 'quantlab.json'), b);
        return cachedRecord(d, 'h', recordDoc.method as never) ? 'ok' : 'refused';
      } finally { rm(d); }
    },
  },
  {
    name: 'dataset', what: 'random bytes and strings as a dataset file; fileDataset',
    arbitrary: () => fc.oneof(fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)), fc.string({ unit: 'binary', maxLength: 64 }).map((s) => Buffer.from(s, 'utf8'))),
    check: (b: Buffer) => {
      const d = caseDir(), f = path.join(d, 'text.txt');
      try {
        fs.writeFileSync(f, b);
        fileDataset(f);
        return 'ok';
      } catch (e) { return refusal(e, f); } finally { rm(d); }
    },
  },
  {
    name: 'cli-flags', what: 'every command with random flags (its own and unknown ones) and adversarial values, no loadable model; main() exit code and stderr',
    arbitrary: () => fc.tuple(fc.constantFrom(...cliCommands), fc.array(fc.tuple(fc.oneof(fc.nat(40), fc.constantFrom('zz', 'h')), fc.option(fc.oneof(fc.constantFrom(...CLI_VALUES), fc.string({ maxLength: 12 }))), fc.boolean()), { maxLength: 6 })),
    check: async ([cmd, flags]: [string, [number | string, string | null, boolean][]]) => {
      const names = await optionsOf(cmd);
      const argv = [cmd];
      for (const [k, v, short] of flags) {
        const name = typeof k === 'number' ? names[k % names.length] : k;
        argv.push(short && name.length === 1 ? `-${name}` : `--${name}`);
        if (v !== null) argv.push(v);
      }
      if (!argv.includes('--model') && cmd !== 'synth') argv.push('--model', '/nonexistent/model');
      if (!argv.includes('--out')) argv.push('--out', path.join(work, 'cli-out'));
      const lines: string[] = [];
      const [log, err] = [console.log, console.error];
      console.log = () => {};
      console.error = (...a: unknown[]) => { lines.push(a.map(String).join(' ')); };
      let code: number;
      try { code = await main(argv); } finally { [console.log, console.error] = [log, err]; }
      if (code === 0) return 'ok';
      const text = lines.join('\n');
      if (![1, 2].includes(code) || lines.length !== 1 || !text.startsWith('quantlab') || /\n\s+at /.test(text)) throw new Error(`exit ${code}, stderr ${JSON.stringify(text.slice(0, 300))} for ${JSON.stringify(argv).slice(0, 300)}`);
      return 'refused';
    },
  },
] as unknown as FuzzTarget<never>[];

let onnxCache: Uint8Array | null = null;
function onnxBytes(): Uint8Array { return (onnxCache ??= encodeModel(tinyGpt2({ kvCache: false, seed: 1 }))); }

export const fuzzTarget = (name: string): FuzzTarget<never> => {
  const t = FUZZ_TARGETS.find((x) => x.name === name);
  if (!t) throw new Error(`no fuzz target ${name}`);
  return t;
};
