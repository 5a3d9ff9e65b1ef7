import { cloneModel, type Graph, type Model } from '../ir/graph.js';
import { toFloat32 } from '../hf/safetensors.js';
import { Tensor } from '../ir/tensor.js';
import { klDivergence, logSoftmax } from '../util/logprob.js';
import { engineOf } from './engine.js';
import { runProbe } from '../quant/calibration/collect.js';
import type { Gram } from '../quant/calibration/gram.js';
import { nbitsBytes } from '../quant/nbits-pack.js';
import { evenRows, outputError } from '../quant/output-error.js';
import { transpose } from '../quant/primitives.js';
import { dequantizeBlocks, rtnQuantize, type BlockFormat, type BlockQuantized } from '../quant/rtn.js';
import { UsageError } from '../util/errors.js';
import { Progress } from '../util/progress.js';
import type { TextPassContext } from './pass.js';
import { siteRows, type WeightSite } from './select.js';

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

/**
 * A table's format: `format` for every output row; or, with `split`, its first `split.rows` rows in
 * `split.format` (the next larger format) and the rest in `format`. A split table becomes two
 * linear layers and a Concat of their outputs (`splitSite`).
 */
export interface TableFormat { format: BlockFormat; split?: { rows: number; format: BlockFormat } }

export interface BudgetChoice {
  formats: Map<string, TableFormat>;
  bytes: number;
  budget: number;
  note: string;
}

// Bits per weight with float16 scales: 4.125, 4.25, 4.5, 5 (block 16: a step between 4 and 8 bits),
// 8.125, 8.25, 8.5, 9 (8-bit block 16: something left to buy when every table is at 8 bits).
const CANDIDATES: BlockFormat[] = [
  { bits: 4, blockSize: 128, symmetric: true }, { bits: 4, blockSize: 64, symmetric: true }, { bits: 4, blockSize: 32, symmetric: true }, { bits: 4, blockSize: 16, symmetric: true },
  { bits: 8, blockSize: 128, symmetric: true }, { bits: 8, blockSize: 64, symmetric: true }, { bits: 8, blockSize: 32, symmetric: true }, { bits: 8, blockSize: 16, symmetric: true },
];

export function budgetCandidates(k: number, symmetric: boolean): BlockFormat[] {
  return CANDIDATES.filter((f) => k % f.blockSize === 0).map((f) => ({ ...f, symmetric }));
}

const rowsBytes = (n: number, t: BudgetTable, f: BlockFormat) => nbitsBytes(n, t.k, f.bits, f.blockSize, f.symmetric);
const tableBytes = (t: BudgetTable, f: BlockFormat) => rowsBytes(t.n, t, f);

/** Steps in which a split table's rows move from one format to the next. */
const SPLIT_STEPS = 64;

/**
 * The table whose output rows may be split between two formats: the largest one read by a single
 * MatMul (in practice an untied LM head). Per-table formats alone move a model whose weights are
 * mostly two vocabulary tables in steps of a whole table (3.8 MB on the second model: 18% ended at
 * 94% of the budget); a split spends the rest.
 */
function splittable(tables: BudgetTable[]): BudgetTable | undefined {
  const linear = tables.filter((t) => t.sites.length === 1 && t.sites[0].op === 'MatMul');
  return linear.sort((a, b) => b.n * b.k - a.n * a.k)[0];
}

interface TableOption extends TableFormat { bytes: number; kld: number }

/**
 * Each candidate format, and for a splittable table each mix of two consecutive candidates in
 * 1/64 steps of its rows (the first rows, the most frequent tokens of a byte-pair vocabulary, in
 * the larger format). A mix's KLD is predicted in proportion to its rows in each format.
 */
