import { cloneModel, type Model } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { toFloat32 } from '../hf/safetensors.js';
import { runProbe } from '../quant/calibration/collect.js';
import type { Gram } from '../quant/calibration/gram.js';
import { nbitsBytes } from '../quant/nbits-pack.js';
import { transpose } from '../quant/primitives.js';
import { dequantizeBlocks, rtnQuantize, type BlockFormat } from '../quant/rtn.js';
import { UsageError } from '../util/errors.js';
import { Progress } from '../util/progress.js';
import type { TextPassContext } from './pass.js';
import type { WeightSite } from './select.js';

/** A size budget: bytes, percent of the FP32 model, or bits per weight over all parameters. */
export type SizeBudget = { bytes: number } | { percent: number } | { bitsPerWeight: number };

/** '9MB', '9000000', '18%', '4.8bpw' → a budget; null for anything else. */
export function parseBudget(s: string): SizeBudget | null {
  const m = /^\s*([0-9]*\.?[0-9]+)\s*(b|bytes|kb|mb|gb|kib|mib|gib|%|bpw)?\s*$/i.exec(s);
  if (!m) return null;
  const v = Number(m[1]), unit = (m[2] ?? 'b').toLowerCase();
  if (!(v > 0)) return null;
  if (unit === '%') return { percent: v };
  if (unit === 'bpw') return { bitsPerWeight: v };
  const mult: Record<string, number> = { b: 1, bytes: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30 };
  return { bytes: Math.round(v * mult[unit]) };
}

/** One weight table the budget chooses a format for (a tied table's sites share one). */
export interface BudgetTable {
  key: string;
  sites: WeightSite[];
  n: number;
  k: number;
  /** Formats whose block divides K, cheapest first. */
  candidates: BlockFormat[];
}

export interface BudgetChoice {
  formats: Map<string, BlockFormat>;
  bytes: number;
  budget: number;
  note: string;
}

const CANDIDATES: BlockFormat[] = [
  { bits: 4, blockSize: 128, symmetric: true }, { bits: 4, blockSize: 32, symmetric: true },
  { bits: 8, blockSize: 128, symmetric: true }, { bits: 8, blockSize: 32, symmetric: true },
];

export function budgetCandidates(k: number, symmetric: boolean): BlockFormat[] {
  return CANDIDATES.filter((f) => k % f.blockSize === 0).map((f) => ({ ...f, symmetric }));
}

const tableBytes = (t: BudgetTable, f: BlockFormat) => nbitsBytes(t.n, t.k, f.bits, f.blockSize, f.symmetric);

/**
 * Per-table formats under `budget`, from measured sensitivity: each table alone at its cheapest
 * format is run through the float model on calibration windows and its KLD to the float logits
 * measured; the other formats' KLD is that times the ratio of their output errors on the
 * calibration Gram matrix (‖ΔW X‖², sampled rows). Then greedily buy the upgrade with the most KLD
 * saved per byte while the model stays under the budget.
 */
export async function chooseFormats(
  model: Model, tables: BudgetTable[], grams: (t: BudgetTable) => Gram | undefined, budget: SizeBudget,
  windows: ArrayLike<number>[], ctx: TextPassContext, method: string,
): Promise<BudgetChoice> {
  const quantized = new Set(tables.flatMap((t) => t.sites.map((s) => s.weight.name)));
  let fixed = 0, params = 0;
  for (const v of model.graph.initializers()) {
    params += v.constant!.size;
    if (!quantized.has(v.name)) fixed += v.constant!.byteLength;
  }
  const fp32 = params * 4;
  const limit = 'bytes' in budget ? budget.bytes : 'percent' in budget ? (budget.percent / 100) * fp32 : (budget.bitsPerWeight * params) / 8;
  const floor = fixed + tables.reduce((s, t) => s + tableBytes(t, t.candidates[0]), 0);
  const mb = (b: number) => `${(b / 1e6).toFixed(2)} MB`;
  if (limit < floor) throw new UsageError(`${method}: budget ${mb(limit)} is below the smallest this model can be with these formats (${mb(floor)}: every table at ${t4(tables[0]?.candidates[0])}, plus ${mb(fixed)} kept in float)`);

  // Output error of each candidate relative to the cheapest, from the Gram matrix.
  const relErr = tables.map((t) => {
    const gram = grams(t);
    const errs = t.candidates.map((f) => (gram ? sampledOutputError(t, f, gram) : elementError(t, f)));
    return errs.map((e) => e / Math.max(errs[0], 1e-30));
  });
  // Measured KLD of each table alone at its cheapest format.
  const ref = await logitsOf(model, windows, ctx);
  const bar = new Progress('sensitivity', tables.length);
  const kld: number[] = [];
  for (const [i, t] of tables.entries()) {
    kld.push(klDivergence(ref, await logitsOf(withDequantized(model, t, t.candidates[0]), windows, ctx)));
    bar.update(i + 1, tables.length);
  }
  bar.done();

  const { pick, bytes: total } = greedyUpgrade(tables.map((t, i) => ({
    bytes: t.candidates.map((f) => tableBytes(t, f)),
    kld: relErr[i].map((r) => kld[i] * r),
  })), 0.995 * limit - fixed); // 0.5% left for the graph, packing constants and metadata
  const formats = new Map(tables.map((t, i) => [t.key, t.candidates[pick[i]]]));
  for (const [i, t] of tables.entries()) ctx.explain(`budget: ${t.key} → ${t4(t.candidates[pick[i]])} (alone at ${t4(t.candidates[0])}: KLD ${kld[i].toExponential(2)})`);
  const counts = new Map<string, number>();
  for (const f of formats.values()) counts.set(t4(f), (counts.get(t4(f)) ?? 0) + 1);
  const mix = [...counts].map(([f, n]) => `${n}× ${f}`).join(', ');
  const size = fixed + total;
  const note = `budget ${mb(limit)} (${((100 * limit) / fp32).toFixed(1)}% of FP32): ${mb(size)} of weights (${((100 * size) / limit).toFixed(1)}% of the budget, ${((8 * size) / params).toFixed(2)} bits per weight); ${mix}`;
  return { formats, bytes: size, budget: limit, note };
}

