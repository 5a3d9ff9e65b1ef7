import { cloneModel, type Graph, type Model, type Node, type Value } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { toFloat32 } from '../hf/safetensors.js';
import { packNBits } from '../quant/nbits-pack.js';
import { quantizeMatrix } from '../quant/primitives.js';
import { rtnImportance, rtnQuantize, type BlockFormat, type BlockQuantized } from '../quant/rtn.js';
import type { Gram } from '../quant/calibration/gram.js';
import { CALIBRATION_METADATA } from '../quant/calibration/source.js';
import { UsageError } from '../util/errors.js';
import { Progress } from '../util/progress.js';
import { engineOf } from './engine.js';
import { emptyReport, journaledAsync, type PassResult, type QuantMethod, type TextPassContext } from './pass.js';
import { requireSome, selectWeights, siteRows, type SelectableConfig, type WeightSite } from './select.js';
import { applyAwq, calibrationGrams, GptqSession, type WeightCalibration } from './weight-only-calibrate.js';
import { budgetCandidates, chooseFormats, splitSite, type BudgetChoice, type BudgetTable, type SampleQuantizer, type SizeBudget } from './weight-budget.js';

/** How the block codes are chosen (the format is the same for all). */
export const WEIGHT_ALGORITHMS = ['rtn', 'gptq', 'awq'] as const;
export type WeightAlgorithm = (typeof WEIGHT_ALGORITHMS)[number];

/**
 * Weight-only block quantization (format) with a choice of algorithm: RTN (optionally with
 * importance-weighted scales, llama.cpp's imatrix), GPTQ, or AWQ (scales folded into the norms,
 * then RTN). Linear layers become com.microsoft.MatMulNBits (bias stays an Add); the token
 * embedding reads the same packed table as a tied LM head.
 */
export interface WeightOnlyConfig extends SelectableConfig, WeightCalibration {
  kind: 'int4-weight' | 'int8-weight';
  /** Inputs per block along K: a power of two ≥ 16 (MatMulNBits) that divides K. */
  blockSize: number;
  symmetric: boolean;
  algorithm: WeightAlgorithm;
  /** Block scales searched to minimise the error weighted by the calibration's Σx² per input (rtn, awq; gptq always does). */
  importance: boolean;
  /** GPTQ: quantize inputs in order of decreasing activation energy (static block scales). */
  actOrder: boolean;
  /** GPTQ: damping added to the Hessian diagonal, as a fraction of its mean. */
  damp: number;
  /**
   * GPTQ on a table that is both LM head and embedding: the lookups read the same codes and weigh
   * every input alike, so the head's Hessian gets this much more identity (fraction of its mean
   * diagonal). On the shared 12M model (head + embedding only, KLD): 0.01 → 7.5e-3, 0.1 → 6.3e-3,
   * 0.3 → 6.1e-3, 0.99 → 6.2e-3; RTN 9.1e-3.
   */
  tiedDamp: number;
  /**
   * MatMulNBits accuracy_level: 4 = int8 activations with VNNI (fast on this CPU); 0 computes in
   * fp32 and is 10-140x slower for 8-bit (see shared/research/ort-kernels.md).
   */
  accuracyLevel: 0 | 1 | 2 | 3 | 4;
  /**
   * Token embedding: 'shared' = same block format as the head, gathered and unpacked with standard
   * ops (one stored table when the head is tied); 'int8-row' = int8 table with one scale per row
   * (stored in addition to a quantized tied head); 'float' = left as is.
   */
  embedding: 'shared' | 'int8-row' | 'float';
  /** When the block does not divide a layer's K: false = one-line error; true = largest power of two ≤ blockSize that does (explained per layer). */
  blockFallback: boolean;
  /**
   * Mixed precision: choose each table's bits (4/8) and block (32/128) from measured sensitivity so
   * the model fits this size (weight-budget.ts); bits and blockSize above are then ignored.
   */
  budget: SizeBudget | null;
}