function tableOptions(t: BudgetTable, kld: number[], split: boolean): TableOption[] {
  const opts: TableOption[] = t.candidates.map((format, c) => ({ format, bytes: tableBytes(t, format), kld: kld[c] }));
  if (!split) return opts;
  for (let c = 0; c + 1 < t.candidates.length; c++) {
    const [lo, hi] = [t.candidates[c], t.candidates[c + 1]];
    for (let j = 1; j < SPLIT_STEPS; j++) {
      const rows = Math.round((t.n * j) / SPLIT_STEPS);
      if (rows === 0 || rows === t.n) continue;
      opts.push({
        format: lo, split: { rows, format: hi },
        bytes: rowsBytes(rows, t, hi) + rowsBytes(t.n - rows, t, lo),
        kld: kld[c] + ((kld[c + 1] - kld[c]) * rows) / t.n,
      });
    }
  }
  return opts;
}

/**
 * Per-table formats under `budget`, from measured sensitivity: each table alone at its cheapest
 * format is run through the float model on calibration windows and its KLD to the float logits
 * measured; the other formats' KLD is that times the ratio of their output errors on the
 * calibration Gram matrix (‖ΔW X‖², sampled rows), each rounded by `quantize` (the pass's
 * algorithm: GPTQ gains far more at 4 bits than at 8 on a vocabulary head, so RTN's errors would
 * overrate upgrading it). Then the formats of least total predicted KLD that fit the budget
 * (`chooseUnderBudget`). `storedAs`: the bytes weights outside the tables will take, where the pass
 * stores them in another form.
 */
export async function chooseFormats(
  model: Model, tables: BudgetTable[], grams: (t: BudgetTable) => Gram | undefined, budget: SizeBudget,
  windows: ArrayLike<number>[], ctx: TextPassContext, method: string, quantize: SampleQuantizer = rtn,
  storedAs: Map<string, number> = new Map(),
): Promise<BudgetChoice> {
  const quantized = new Set(tables.flatMap((t) => t.sites.map((s) => s.weight.name)));
  let fixed = 0, params = 0;
  for (const v of model.graph.initializers()) {
    params += v.constant!.size;
    // Outside the tables: as stored now, or as the pass will store it (`storedAs`: an int8-row
    // embedding, in addition to the table when it is a tied head's).
    if (storedAs.has(v.name)) fixed += storedAs.get(v.name)!;
    else if (!quantized.has(v.name)) fixed += v.constant!.byteLength;
  }
  const fp32 = params * 4;
  const limit = 'bytes' in budget ? budget.bytes : 'percent' in budget ? (budget.percent / 100) * fp32 : (budget.bitsPerWeight * params) / 8;
  const floor = fixed + tables.reduce((s, t) => s + tableBytes(t, t.candidates[0]), 0);
  const mb = (b: number) => `${(b / 1e6).toFixed(2)} MB`;
  if (limit < floor) throw new UsageError(`${method}: budget ${mb(limit)} is below the smallest this model can be with these formats (${mb(floor)}: every table at ${t4(tables[0]?.candidates[0])}, plus ${mb(fixed)} kept in float)`);

  // Output error of each candidate, as the pass's algorithm rounds it, relative to RTN at the
  // cheapest format (what the KLD below is measured with), from the Gram matrix.
  const relErr: number[][] = [];
  const errBar = new Progress('format errors', tables.length);
  for (const t of tables) {
    const gram = grams(t);
    if (!gram) {
      const errs = t.candidates.map((f) => elementError(t, f));
      relErr.push(errs.map((e) => e / Math.max(errs[0], 1e-30)));
    } else {
      const base = await sampledOutputError(t, t.candidates[0], gram, rtn);
      const errs: number[] = [];
      for (const f of t.candidates) errs.push(await sampledOutputError(t, f, gram, quantize));
      relErr.push(errs.map((e) => e / Math.max(base, 1e-30)));
    }
    errBar.update(relErr.length, tables.length);
  }
  errBar.done();
  // Measured KLD of each table alone at its cheapest format.
  const ref = await referenceLogp(model, windows, ctx);
  const bar = new Progress('sensitivity', tables.length);
  const kld: number[] = [];
  for (const [i, t] of tables.entries()) {
    kld.push(await meanKld(withDequantized(model, t, t.candidates[0]), windows, ctx, ref));
    bar.update(i + 1, tables.length);
  }
  bar.done();

  const split = splittable(tables);
  const options = tables.map((t, i) => tableOptions(t, relErr[i].map((r) => kld[i] * r), t === split));
  const { pick, bytes: total } = chooseUnderBudget(options.map((o) => ({
    bytes: o.map((x) => x.bytes),
    kld: o.map((x) => x.kld),
  })), 0.995 * limit - fixed); // 0.5% left for the graph, packing constants and metadata
  const chosen = tables.map((_, i) => options[i][pick[i]]);
  const formats = new Map<string, TableFormat>(tables.map((t, i) => [t.key, chosen[i]]));
  const counts = new Map<string, number>();
  for (const [i, t] of tables.entries()) {
    const d = describe(chosen[i], t.n);
    ctx.explain(`budget: ${t.key} → ${d}, predicted KLD ${chosen[i].kld.toExponential(2)} (alone at ${t4(t.candidates[0])}: measured ${kld[i].toExponential(2)})`);
    counts.set(d, (counts.get(d) ?? 0) + 1);
  }
  const mix = [...counts].map(([f, n]) => `${n}× ${f}`).join(', ');
  const size = fixed + total;
  const note = `budget ${mb(limit)} (${((100 * limit) / fp32).toFixed(1)}% of FP32): ${mb(size)} of weights (${((100 * size) / limit).toFixed(1)}% of the budget, ${((8 * size) / params).toFixed(2)} bits per weight); ${mix}`;
  return { formats, bytes: size, budget: limit, note };
}