/**
 * Greedy knapsack over per-table options (bytes and predicted KLD each, cheapest first): start
 * every table at its first option, then repeatedly take the upgrade saving the most KLD per extra
 * byte that still fits `limit`. Never exceeds `limit` when the first options fit.
 */
export function greedyUpgrade(tables: { bytes: number[]; kld: number[] }[], limit: number): { pick: number[]; bytes: number } {
  const pick = tables.map(() => 0);
  let total = tables.reduce((s, t) => s + t.bytes[0], 0);
  for (;;) {
    let best: { t: number; c: number; ratio: number } | null = null;
    for (const [ti, t] of tables.entries()) {
      const cur = pick[ti];
      for (let c = cur + 1; c < t.bytes.length; c++) {
        const extra = t.bytes[c] - t.bytes[cur], saved = t.kld[cur] - t.kld[c];
        if (extra <= 0 || saved <= 0 || total + extra > limit) continue;
        if (!best || saved / extra > best.ratio) best = { t: ti, c, ratio: saved / extra };
      }
    }
    if (!best) return { pick, bytes: total };
    total += tables[best.t].bytes[best.c] - tables[best.t].bytes[pick[best.t]];
    pick[best.t] = best.c;
  }
}

const t4 = (f?: BlockFormat) => (f ? `${f.bits}-bit block ${f.blockSize}` : '?');

function tableRows(t: BudgetTable): Float32Array {
  const s = t.sites[0], w = toFloat32(s.tensor).data as Float32Array;
  return s.inAxis === 1 ? w : transpose(w, s.rows, s.cols);
}

/** Σ ΔHΔᵀ over up to 256 evenly spaced rows. */
function sampledOutputError(t: BudgetTable, f: BlockFormat, gram: Gram): number {
  const rows = tableRows(t), k = t.k, take = Math.min(t.n, 256);
  const sample = new Float32Array(take * k);
  for (let i = 0; i < take; i++) { const r = Math.floor((i * t.n) / take); sample.set(rows.subarray(r * k, r * k + k), i * k); }
  const dq = dequantizeBlocks(rtnQuantize(sample, take, k, f));
  const d = new Float64Array(k), h = gram.sum;
  let e = 0;
  for (let r = 0; r < take; r++) {
    for (let i = 0; i < k; i++) d[i] = sample[r * k + i] - dq[r * k + i];
    for (let i = 0; i < k; i++) { let s = 0; for (let j = 0; j < k; j++) s += h[i * k + j] * d[j]; e += d[i] * s; }
  }
  return e;
}

/** ‖ΔW‖² (a table read only by an embedding lookup). */
function elementError(t: BudgetTable, f: BlockFormat): number {
  const rows = tableRows(t), dq = dequantizeBlocks(rtnQuantize(rows, t.n, t.k, f));
  let e = 0;
  for (let i = 0; i < rows.length; i++) e += (rows[i] - dq[i]) ** 2;
  return e;
}

/** The float model with one table replaced by its RTN dequantization in format `f`. */
function withDequantized(model: Model, t: BudgetTable, f: BlockFormat): Model {
  const m = cloneModel(model);
  const s = t.sites[0];
  const dq = dequantizeBlocks(rtnQuantize(tableRows(t), t.n, t.k, f));
  const data = s.inAxis === 1 ? dq : transpose(dq, t.n, t.k);
  m.graph.mustValue(s.weight.name).constant = new Tensor('float32', [s.rows, s.cols], data);
  return m;
}

/** Log-softmax of the logits on every window, with the vocabulary size. */
async function logitsOf(model: Model, windows: ArrayLike<number>[], ctx: TextPassContext): Promise<{ v: number; lp: Float32Array[] }> {
  const out: Float32Array[] = [];
  const name = model.graph.value('logits') ? 'logits' : model.graph.outputs[0].name;
  let v = 0;
  await runProbe(model, windows, [name], () => {}, (_n, tensor) => {
    const x = tensor.data as Float32Array;
    v = tensor.dims[tensor.dims.length - 1];
    const lp = new Float32Array(x.length);
    for (let o = 0; o < x.length; o += v) {
      let m = -Infinity;
      for (let j = 0; j < v; j++) m = Math.max(m, x[o + j]);
      let s = 0;
      for (let j = 0; j < v; j++) s += Math.exp(x[o + j] - m);
      const lse = m + Math.log(s);
      for (let j = 0; j < v; j++) lp[o + j] = x[o + j] - lse;
    }
    out.push(lp);
  }, { session: ctx.session });
  return { v, lp: out };
}

/** Mean over positions of KL(p‖q) from log-probabilities. */
function klDivergence(p: { v: number; lp: Float32Array[] }, q: { lp: Float32Array[] }): number {
  let s = 0, n = 0;
  for (let w = 0; w < p.lp.length; w++) {
    const a = p.lp[w], b = q.lp[w];
    for (let i = 0; i < a.length; i++) s += Math.exp(a[i]) * (a[i] - b[i]);
    n += a.length / p.v;
  }
  return s / n;
}