const bitsOf = (kind: WeightOnlyConfig['kind']): 4 | 8 => (kind === 'int4-weight' ? 4 : 8);

function defaults(kind: WeightOnlyConfig['kind']): WeightOnlyConfig {
  return {
    kind, blockSize: 32, symmetric: true, algorithm: 'rtn', importance: false, actOrder: false, damp: 0.01, tiedDamp: 0.3, accuracyLevel: 4, embedding: 'shared', blockFallback: false,
    calibration: 'brown', calibSplit: 'train', calibWindows: 64, calibCtx: null, budget: null,
  };
}

export function validateWeightOnly(c: WeightOnlyConfig): void {
  const bs = c.blockSize;
  if (!Number.isInteger(bs) || bs < 16 || (bs & (bs - 1)) !== 0) throw new UsageError(`${c.kind}: block size must be a power of two ≥ 16 (MatMulNBits), got ${bs}`);
  if (!WEIGHT_ALGORITHMS.includes(c.algorithm)) throw new UsageError(`${c.kind}: unknown algorithm '${c.algorithm}' (known: ${WEIGHT_ALGORITHMS.join(', ')})`);
  if (c.importance && !c.symmetric) throw new UsageError(`${c.kind}: --importance searches symmetric scales; drop --asymmetric`);
  if (!(c.damp > 0 && c.damp < 1)) throw new UsageError(`${c.kind}: damp must be in (0, 1), got ${c.damp}`);
  const b = c.budget as Record<string, unknown> | null;
  if (b !== null && !(typeof b === 'object' && Object.keys(b).length === 1 && ['bytes', 'percent', 'bitsPerWeight'].includes(Object.keys(b)[0]) && (Object.values(b)[0] as number) > 0)) {
    throw new UsageError(`${c.kind}: budget must be { bytes | percent | bitsPerWeight: a positive number }, got ${JSON.stringify(b)}`);
  }
  if (!(c.tiedDamp > 0 && c.tiedDamp <= 10)) throw new UsageError(`${c.kind}: tiedDamp must be in (0, 10], got ${c.tiedDamp}`);
  if (!Number.isInteger(c.calibWindows) || c.calibWindows < 1) throw new UsageError(`${c.kind}: --calib-windows must be a positive integer, got ${c.calibWindows}`);
  if (![0, 1, 2, 3, 4].includes(c.accuracyLevel)) throw new UsageError(`${c.kind}: accuracy level must be 0-4, got ${c.accuracyLevel}`);
  if (!['shared', 'int8-row', 'float'].includes(c.embedding)) throw new UsageError(`${c.kind}: embedding must be shared, int8-row or float, got '${c.embedding}'`);
}

/** Largest power of two in [16, want] dividing k, or null. */
function fallbackBlock(k: number, want: number): number | null {
  for (let b = want; b >= 16; b /= 2) if (k % b === 0) return b;
  return null;
}

/** Whether the config reads calibration text. */
export const needsCalibration = (c: Pick<WeightOnlyConfig, 'algorithm' | 'importance' | 'budget'>): boolean => c.algorithm !== 'rtn' || c.importance || c.budget !== null;

/** Name of the algorithm as rows and reports show it: rtn, rtn+imatrix, gptq, gptq act-order, awq. */
export function algorithmLabel(c: Pick<WeightOnlyConfig, 'algorithm' | 'importance' | 'actOrder'>): string {
  if (c.algorithm === 'gptq') return c.actOrder ? 'gptq act-order' : 'gptq';
  return c.importance ? `${c.algorithm}+imatrix` : c.algorithm;
}

