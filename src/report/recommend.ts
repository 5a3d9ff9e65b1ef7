import { fixed, isNum, mib, pct, sig, signedPct, times } from './format.js';
import type { MethodRow, Recommendation } from './schema.js';

export interface RecommendOptions {
  /** ΔPPL tolerance for "smallest within X%" (default 1). */
  sizeTolerancePct?: number;
  /** ΔPPL tolerance for "fastest within X%" (default 2). */
  speedTolerancePct?: number;
  /**
   * KLD to FP32 above which a method is not "within X% of FP32" whatever its perplexity (default
   * 0.01: on small models every perplexity sits inside its ±1.5% interval while KLD separates
   * int4 RTN (0.0125) from GPTQ (0.0067) and int8 (≤ 0.0006)).
   */
  maxKld?: number;
  /** Size budgets for "best quality under N" (default: ½ and ¼ of the FP32 file). */
  sizeBudgetsBytes?: number[];
  /** A method collapsed when ΔPPL exceeds this (default 50%) ... */
  collapsePplPct?: number;
  /** ... or its top-1 agreement with FP32 falls below this (default 50%). */
  collapseTopPct?: number;
}

export const BASELINE = 'fp32';
/** Speedups below this are treated as noise. */
export const MIN_SPEEDUP = 1.05;

/** Why a row's quality collapsed (empty when it did not). */
export function collapseFlags(row: MethodRow, opts: RecommendOptions = {}): string[] {
  const maxPpl = opts.collapsePplPct ?? 50, minTop = opts.collapseTopPct ?? 50;
  const out: string[] = [];
  if (isNum(row.delta_ppl_pct) && row.delta_ppl_pct > maxPpl) out.push(`collapsed: ΔPPL ${signedPct(row.delta_ppl_pct, 1)} > +${maxPpl}%`);
  if (row.quality && isNum(row.quality.same_top_pct) && row.quality.same_top_pct < minTop) out.push(`collapsed: top-1 agreement ${pct(row.quality.same_top_pct, 1)} < ${minTop}%`);
  if (row.perplexity !== null && !isNum(row.perplexity)) out.push('collapsed: perplexity is not finite');
  return out;
}

const quality = (r: MethodRow): string =>
  isNum(r.perplexity) ? `PPL ${fixed(r.perplexity)} (${signedPct(r.delta_ppl_pct)}${r.quality && r.method !== BASELINE ? `, KLD ${sig(r.quality.kld_mean)}, top-1 ${pct(r.quality.same_top_pct, 1)}` : ''})` : 'quality not measured';
const size = (r: MethodRow): string => `${mib(r.size.file_bytes)} (${times(r.size.compression)} smaller than FP32)`;
const code = (m: string) => `\`${m}\``;

/**
 * Recommendations computed from the table: each names a method and the numbers behind it.
 * Collapsed methods are flagged and never recommended.
 */