export interface BudgetOption { bytes: number[]; kld: number[] }

/**
 * One option per table (bytes and predicted KLD each, cheapest first) minimising the total
 * predicted KLD with total bytes ≤ `limit`: a knapsack solved exactly by dynamic programming over
 * the bytes above every table's cheapest option, counted in `units` steps (each option's extra
 * rounded up, so the choice never exceeds `limit`), then any single upgrade the rounding left room
 * for (`greedyUpgrade`). A greedy by KLD saved per byte alone stops short when the next step of a
 * large table no longer fits (18% of the second model: 93.5% of the budget used).
 */
export function chooseUnderBudget(tables: BudgetOption[], limit: number, units = 16384): { pick: number[]; bytes: number } {
  const floor = tables.reduce((s, t) => s + t.bytes[0], 0);
  const slack = limit - floor;
  if (!(slack > 0)) return greedyUpgrade(tables, limit);
  const unit = slack / units;
  // Each option's bytes above the table's cheapest, in units, rounded up.
  const costs = tables.map((t) => t.bytes.map((b, c) => (c === 0 ? 0 : Math.ceil((b - t.bytes[0]) / unit - 1e-9))));
  let best = new Float64Array(units + 1); // least KLD of the tables so far within u units
  const choice: Uint8Array[] = [];
  for (const [i, t] of tables.entries()) {
    const next = new Float64Array(units + 1).fill(Infinity);
    const pick = new Uint8Array(units + 1);
    for (const [c, cost] of costs[i].entries()) {
      for (let u = cost; u <= units; u++) {
        const v = best[u - cost] + t.kld[c];
        if (v < next[u]) { next[u] = v; pick[u] = c; }
      }
    }
    choice.push(pick);
    best = next;
  }
  const pick = new Array<number>(tables.length);
  for (let i = tables.length - 1, u = units; i >= 0; i--) {
    pick[i] = choice[i][u];
    u -= costs[i][pick[i]];
  }
  return greedyUpgrade(tables, limit, pick);
}

/**
 * Greedy knapsack over per-table options (bytes and predicted KLD each, cheapest first): from
 * `start` (default every table at its first option), repeatedly take the upgrade saving the most KLD
 * per extra byte that still fits `limit`. Never exceeds `limit` when the start fits.
 */