export async function runWeightOnly(model: Model, config: WeightOnlyConfig, ctx: TextPassContext): Promise<PassResult> {
  const c = { ...defaults(config.kind), ...config };
  validateWeightOnly(c);
  const bits = bitsOf(c.kind);
  const m = cloneModel(model);
  const g = m.graph;
  const report = emptyReport();

  const formats = new Map<WeightSite, BlockFormat>();
  const indivisible: string[] = [];
  const sel = selectWeights(m, c.select, ctx, {
    ops: ['MatMul', 'Gemm', 'Gather'],
    check: (site) => {
      if (site.op === 'Gather') {
        if (c.embedding === 'float') return 'embedding mode is float';
        if (site.node.inputs[1]?.name !== 'input_ids') return 'not the token embedding (indices are not input_ids); kept float';
      }
      const o = site.override;
      if (o.granularity && o.granularity !== 'block') throw new UsageError(`${c.kind}: override '${site.overrideKey}' asks for ${o.granularity} granularity; weight-only methods are block-wise`);
      const fmt: BlockFormat = { bits: o.bits ?? bits, blockSize: o.blockSize ?? c.blockSize, symmetric: o.symmetric ?? c.symmetric };
      if (site.inDim % fmt.blockSize !== 0) {
        const fb = c.blockFallback ? fallbackBlock(site.inDim, fmt.blockSize) : null;
        if (fb === null) {
          if (!c.blockFallback) { indivisible.push(`${site.node.name} (K=${site.inDim})`); return `block ${fmt.blockSize} does not divide K=${site.inDim}`; }
          return `no power-of-two block ≥ 16 divides K=${site.inDim}`;
        }
        ctx.explain(`${site.op} ${site.node.name}: block ${fmt.blockSize} does not divide K=${site.inDim}, using block ${fb}`);
        fmt.blockSize = fb;
      }
      formats.set(site, fmt);
      return null;
    },
  });
  if (indivisible.length) {
    throw new UsageError(`${c.kind}: block size ${c.blockSize} does not divide the input dimension of ${indivisible[0]}${indivisible.length > 1 ? ` and ${indivisible.length - 1} more` : ''}; choose a block that divides it or allow --block-fallback`);
  }
  report.skipped.push(...sel.skipped);
  requireSome(sel, c.kind);

  // Calibrated algorithms: Σxxᵀ of each linear input; AWQ then folds its scales into the norms.
  // Plain GPTQ quantizes each layer as soon as the layer-by-layer calibration has its inputs' sums,
  // then drops them: one layer's Gram matrices in memory at a time. The budget search and AWQ read
  // every table's statistics first.
  let grams = new Map<string, Gram>();
  let sites = sel.sites;
  // A tied table's Gather site quantizes with its head's statistics: both read one packed table.
  // (Taken before the loop: replacing a node detaches its inputs.)
  const inputOf = (site: WeightSite): string | undefined => {
    const linear = site.op === 'Gather' ? sites.find((s) => s.op !== 'Gather' && s.weight === site.weight && s.inAxis === site.inAxis) : site;
    return linear?.node.inputs[0]?.name;
  };
  let inputs = new Map<WeightSite, string | undefined>();
  const gramOf = (site: WeightSite): Gram | undefined => grams.get(inputs.get(site) ?? '');
  const gptq = c.algorithm === 'gptq' ? await GptqSession.open(c, engineOf(ctx, 'gptq'), ctx.session) : null;
  /** `rows` ([n, K]: the site's weight, or a sample of its rows) rounded by the configured algorithm. */
  const quantizeRows = async (site: WeightSite, rows: Float32Array, n: number, fmt: BlockFormat): Promise<BlockQuantized> => {
    const gram = gramOf(site);
    if (!gram || !needsCalibration(c)) return rtnQuantize(rows, n, site.inDim, fmt);
    if (gptq) {
      const tied = c.embedding === 'shared' && sites.some((s) => s.op === 'Gather' && s.weight === site.weight);
      return gptq.quantize(inputs.get(site)!, gram, rows, n, fmt, tied);
    }
    if (!c.importance) return rtnQuantize(rows, n, site.inDim, fmt);
    const imp = new Float32Array(site.inDim);
    for (let i = 0; i < site.inDim; i++) imp[i] = gram.sum[i * site.inDim + i];
    return rtnImportance(rows, n, site.inDim, fmt, imp);
  };
  const algoKey = needsCalibration(c) ? `${algorithmLabel(c)}|${c.damp}|${c.tiedDamp}|${c.calibration}|${c.calibSplit}|${c.calibWindows}|${c.calibCtx}` : c.algorithm;

  // One packed table per (weight, orientation, format): a tied head and its embedding share it.
  // Only the graph values are kept: the packed arrays are then free once written (or spilled to disk).
  const packed = new Map<string, { values: { b: Value; scales: Value; zp: Value | null } }>();
  const packedFor = async (site: WeightSite, fmt: BlockFormat) => {
    const key = `${site.weight.name}|${site.inAxis}|${fmt.bits}|${fmt.blockSize}|${fmt.symmetric}`;
    let p = packed.get(key);
    if (!p) {
      const [b, scales, zp] = await journaledAsync(ctx, `${c.kind}|${algoKey}|${key}`, async () => {
        const t = packNBits(await quantizeRows(site, siteRows(site), site.outDim, fmt));
        return t.zeroPoints ? [t.b, t.scales, t.zeroPoints] : [t.b, t.scales];
      });
      const base = `${site.weight.name}_Q${fmt.bits}`;
      let sv = g.addInitializer(g.uniqueName(`${base}_scales`), scales);
      // float16 storage read as float32 (MatMulNBits wants the activations' type): onnxruntime folds the Cast at load.
      if (scales.dtype === 'float16') sv = g.addNode('Cast', [sv], [`${sv.name}_fp32`], { name: `${sv.name}_Cast`, attrs: { to: { t: 'int', v: 1 } } }).outputs[0];
      p = {
        values: {
          b: g.addInitializer(g.uniqueName(base), b),
          scales: sv,
          zp: zp ? g.addInitializer(g.uniqueName(`${base}_zp`), zp) : null,
        },
      };
      packed.set(key, p);
      report.converted.push(site.weight.name);
    }
    return p;
  };

  if (needsCalibration(c)) {
    inputs = new Map(sites.map((site) => [site, inputOf(site)]));
    const streaming = !!gptq && !c.budget;
    const cal = await calibrationGrams(m, sites, c, ctx, `${c.kind} ${algorithmLabel(c)}`, streaming ? async (done) => {
      grams = done;
      for (const site of sites) if (site.op !== 'Gather' && done.has(inputs.get(site)!)) await packedFor(site, formats.get(site)!);
      for (const k of done.keys()) gptq!.drop(k);
      grams = new Map();
    } : undefined);
    grams = cal.grams;
    report.notes.push(cal.note);
    m.metadata[CALIBRATION_METADATA] = cal.record;
    if (c.budget) {
      // The sensitivity estimate rounds sampled rows as the pass will (a table's linear site: its statistics).
      const sample = (t: BudgetTable, rows: Float32Array, n: number, f: BlockFormat) => quantizeRows(t.sites.find((s) => s.op !== 'Gather') ?? t.sites[0], rows, n, f);
      const choice = await chooseBudget(m, sites, formats, grams, c.budget, cal.windows, c, ctx, sample);
      for (const k of grams.keys()) gptq?.drop(k); // prepared again per layer below: keeps one layer's in memory
      report.notes.push(choice.note);
      sites = choice.sites;
      inputs = new Map(sites.map((site) => [site, inputOf(site)]));
    }
    if (c.algorithm === 'awq') {
      report.notes.push(applyAwq(m, sites, grams, (s) => formats.get(s)!, (x) => ctx.explain(x)));
      sites = sites.map((s) => { const t = { ...s, tensor: s.weight.constant! }; formats.set(t, formats.get(s)!); return t; });
      inputs = new Map(sites.map((site) => [site, inputOf(site)]));
    }
  }
  // Each Gram matrix (and its GPTQ preparation) is dropped after the last site that reads it.
  const lastUse = new Map<string, number>();
  sites.forEach((s, i) => { const k = inputs.get(s); if (k) lastUse.set(k, i); });
  const bar = needsCalibration(c) ? new Progress(algorithmLabel(c), sites.length) : null;

  for (const [i, site] of sites.entries()) {
    bar?.update(i, sites.length);
    const fmt = formats.get(site)!;
    if (int8RowEmbedding(site, c)) {
      replaceGatherInt8Row(g, site);
      if (!report.converted.includes(site.weight.name)) report.converted.push(site.weight.name);
      continue;
    }
    const p = await packedFor(site, fmt);
    if (site.op === 'Gather') replaceGatherNBits(g, site.node, p.values, fmt, site.inDim);
    else replaceLinear(g, site, p.values, fmt, c.accuracyLevel);
    ctx.explain(`${site.op} ${site.node.name}: ${site.weight.name} → ${fmt.bits}-bit block ${fmt.blockSize} ${fmt.symmetric ? 'symmetric' : 'asymmetric'}${site.op === 'Gather' ? ' (gather + unpack)' : ' (MatMulNBits)'}`);
    const input = inputs.get(site);
    if (input && lastUse.get(input) === i) {
      grams.delete(input);
      gptq?.drop(input);
    }
  }
  bar?.done();
  await gptq?.release();
  g.removeDeadNodes();
  g.removeUnusedInitializers();
  g.sortTopologically();
  m.requireOpset('com.microsoft', 1);
  const tied = [...packed.values()].filter((p) => [...p.values.b.uses].some((u) => u.node.opType === 'Gather') && [...p.values.b.uses].some((u) => u.node.opType === 'MatMulNBits'));
  if (tied.length) report.notes.push(`tied embedding/LM head stored once: ${tied.map((p) => p.values.b.name).join(', ')}`);
  m.metadata['quantlab.method'] = JSON.stringify(c);
  return { model: m, report };
}

