import type { Model } from '../ir/graph.js';
import { awqSearch } from '../quant/awq.js';
import { textWindows } from '../quant/calibration/collect.js';
import { collectGrams, type Gram } from '../quant/calibration/gram.js';
import { loadCalibrationText } from '../quant/calibration/source.js';
import type { BlockFormat, BlockQuantized } from '../quant/rtn.js';
import { gptqQuantize, prepareGptq, type GptqHessian } from '../quant/gptq.js';
import type { Gemm } from '../quant/linalg.js';
import type { SessionOptions } from '../runtime/session.js';
import { foldScales, smoothGroups } from '../quant/smoothquant.js';
import { UsageError } from '../util/errors.js';
import { Progress } from '../util/progress.js';
import { engineOf, type PassEngine } from './engine.js';
import { modelCtx, type TextPassContext } from './pass.js';
import { siteRows, type WeightSite } from './select.js';

/** Calibration settings shared by the weight-only algorithms that read activations. */
export interface WeightCalibration {
  calibration: string;
  calibSplit: string;
  calibWindows: number;
  /** Window length in tokens (default: the model's maximum positions, at most 512). */
  calibCtx: number | null;
}

/** GPTQ settings both int8/int4 passes share. */
export interface GptqSettings { damp: number; tiedDamp: number; actOrder?: boolean }

/**
 * GPTQ over one pass's layers: the onnxruntime GEMM session and each input's Hessian preparation
 * (Cholesky and inverse), shared by every layer reading that input. A table that is also the
 * embedding (tied) gets the larger damping (`tiedDamp`, see weight-only.ts).
 */
export class GptqSession {
  private readonly hessians = new Map<string, Promise<GptqHessian>>();
  private constructor(private readonly engine: { gemm: Gemm; release: () => Promise<void> }, private readonly c: GptqSettings) {}

  static async open(c: GptqSettings, engine: PassEngine, session?: SessionOptions): Promise<GptqSession> { return new GptqSession(await engine.gemm(session), c); }

  /** `rows` [N, K] of a layer reading `input` (whose Gram matrix is `gram`). */
  async quantize(input: string, gram: Gram, rows: Float32Array, n: number, fmt: BlockFormat, tied: boolean): Promise<BlockQuantized> {
    const damp = tied ? Math.max(this.c.damp, this.c.tiedDamp) : this.c.damp;
    const key = `${input}|${damp}`;
    if (!this.hessians.has(key)) this.hessians.set(key, prepareGptq(gram.sum, gram.k, { damp, actOrder: this.c.actOrder }, this.engine.gemm));
    return gptqQuantize(rows, n, gram.k, fmt, await this.hessians.get(key)!, { actOrder: this.c.actOrder }, this.engine.gemm);
  }

  /** Forget `input`'s preparations (no later layer reads it). */
  drop(input: string): void {
    for (const k of [...this.hessians.keys()]) if (k.startsWith(`${input}|`)) this.hessians.delete(k);
  }

  release(): Promise<void> { return this.engine.release(); }
}

/**
 * Σ x xᵀ of every selected linear layer's input over the calibration windows, keyed by the input
 * value's name (layers reading the same activation share one). Returns the note naming the text.
 */
export async function calibrationGrams(model: Model, sites: WeightSite[], c: WeightCalibration, ctx: TextPassContext, method: string, onLayer?: (grams: Map<string, Gram>) => Promise<void>): Promise<{ grams: Map<string, Gram>; note: string; record: string; windows: ArrayLike<number>[] }> {
  if (!ctx.tokenizer) throw new UsageError(`${method}: the algorithm reads calibration text and needs the model's tokenizer (tokenizer.json)`);
  const ds = loadCalibrationText(c.calibration, c.calibSplit);
  const len = c.calibCtx ?? Math.min(modelCtx(model) ?? 512, 512);
  const windows = textWindows(ds.text, c.calibWindows, len, (t) => ctx.tokenizer!.encode(t));
  const inputs = new Map<string, number>();
  for (const s of sites) if (s.op !== 'Gather') inputs.set(s.node.inputs[0]!.name, s.inDim);
  const bar = new Progress('calibration (XᵀX)', windows.length);
  const grams = await collectGrams(model, windows, [...inputs].map(([name, k]) => ({ name, k })), { engine: engineOf(ctx, method), session: ctx.session, onProgress: (d, t) => bar.update(d, t), onLayer });
  bar.done();
  const record = JSON.stringify({ dataset: ds.name, sha256: ds.sha256, windows: windows.length, ctx: len, method });
  return { grams, record, windows, note: `calibration: ${ds.name} (sha256 ${ds.sha256.slice(0, 12)}…), ${windows.length} windows of ${len} tokens` };
}

/**
 * AWQ on every norm → linears group whose linears are all selected: search the scales with the
 * group's Gram matrix, fold them into the norm and the weights (the float model is unchanged), and
 * rescale the Gram matrix to the new activations (H ← S⁻¹HS⁻¹). Layers without a norm before them
 * (attention output, MLP down projection) keep their weights; the notes say how many were scaled.
 */
export function applyAwq(model: Model, sites: WeightSite[], grams: Map<string, Gram>, fmtOf: (s: WeightSite) => BlockFormat, explain: (m: string) => void): string {
  const byNode = new Map(sites.map((s) => [s.node.name, s]));
  let scaled = 0, searched = 0, gain = 0;
  const groups = smoothGroups(model.graph).filter((g) => g.matmuls.every((m) => byNode.has(m.name)));
  for (const grp of groups) {
    const gram = grams.get(grp.activation.name);
    if (!gram) continue;
    const k = gram.k;
    const linears = grp.matmuls.map((m) => { const s = byNode.get(m.name)!; return { rows: siteRows(s), n: s.outDim }; });
    const r = awqSearch(linears, k, gram.sum, fmtOf(byNode.get(grp.matmuls[0].name)!));
    searched++;
    gain += r.error / r.rtnError;
    explain(`AWQ ${grp.norm.name} → ${grp.matmuls.map((m) => m.name).join(', ')}: α=${r.alpha.toFixed(2)}, output error ${(r.error / r.rtnError).toFixed(3)}× RTN's on sampled rows`);
    if (r.alpha === 0) continue;
    foldScales(grp, r.scales);
    const h = gram.sum, out = new Float32Array(h.length);
    for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) out[i * k + j] = h[i * k + j] / (r.scales[i] * r.scales[j]);
    grams.set(grp.activation.name, { ...gram, sum: out });
    scaled += grp.matmuls.length;
  }
  return `awq: scales folded into ${groups.length ? `the norms of ${scaled} linear layers (output error ${(gain / Math.max(1, searched)).toFixed(3)}× RTN's, mean over ${searched} groups)` : 'no norm (no layer follows a norm it can fold into)'}; other layers are rounded as RTN`;
}
