import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { Model } from '../ir/graph.js';
import { DecoderRunner } from '../runtime/decoder.js';
import { ort, type SessionOptions } from '../runtime/session.js';
import { InputError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fsx.js';
import { withLogprobHead } from './compare-head.js';
import { slidingWindows, takeGroup, windowFeeds } from './windows.js';

/**
 * A reference model's predictions saved once (`quantlab eval --save-logits`) so that any variant can
 * be compared with it later (`--kld-base <file>`), e.g. when the FP32 model does not fit in this
 * machine's memory or was run elsewhere: per scored token, the reference's NLL of the correct token,
 * its argmax, and its top-k log-probabilities (llama.cpp's --kl-divergence-base keeps every logit at
 * 16 bits; k entries keep the file small). The KLD is then computed over the top k plus the rest of
 * the vocabulary as one merged outcome (compare-head.ts): a lower bound, exact as the top k's mass
 * goes to 1; top-1 agreement and Δln PPL are exact. The header pins the windows: same token ids
 * (SHA-256), ctx, stride and BOS, or the comparison is refused.
 */
export interface SavedLogitsHeader {
  schema: 'quantlab.logits/1';
  source: { model: string; hash: string };
  tokens: number;
  tokens_sha256: string;
  ctx: number;
  stride: number;
  bos: number | null;
  k: number;
  vocab: number;
  scored: number;
}

const MAGIC = 'QLLOGIT1';

export function tokensSha256(tokens: ArrayLike<number>): string {
  return createHash('sha256').update(new Uint8Array(Int32Array.from(tokens).buffer)).digest('hex');
}

export class SavedLogits {
  constructor(
    readonly header: SavedLogitsHeader, readonly nll: Float32Array, readonly argmax: Int32Array, readonly ids: Int32Array, readonly logp: Float32Array,
    /** The file it was read from (named when a comparison is refused). */
    readonly file?: string,
  ) {}

  /** Whether `file` is a saved-logits file (else, for --kld-base, a model). */
  static isFile(file: string): boolean {
    try {
      if (!fs.statSync(file).isFile()) return false;
      const fd = fs.openSync(file, 'r');
      try { const b = Buffer.alloc(8); fs.readSync(fd, b, 0, 8, 0); return b.toString('latin1') === MAGIC; } finally { fs.closeSync(fd); }
    } catch { return false; }
  }

  static read(file: string): SavedLogits {
    const buf = fs.readFileSync(file);
    if (buf.length < 12 || buf.toString('latin1', 0, 8) !== MAGIC) throw new InputError(file, 'not a quantlab saved-logits file (eval --save-logits)');
    const hlen = buf.readUInt32LE(8);
    if (12 + hlen > buf.length) throw new InputError(file, `truncated saved-logits file: header of ${hlen} bytes, file has ${buf.length}`);
    let h: SavedLogitsHeader;
    try { h = JSON.parse(buf.toString('utf8', 12, 12 + hlen)); } catch { throw new InputError(file, 'saved-logits header is not valid JSON'); }
    if (h.schema !== 'quantlab.logits/1') throw new InputError(file, `unsupported saved-logits schema '${h.schema}'`);
    for (const f of ['tokens', 'ctx', 'stride', 'k', 'vocab', 'scored'] as const) {
      if (!Number.isInteger(h[f]) || h[f] < 0) throw new InputError(file, `saved-logits header field '${f}' is not a non-negative integer`);
    }
    const n = h.scored, k = h.k;
    const at = align(12 + hlen);
    const want = at + n * 8 + n * k * 8;
    if (buf.length !== want) throw new InputError(file, `saved-logits file has ${buf.length} bytes, its header (${n} tokens × top-${k}) needs ${want}`);
    const view = <T>(C: new (b: ArrayBuffer, o: number, l: number) => T, off: number, len: number) => new C(buf.buffer.slice(buf.byteOffset + off, buf.byteOffset + off + len * 4), 0, len);
    return new SavedLogits(h, view(Float32Array, at, n), view(Int32Array, at + 4 * n, n), view(Int32Array, at + 8 * n, n * k), view(Float32Array, at + 8 * n + 4 * n * k, n * k), file);
  }

  write(file: string): void {
    const hj = Buffer.from(JSON.stringify(this.header), 'utf8');
    const head = Buffer.alloc(align(12 + hj.length));
    head.write(MAGIC, 0, 'latin1');
    head.writeUInt32LE(hj.length, 8);
    hj.copy(head, 12);
    const bytes = (a: Float32Array | Int32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    writeFileAtomic(file, [head, bytes(this.nll), bytes(this.argmax), bytes(this.ids), bytes(this.logp)]);
  }

  /** Refuse a comparison on other windows than the ones saved (one line naming the field). */
  checkMatches(tokens: ArrayLike<number>, o: { ctx: number; stride: number; bos?: number }, file = this.file ?? this.header.source.model): void {
    const h = this.header;
    const bad = (what: string, saved: unknown, now: unknown) => new InputError(file, `saved logits were computed with ${what} ${saved}, this run uses ${now}`);
    if (h.ctx !== o.ctx) throw bad('--ctx', h.ctx, o.ctx);
    if (h.stride !== o.stride) throw bad('--stride', h.stride, o.stride);
    if (h.bos !== (o.bos ?? null)) throw bad('BOS', h.bos, o.bos ?? null);
    if (h.tokens !== tokens.length) throw bad('a token count of', h.tokens, tokens.length);
    if (h.tokens_sha256 !== tokensSha256(tokens)) throw new InputError(file, 'saved logits were computed on other token ids (dataset, split, --max-tokens or tokenizer differ)');
  }

  /** The reference's rows for scored tokens [at, at + count): NLL, argmax and the top-k log-probabilities and ids [count, k]. */
  rows(at: number, count: number): { nll: Float32Array; argmax: Int32Array; logp: Float32Array; ids: Int32Array } {
    const k = this.header.k;
    return {
      nll: this.nll.subarray(at, at + count), argmax: this.argmax.subarray(at, at + count),
      logp: this.logp.subarray(at * k, (at + count) * k), ids: this.ids.subarray(at * k, (at + count) * k),
    };
  }
}

const align = (n: number) => n + ((8 - (n % 8)) % 8);

export interface SaveOptions {
  ctx: number;
  stride: number;
  bos?: number;
  /** Log-probabilities kept per token (default 256; the vocabulary size makes the KLD exact). */
  k?: number;
  batchSize?: number;
  session?: SessionOptions;
  source: { model: string; hash: string };
  onProgress?: (done: number, total: number) => void;
}

/** Run the reference over the windows once and keep what later comparisons need. */
export async function saveReferenceLogits(model: Model, tokens: ArrayLike<number>, o: SaveOptions): Promise<SavedLogits> {
  const vocab = Number(model.graph.mustValue('logits').type?.shape?.[2] ?? 0);
  if (!Number.isInteger(vocab) || vocab <= 0) throw new Error('the reference graph does not declare its vocabulary size on logits');
  const k = Math.min(o.k ?? 256, vocab);
  const windows = slidingWindows(tokens.length, o.ctx, o.stride, o.bos);
  const n = windows.reduce((s, w) => s + w.end - w.scoreFrom, 0);
  const nll = new Float32Array(n), argmax = new Int32Array(n), ids = new Int32Array(n * k), logp = new Float32Array(n * k);
  const runner = await DecoderRunner.create(withLogprobHead(model, 'reference-topk', k), o.session);
  try {
    let at = 0, done = 0;
    for (let i = 0; i < windows.length;) {
      const group = takeGroup(windows, i, Math.max(1, o.batchSize ?? 1));
      i += group.length;
      const { ids: input, labels, positions, S } = windowFeeds(group, tokens);
      const out = await runner.run(input, group.length, { score_positions: new ort.Tensor('int64', positions, [S]), labels: new ort.Tensor('int64', labels, [group.length, S]) });
      const m = group.length * S;
      nll.set(out.nll.data as Float32Array, at);
      argmax.set(Int32Array.from(out.argmax.data as BigInt64Array, Number), at);
      logp.set(out.topk_logp.data as Float32Array, at * k);
      ids.set(Int32Array.from(out.topk_ids.data as BigInt64Array, Number), at * k);
      at += m;
      done += group.length;
      o.onProgress?.(done, windows.length);
    }
  } finally {
    await runner.release();
  }
  return new SavedLogits({
    schema: 'quantlab.logits/1', source: o.source, tokens: tokens.length, tokens_sha256: tokensSha256(tokens),
    ctx: o.ctx, stride: o.stride, bos: o.bos ?? null, k, vocab, scored: n,
  }, nll, argmax, ids, logp);
}
