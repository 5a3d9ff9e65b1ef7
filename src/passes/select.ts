import type { Model, Node, Value } from '../ir/graph.js';
import type { Tensor } from '../ir/tensor.js';
import { toFloat32 } from '../hf/safetensors.js';
import { transpose } from '../quant/primitives.js';
import { UsageError } from '../util/errors.js';
import type { MethodConfig, PassContext } from './pass.js';

/** Per-tensor settings that win over the method's config (keys: weight name, node name, or a glob over either). */
export interface TensorOverride {
  skip?: boolean;
  bits?: 4 | 8;
  granularity?: 'tensor' | 'channel' | 'block';
  blockSize?: number;
  symmetric?: boolean;
}

/**
 * Which weights a pass may touch. Patterns are regular expressions searched in the node name and
 * in the weight's name; a pattern starting with `glob:` is a shell glob (`*`, `?`) over the whole name.
 */
export interface SelectionConfig {
  /** When given, only nodes matching one of these. */
  include?: string[];
  exclude?: string[];
  /** Op types left alone, e.g. ['Gather'] keeps embeddings in float. */
  excludeOps?: string[];
  overrides?: Record<string, TensorOverride>;
}

/** A method config that accepts the shared selection options. */
export interface SelectableConfig extends MethodConfig { select?: SelectionConfig }

export type WeightOp = 'MatMul' | 'Gemm' | 'Gather';

/** One (node, constant weight) pair a method may rewrite. A tied weight read by two nodes gives two sites. */
export interface WeightSite {
  node: Node;
  op: WeightOp;
  weight: Value;
  tensor: Tensor;
  /** Which node input holds the weight (1 for MatMul/Gemm, 0 for Gather). */
  inputIndex: number;
  /** Stored shape. */
  rows: number;
  cols: number;
  /**
   * Stored axis that is the input (reduction) dimension: 0 for MatMul B [K, N]; 1 for Gemm with
   * transB (B stored [N, K]) and for a Gather table [V, H] (one group per row).
   */
  inAxis: 0 | 1;
  /** Length of the input dimension (K) and of the output dimension (N, or V for a table). */
  inDim: number;
  outDim: number;
  override: TensorOverride;
  /** The override key that matched, if any. */
  overrideKey?: string;
}

/** The site's weight as [N, K] rows (output channels × inputs), float32: what the quantizers read. */
export function siteRows(site: WeightSite): Float32Array {
  const w = toFloat32(site.tensor).data as Float32Array;
  return site.inAxis === 1 ? w : transpose(w, site.rows, site.cols);
}

export interface SelectOptions {
  /** Op types the method rewrites. */
  ops: WeightOp[];
  /** Method-specific test run after the generic ones: a reason to skip, or null to keep. */
  check?: (site: WeightSite) => string | null;
}

export interface Skip { node: string; reason: string }
export interface Selection { sites: WeightSite[]; skipped: Skip[] }

interface Pattern { source: string; test(name: string): boolean }

export function compilePattern(p: string): Pattern {
  if (p.startsWith('glob:')) {
    const re = globToRegExp(p.slice(5));
    return { source: p, test: (s) => re.test(s) };
  }
  let re: RegExp;
  try { re = new RegExp(p); } catch (e) { throw new UsageError(`invalid pattern '${p}': ${(e as Error).message}`); }
  return { source: p, test: (s) => re.test(s) };
}