/**
 * Group the sites into tables (a tied head and its embedding share one), choose their formats under
 * the budget, and set them; a table split between two formats becomes two sites (returned in `sites`).
 */
async function chooseBudget(
  m: Model, sites: WeightSite[], formats: Map<WeightSite, BlockFormat>, grams: Map<string, Gram>, budget: SizeBudget,
  windows: ArrayLike<number>[], c: WeightOnlyConfig, ctx: TextPassContext, sample: SampleQuantizer,
): Promise<BudgetChoice & { sites: WeightSite[] }> {
  const tables = new Map<string, BudgetTable>();
  for (const s of sites) {
    if (int8RowEmbedding(s, c)) continue;
    const key = `${s.weight.name}|${s.inAxis}`;
    const t = tables.get(key) ?? { key, sites: [], n: s.outDim, k: s.inDim, candidates: budgetCandidates(s.inDim, c.symmetric) };
    t.sites.push(s);
    tables.set(key, t);
  }
  const gramFor = (t: BudgetTable) => {
    const linear = t.sites.find((s) => s.op !== 'Gather');
    return linear && grams.get(linear.node.inputs[0]!.name);
  };
  // Two windows of up to 256 tokens: enough to rank the tables (one float model run per table).
  const few = windows.slice(0, 2).map((w) => Array.prototype.slice.call(w, 0, 256) as number[]);
  // An int8-row embedding: one byte per weight and a float scale per row.
  const storedAs = new Map(sites.filter((s) => int8RowEmbedding(s, c)).map((s) => [s.weight.name, s.rows * s.cols + 4 * s.rows]));
  const choice = await chooseFormats(m, [...tables.values()], gramFor, budget, few, ctx, c.kind, sample, storedAs);
  const out: WeightSite[] = [];
  const byKey = new Map([...tables.values()].flatMap((t) => t.sites.map((s) => [s, t.key] as const)));
  for (const s of sites) {
    const f = choice.formats.get(byKey.get(s) ?? '');
    if (!f) { out.push(s); continue; } // an int8-row embedding: not in the budget's tables
    if (!f.split) { formats.set(s, f.format); out.push(s); continue; }
    const [first, rest] = splitSite(m.graph, s, f.split.rows);
    formats.set(first, f.split.format);
    formats.set(rest, f.format);
    out.push(first, rest);
  }
  return { ...choice, sites: out };
}

