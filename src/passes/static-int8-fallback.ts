import { loadDataset } from '../data/index.js';
import type { Model } from '../ir/graph.js';
import { textWindows } from '../quant/calibration/collect.js';
import { assertNotEvaluationText } from '../quant/calibration/source.js';
import { Progress } from '../util/progress.js';
import { engineOf } from './engine.js';
import { modelCtx } from './pass.js';
import { siteMacs } from './select.js';
import type { Prepared, StaticInt8Config, TextPassContext } from './static-int8.js';

/** Builds the QDQ model from prepared calibration with the given sites quantized (static-int8.ts passes its builder: no import cycle). */
export type BuildStaticInt8 = (p: Prepared, quantize: Set<string>) => Promise<Model>;

export interface FallbackResult { quantize: Set<string>; kept: string[]; notes: string[] }

/** Concatenated windows scored without overlap (stride = ctx), so each costs one forward pass. */
function heldOutTokens(text: string, windows: number, ctx: number, encode: (s: string) => number[]): number[] {
  return textWindows(text, windows, ctx, encode).flatMap((w) => Array.from(w));
}

/**
 * Per-MatMul sensitivity (held-out ΔPPL with only that MatMul in int8), printed as a ranking, then the
 * smallest number of the most sensitive MatMuls kept in float such that the whole model's held-out
 * perplexity is within the budget. Binary search over that number (damage grows with fewer kept).
 */
export async function fallbackUnderBudget(p: Prepared, c: StaticInt8Config, ctx: TextPassContext, fp32: Model, build: BuildStaticInt8): Promise<FallbackResult> {
  const ds = loadDataset(c.calibration, c.fallbackSplit);
  assertNotEvaluationText(ds);
  const ctxLen = modelCtx(fp32) ?? 512;
  const encode = (t: string) => ctx.tokenizer!.encode(t);
  const sensTokens = heldOutTokens(ds.text, c.sensitivityWindows, ctxLen, encode);
  const budgetTokens = heldOutTokens(ds.text, c.fallbackWindows, ctxLen, encode);
  const engine = engineOf(ctx, 'static-int8 fallback');
  const ppl = (m: Model, tokens: number[]) => engine.perplexity(m, tokens, ctxLen, ctx.session);
  const notes: string[] = [];

  // The smoothed float model is the reference (it equals the source up to float rounding).
  const refSens = await ppl(p.base, sensTokens);
  const bar = new Progress('sensitivity', p.sites.length);
  const noDynamic: Prepared = { ...p, dynamicNodes: [] };
  const damage: { name: string; dppl: number }[] = [];
  for (let i = 0; i < p.sites.length; i++) {
    const name = p.sites[i].node.name;
    const m = await build(noDynamic, new Set([name]));
    damage.push({ name, dppl: (100 * (await ppl(m, sensTokens))) / refSens - 100 });
    bar.update(i + 1);
  }
  bar.done();
  damage.sort((a, b) => b.dppl - a.dppl);
  notes.push(`sensitivity (held-out ${ds.name}, ${c.sensitivityWindows} windows, ΔPPL% with only that MatMul in int8):`);
  for (const d of damage) notes.push(`  ${d.dppl >= 0 ? '+' : ''}${d.dppl.toFixed(3)}%  ${d.name}`);

  const refBudget = await ppl(p.base, budgetTokens);
  const cache = new Map<number, number>();
  const names = damage.map((d) => d.name);
  const trial = async (keep: number) => {
    let v = cache.get(keep);
    if (v === undefined) {
      const m = await build(p, new Set(names.slice(keep)));
      v = (100 * (await ppl(m, budgetTokens))) / refBudget - 100;
      cache.set(keep, v);
      ctx.explain(`fallback: ${keep} MatMul(s) in float → held-out ΔPPL ${v.toFixed(3)}%`);
    }
    return v;
  };
  let lo = 0, hi = names.length;
  if ((await trial(0)) > c.maxPplIncrease!) {
    // Invariant: trial(lo) over budget, trial(hi) within (all float is within any budget ≥ 0).
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if ((await trial(mid)) <= c.maxPplIncrease!) hi = mid; else lo = mid;
    }
  } else hi = 0;
  const kept = names.slice(0, hi);
  const macs = (n: string) => siteMacs(p.sites.find((s) => s.node.name === n)!);
  notes.push(`fallback: budget +${c.maxPplIncrease}% on held-out ${ds.name} (${c.fallbackWindows} windows, ref PPL ${refBudget.toFixed(3)}): ` +
    `all int8 ${cache.get(0)!.toFixed(3)}%, with ${kept.length} kept in float ${(cache.get(hi) ?? 0).toFixed(3)}%`);
  const where = (n: string) => (p.headNodes.includes(n) && p.dynamicNodes.length ? 'dynamic int8' : 'float');
  notes.push(`kept out of static int8: ${kept.length ? kept.map((n) => `${n} → ${where(n)} (${macs(n)} MACs/token)`).join(', ') : 'none'}`);
  return { quantize: new Set(names.slice(hi)), kept, notes };
}