function globToRegExp(g: string): RegExp {
  const body = g.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** Find the override for a weight / node: exact key first, then glob keys (containing * or ?) in insertion order. */
function findOverride(overrides: Record<string, TensorOverride>, names: string[]): [string, TensorOverride] | undefined {
  for (const n of names) if (Object.hasOwn(overrides, n)) return [n, overrides[n]];
  for (const [k, o] of Object.entries(overrides)) {
    if (!/[*?]/.test(k)) continue;
    const re = globToRegExp(k);
    if (names.some((n) => re.test(n))) return [k, o];
  }
  return undefined;
}

const FLOAT_TABLE = new Set(['float32', 'float16', 'bfloat16']);

/**
 * The weights a pass may rewrite, in graph order, and a reason for every candidate it may not.
 * Every skip is also sent to `ctx.explain`. Gather nodes whose data is not a float initializer
 * (shape arithmetic) are not candidates and are not reported.
 */
export function selectWeights(model: Model, cfg: SelectionConfig | undefined, ctx: PassContext, opts: SelectOptions): Selection {
  const include = (cfg?.include ?? []).map(compilePattern);
  const exclude = (cfg?.exclude ?? []).map(compilePattern);
  const excludeOps = new Set(cfg?.excludeOps ?? []);
  const overrides = cfg?.overrides ?? {};
  const sites: WeightSite[] = [];
  const skipped: Skip[] = [];
  const skip = (node: Node, reason: string) => {
    skipped.push({ node: node.name, reason });
    ctx.explain(`${node.opType} ${node.name}: skipped, ${reason}`);
  };

  for (const node of model.graph.nodes) {
    if (node.domain !== '' || !(opts.ops as string[]).includes(node.opType)) continue;
    const op = node.opType as WeightOp;
    const inputIndex = op === 'Gather' ? 0 : 1;
    const w = node.inputs[inputIndex];
    if (op === 'Gather' && !(w?.constant && FLOAT_TABLE.has(w.constant.dtype))) continue;
    const names = [node.name, ...(w ? [w.name] : [])];
    if (excludeOps.has(op)) { skip(node, `op type ${op} excluded`); continue; }
    if (include.length && !include.some((p) => names.some((n) => p.test(n)))) {
      skip(node, `not matched by include pattern ${include.map((p) => `'${p.source}'`).join(', ')}`);
      continue;
    }
    const ex = exclude.find((p) => names.some((n) => p.test(n)));
    if (ex) { skip(node, `excluded by pattern '${ex.source}'`); continue; }
    if (!w || !w.constant) { skip(node, 'weight is not a constant'); continue; }
    const t = w.constant;
    if (!FLOAT_TABLE.has(t.dtype)) { skip(node, `weight is ${t.dtype}, not a float type`); continue; }
    if (t.dims.length !== 2) { skip(node, `weight is not 2-D (shape [${t.dims}])`); continue; }
    const shapeProblem = opProblem(node, op);
    if (shapeProblem) { skip(node, shapeProblem); continue; }
    const [rows, cols] = t.dims;
    const inAxis: 0 | 1 = op === 'MatMul' ? 0 : op === 'Gemm' ? ((node.attr('transB', 'int') ?? 0) ? 1 : 0) : 1;
    const found = findOverride(overrides, [w.name, node.name]);
    const site: WeightSite = {
      node, op, weight: w, tensor: t, inputIndex, rows, cols, inAxis,
      inDim: inAxis === 0 ? rows : cols, outDim: inAxis === 0 ? cols : rows,
      override: found?.[1] ?? {}, overrideKey: found?.[0],
    };
    if (site.override.skip) { skip(node, `skipped by override '${found![0]}'`); continue; }
    const reason = opts.check?.(site);
    if (reason) { skip(node, reason); continue; }
    sites.push(site);
  }
  return { sites, skipped };
}

function opProblem(node: Node, op: WeightOp): string | null {
  if (op === 'Gemm') {
    if (node.attr('transA', 'int')) return 'Gemm with transA=1 is not supported';
    const alpha = node.attr('alpha', 'float') ?? 1;
    if (alpha !== 1) return `Gemm with alpha=${alpha} is not supported`;
  }
  if (op === 'Gather' && (node.attr('axis', 'int') ?? 0) !== 0) return 'Gather along an axis other than 0';
  return null;
}

/** Reason to skip when `block` does not divide the input dimension, else null (for block-wise methods' `check`). */
export function blockProblem(site: WeightSite, block: number): string | null {
  return site.inDim % block === 0 ? null : `dimension ${site.inDim} not divisible by block ${block}`;
}

/**
 * Throw a one-line UsageError when the selection left nothing to rewrite, naming the most common reasons
 * (e.g. an exclude list that matches everything, or a block size that divides no weight).
 */
export function requireSome(sel: Selection, method: string): void {
  if (sel.sites.length > 0) return;
  if (sel.skipped.length === 0) throw new UsageError(`${method}: the model has no weights this method can quantize`);
  const counts = new Map<string, number>();
  // Activation×activation MatMuls (attention) are never candidates; name the reasons the user can change.
  const relevant = sel.skipped.filter((s) => s.reason !== 'weight is not a constant');
  for (const s of relevant.length ? relevant : sel.skipped) counts.set(s.reason, (counts.get(s.reason) ?? 0) + 1);
  const top = [...counts].sort((a, b) => b[1] - a[1]).slice(0, 2).map(([r, n]) => `${r} (${n})`).join('; ');
  throw new UsageError(`${method}: nothing left to quantize: every candidate was skipped: ${top}`);
}

/** Multiply-accumulates per row of a linear site: its share of the model's compute. */
export const siteMacs = (s: WeightSite): number => s.inDim * s.outDim;