export function recommend(rows: MethodRow[], opts: RecommendOptions = {}): Recommendation[] {
  const out: Recommendation[] = [];
  const base = rows.find((r) => r.method === BASELINE);
  const collapsed = new Set<string>();
  for (const r of rows) {
    const f = collapseFlags(r, opts);
    if (!f.length) continue;
    collapsed.add(r.method);
    out.push({ id: `collapsed-${r.method}`, kind: 'warning', title: `${r.method} collapsed`, method: r.method, text: `${code(r.method)} lost the model's quality (${f.map((x) => x.replace('collapsed: ', '')).join('; ')}): do not use it as is.` });
  }
  const usable = rows.filter((r) => !collapsed.has(r.method));
  const measured = usable.some((r) => r.method !== BASELINE && isNum(r.delta_ppl_pct));
  const maxKld = opts.maxKld ?? 0.01;
  const closeInKld = (r: MethodRow) => r.method === BASELINE || !r.quality || r.quality.kld_mean <= maxKld;
  const within = (tol: number) => usable.filter((r) => isNum(r.delta_ppl_pct) && r.delta_ppl_pct <= tol && closeInKld(r));

  if (measured) {
    const tol = opts.sizeTolerancePct ?? 1;
    const small = pick(within(tol), (a, b) => a.size.file_bytes - b.size.file_bytes || (a.perplexity! - b.perplexity!));
    const id = `smallest-within-${tol}pct`, title = `Smallest model within ${tol}% of FP32 perplexity and KLD ≤ ${maxKld}`;
    if (small && small.method !== BASELINE) out.push({ id, kind: 'pick', title, method: small.method, text: `${code(small.method)}: ${size(small)}, ${quality(small)}.` });
    else out.push({ id, kind: 'none', title, method: null, text: `No quantized method stays within ${tol}% of FP32 perplexity with KLD ≤ ${maxKld}${closest(usable)}.` });
  } else {
    const small = pick(usable, (a, b) => a.size.file_bytes - b.size.file_bytes);
    if (small) out.push({ id: 'smallest', kind: 'pick', title: 'Smallest model (quality not measured)', method: small.method, text: `${code(small.method)}: ${size(small)}; quality was not measured, check it on trained weights before use.` });
  }

  const speedTol = opts.speedTolerancePct ?? 2;
  const fastPool = measured ? within(speedTol) : usable;
  const qual = measured ? ` within ${speedTol}% of FP32 perplexity and KLD ≤ ${maxKld}` : ' (quality not measured)';
  for (const phase of ['decode', 'prefill'] as const) {
    const tps = (r: MethodRow) => (phase === 'decode' ? r.latency?.decode_tokens_per_s : r.latency?.prefill_tokens_per_s) ?? NaN;
    const speedup = (r: MethodRow) => (phase === 'decode' ? r.speedup_decode : r.speedup_prefill);
    const fast = pick(fastPool.filter((r) => isNum(tps(r))), (a, b) => tps(b) - tps(a));
    const id = `fastest-${phase}${measured ? `-within-${speedTol}pct` : ''}`, title = `Fastest ${phase}${qual}`;
    if (!fast) continue;
    const ms = phase === 'decode' ? `${fixed(fast.latency!.decode_ms.p50, 2)} ms/token p50, ${fixed(tps(fast), 1)} tokens/s (mean)` : `${fixed(fast.latency!.prefill_ms.p50, 1)} ms p50, ${fixed(tps(fast), 0)} tokens/s (mean)`;
    if (fast.method === BASELINE && base) out.push({ id, kind: 'none', title, method: null, text: `No method${qual} ${phase}s faster than FP32 (${ms}).` });
    // Timing noise on a shared machine is a few percent: a smaller gain is not a recommendation.
    else if (base && isNum(speedup(fast)) && speedup(fast)! < MIN_SPEEDUP) out.push({ id, kind: 'none', title, method: null, text: `No method${qual} ${phase}s measurably faster than FP32: the fastest, ${code(fast.method)}, reaches ${times(speedup(fast))} (below ${times(MIN_SPEEDUP)}).` });
    else out.push({ id, kind: 'pick', title, method: fast.method, text: `${code(fast.method)}: ${ms}${speedup(fast) == null ? '' : `, ${times(speedup(fast))} FP32's speed`}; ${quality(fast)}.` });
  }

  if (measured && base) {
    const budgets = opts.sizeBudgetsBytes ?? [base.size.file_bytes / 2, base.size.file_bytes / 4];
    for (const budget of budgets) {
      const id = `best-under-${Math.round(budget / 2 ** 20 * 100) / 100}MiB`, title = `Best quality under ${mib(budget)}`;
      const fits = usable.filter((r) => r.size.file_bytes <= budget && isNum(r.perplexity));
      // Closest to FP32's predictions (KLD) first; perplexity breaks ties and covers rows without KLD.
      const best = pick(fits, (a, b) => (a.quality?.kld_mean ?? Infinity) - (b.quality?.kld_mean ?? Infinity) || a.perplexity! - b.perplexity!);
      if (best) out.push({ id, kind: 'pick', title, method: best.method, text: `${code(best.method)}: ${mib(best.size.file_bytes)}, ${quality(best)}.` });
      else out.push({ id, kind: 'none', title, method: null, text: `No usable method fits in ${mib(budget)}.` });
    }
  }
  return out;
}

function pick<T>(xs: T[], cmp: (a: T, b: T) => number): T | undefined {
  return [...xs].sort(cmp)[0];
}

function closest(rows: MethodRow[]): string {
  const q = pick(rows.filter((r) => r.method !== BASELINE && isNum(r.delta_ppl_pct)), (a, b) => a.delta_ppl_pct! - b.delta_ppl_pct!);
  return q ? `; the closest is ${code(q.method)} at ${signedPct(q.delta_ppl_pct)} (${mib(q.size.file_bytes)})` : '';
}