export function greedyUpgrade(tables: BudgetOption[], limit: number, start?: number[]): { pick: number[]; bytes: number } {
  const pick = start ? [...start] : tables.map(() => 0);
  let total = tables.reduce((s, t, i) => s + t.bytes[pick[i]], 0);
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
const describe = (f: TableFormat, n: number) => (f.split ? `${t4(f.split.format)} for its first ${f.split.rows} of ${n} rows, ${t4(f.format)} for the rest` : t4(f.format));

const tableRows = (t: BudgetTable): Float32Array => siteRows(t.sites[0]);

/** Block codes for `n` rows ([n, K]) of table `t` in format `f` (rows are rounded independently). */
export type SampleQuantizer = (t: BudgetTable, rows: Float32Array, n: number, f: BlockFormat) => Promise<BlockQuantized>;

const rtn: SampleQuantizer = async (t, rows, n, f) => rtnQuantize(rows, n, t.k, f);

/** Σ ΔHΔᵀ over up to 256 evenly spaced rows. */
async function sampledOutputError(t: BudgetTable, f: BlockFormat, gram: Gram, quantize: SampleQuantizer): Promise<number> {
  const { rows, n } = evenRows(tableRows(t), t.n, t.k, 256);
  return outputError(rows, dequantizeBlocks(await quantize(t, rows, n, f)), n, t.k, gram.sum);
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

/** Each position's logits of the model on the windows, passed to `onRow`. */
async function forEachRow(model: Model, windows: ArrayLike<number>[], ctx: TextPassContext, onRow: (logits: Float32Array) => void): Promise<void> {
  const name = model.graph.value('logits') ? 'logits' : model.graph.outputs[0].name;
  await runProbe(model, windows, [name], () => {}, (_n, tensor) => {
    const x = tensor.data, v = tensor.dims[tensor.dims.length - 1];
    for (let o = 0; o < x.length; o += v) onRow(x.subarray(o, o + v));
  }, { engine: engineOf(ctx, 'the size budget'), session: ctx.session });
}

/** The float model's log-probabilities at every position (float32, the reference the tables are measured against). */
async function referenceLogp(model: Model, windows: ArrayLike<number>[], ctx: TextPassContext): Promise<Float32Array[]> {
  const rows: Float32Array[] = [];
  await forEachRow(model, windows, ctx, (x) => rows.push(Float32Array.from(logSoftmax(x))));
  return rows;
}

/** Mean KL(reference ‖ model) over the positions. */
async function meanKld(model: Model, windows: ArrayLike<number>[], ctx: TextPassContext, ref: Float32Array[]): Promise<number> {
  let s = 0, i = 0;
  await forEachRow(model, windows, ctx, (x) => { s += klDivergence(ref[i++], logSoftmax(x)); });
  return s / i;
}

/**
 * MatMul(x, W [K, N]) → Concat(MatMul(x, W[:, :rows]), MatMul(x, W[:, rows:])) on the last axis:
 * the same function, as two sites that can take different formats.
 */
export function splitSite(g: Graph, site: WeightSite, rows: number): [WeightSite, WeightSite] {
  if (site.op !== 'MatMul' || site.inAxis !== 0) throw new Error(`splitSite: ${site.node.name} is not a MatMul with a [K, N] weight`);
  const { node, inDim: k, outDim: n } = site;
  const w = toFloat32(site.tensor).data as Float32Array;
  const out = node.outputs[0];
  const parts = [[0, rows], [rows, n]].map(([from, to], i) => {
    const data = new Float32Array(k * (to - from));
    for (let r = 0; r < k; r++) data.set(w.subarray(r * n + from, r * n + to), r * (to - from));
    const tensor = new Tensor('float32', [k, to - from], data);
    const weight = g.addInitializer(g.uniqueName(`${site.weight.name}.rows_${from}_${to}`), tensor);
    const mm = g.addNode('MatMul', [node.inputs[0], weight], [`${out.name}_part${i}`], { name: `${node.name}_rows_${from}_${to}` });
    return { ...site, node: mm, weight, tensor, cols: to - from, outDim: to - from };
  });
  const y = g.addNode('Concat', parts.map((p) => p.node.outputs[0]), [`${out.name}_rows`], { name: `${node.name}_concat_rows`, attrs: { axis: { t: 'int', v: -1 } } }).outputs[0];
  y.type = out.type;
  g.replaceAllUses(out, y);
  g.removeNode(node);
  return [parts[0], parts[1]];
}