function replaceLinear(g: Graph, site: WeightSite, p: { b: Value; scales: Value; zp: Value | null }, fmt: BlockFormat, accuracyLevel: number): void {
  const node = site.node;
  const out = node.outputs[0];
  const q = g.addNode('MatMulNBits', [node.inputs[0], p.b, p.scales, ...(p.zp ? [p.zp] : [])], [`${out.name}_nbits`], {
    name: `${node.name}_Q${fmt.bits}`, domain: 'com.microsoft',
    attrs: {
      K: { t: 'int', v: site.inDim }, N: { t: 'int', v: site.outDim }, bits: { t: 'int', v: fmt.bits },
      block_size: { t: 'int', v: fmt.blockSize }, accuracy_level: { t: 'int', v: accuracyLevel },
    },
  });
  let y = q.outputs[0];
  const bias = site.op === 'Gemm' ? node.inputs[2] : null;
  if (bias) {
    const beta = node.attr('beta', 'float') ?? 1;
    if (beta !== 1) throw new UsageError(`Gemm ${node.name}: beta=${beta} is not supported`);
    y = g.addNode('Add', [y, bias], [`${out.name}_bias`], { name: `${node.name}_bias` }).outputs[0];
  }
  y.type = out.type;
  g.replaceAllUses(out, y);
  g.removeNode(node);
}

/**
 * Gather rows of the packed [V, K/bs, blob] table and dequantize with plain ops:
 * (code - zp) · scale, then reshape to [.., K]. 4-bit codes are split into low/high nibbles and
 * interleaved on a new last axis ([.., nb, bs/2, 2] is code order). Measured far faster than
 * GatherBlockQuantized at M ≥ 128 (shared/research/ort-kernels.md §4d).
 */
function replaceGatherNBits(g: Graph, node: Node, p: { b: Value; scales: Value; zp: Value | null }, fmt: BlockFormat, k: number): void {
  const ids = node.inputs[1]!;
  const out = node.outputs[0];
  const nb = k / fmt.blockSize;
  const name = node.name;
  const op = (type: string, inputs: (Value | null)[], suffix: string, attrs: Node['attrs'] = {}) =>
    g.addNode(type, inputs, [`${name}/${suffix}_out`], { name: `${name}/${suffix}`, attrs }).outputs[0];
  const cst = (suffix: string, t: Tensor) => g.addInitializer(g.uniqueName(`${name}/${suffix}`), t);
  const i64 = (suffix: string, v: number[]) => cst(suffix, Tensor.i64([v.length], v));
  const axis0 = { axis: { t: 'int', v: 0 } } as Node['attrs'];
  // 4-bit: [.., n, 2] with the low nibble first, i.e. packed order.
  const nibbles = (x: Value, tag: string) => {
    const lo = op('BitwiseAnd', [x, cst(`${tag}_mask`, new Tensor('uint8', [], Uint8Array.of(15)))], `${tag}_low`);
    const hi = op('BitShift', [x, cst(`${tag}_four`, new Tensor('uint8', [], Uint8Array.of(4)))], `${tag}_high`, { direction: { t: 'string', v: 'RIGHT' } });
    const last = i64(`${tag}_axis`, [-1]);
    return op('Concat', [op('Unsqueeze', [lo, last], `${tag}_low_u`), op('Unsqueeze', [hi, last], `${tag}_high_u`)], `${tag}_interleave`, { axis: { t: 'int', v: -1 } });
  };
  // Codes: [.., nb, bs/2, 2] (4-bit) or [.., nb, bs] (8-bit); per-block values need rank + 1 or + 2.
  const rows = op('Gather', [p.b, ids], 'gather_codes', axis0);
  const codes = fmt.bits === 4 ? nibbles(rows, 'codes') : rows;
  const blockAxes = i64('block_axes', fmt.bits === 4 ? [-2, -1] : [-1]);
  let x = op('Cast', [codes], 'to_float', { to: { t: 'int', v: 1 } });
  if (p.zp) {
    let zp = op('Gather', [p.zp, ids], 'gather_zp', axis0); // [.., zpCols] uint8
    if (fmt.bits === 4) {
      const flat = op('Concat', [op('Shape', [ids], 'zp_ids_shape'), i64('zp_tail', [-1])], 'zp_shape', axis0);
      zp = op('Reshape', [nibbles(zp, 'zp'), flat], 'zp_unpacked'); // [.., 2·zpCols]
      zp = op('Slice', [zp, i64('zp_start', [0]), i64('zp_end', [nb]), i64('zp_slice_axis', [-1])], 'zp_slice');
    }
    const zpf = op('Unsqueeze', [op('Cast', [zp], 'zp_float', { to: { t: 'int', v: 1 } }), blockAxes], 'zp_col');
    x = op('Sub', [x, zpf], 'sub_zp');
  } else {
    x = op('Sub', [x, cst('mid', Tensor.scalarF32(1 << (fmt.bits - 1)))], 'sub_mid');
  }
  const s = op('Unsqueeze', [op('Gather', [p.scales, ids], 'gather_scales', axis0), blockAxes], 'scale_col');
  x = op('Mul', [x, s], 'scale');
  const outShape = op('Concat', [op('Shape', [ids], 'ids_shape'), i64('k', [k])], 'out_shape', axis0);
  const y = op('Reshape', [x, outShape], 'dequant');
  y.type = out.type;
  g.replaceAllUses(out, y);
  g.removeNode(node);
}

/** An embedding lookup the pass stores as an int8 table with a scale per row (outside the size budget's tables). */
const int8RowEmbedding = (s: WeightSite, c: WeightOnlyConfig) => s.op === 'Gather' && c.embedding === 'int8-row';

/** Gather from an int8 table [V, K] and multiply by the row's scale: int8 per-row embedding. */
function replaceGatherInt8Row(g: Graph, site: WeightSite): void {
  const node = site.node;
  const ids = node.inputs[1]!;
  const out = node.outputs[0];
  const w = toFloat32(site.tensor).data as Float32Array;
  const { q, params } = quantizeMatrix(w, site.rows, site.cols, { type: 'int8', symmetric: true, granularity: 'channel', axis: 1 });
  const table = g.addInitializer(g.uniqueName(`${site.weight.name}_int8`), new Tensor('int8', [site.rows, site.cols], q as Int8Array));
  const scales = g.addInitializer(g.uniqueName(`${site.weight.name}_scales`), new Tensor('float32', [site.rows, 1], params.scale));
  const name = node.name;
  const rows = g.addNode('Gather', [table, ids], [`${name}/gather_int8_out`], { name: `${name}/gather_int8`, attrs: { axis: { t: 'int', v: 0 } } }).outputs[0];
  const f = g.addNode('Cast', [rows], [`${name}/to_float_out`], { name: `${name}/to_float`, attrs: { to: { t: 'int', v: 1 } } }).outputs[0];
  const s = g.addNode('Gather', [scales, ids], [`${name}/gather_scales_out`], { name: `${name}/gather_scales`, attrs: { axis: { t: 'int', v: 0 } } }).outputs[0];
  const y = g.addNode('Mul', [f, s], [`${name}/scale_out`], { name: `${name}/scale` }).outputs[0];
  y.type = out.type;
  g.replaceAllUses(out, y);
  g.removeNode(node);
}

function method(kind: WeightOnlyConfig['kind'], summary: string): QuantMethod<WeightOnlyConfig> {
  return { kind, summary, defaults: defaults(kind), run: (model, config, ctx) => runWeightOnly(model, config, ctx) };
}

export const int4Weight = method('int4-weight', 'weight-only INT4, block-wise (RTN, GPTQ, AWQ, importance RTN), MatMulNBits; embedding shares the tied head table');
export const int8Weight = method('int8-weight', 'weight-only INT8, block-wise (RTN, GPTQ, AWQ, importance RTN), MatMulNBits; embedding shares the tied head table');
