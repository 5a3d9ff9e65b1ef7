/** Number formatting shared by the report renderers and recommendations ('—' for not measured). */
const NA = '—';
const ok = (x: number | null | undefined): x is number => typeof x === 'number' && Number.isFinite(x);

/** Bytes as MiB with 2 decimals (MiB = 2^20 bytes). */
export const mib = (b: number | null | undefined): string => (ok(b) ? `${(b / 2 ** 20).toFixed(2)} MiB` : NA);

/** Fixed decimals. */
export const fixed = (x: number | null | undefined, d = 2): string => (ok(x) ? x.toFixed(d) : NA);

/** Signed percentage, e.g. '+0.42%'. */
export const signedPct = (x: number | null | undefined, d = 2): string => (ok(x) ? `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(d)}%` : NA);

export const pct = (x: number | null | undefined, d = 2): string => (ok(x) ? `${x.toFixed(d)}%` : NA);

/** A ratio such as a speedup, e.g. '1.84×'. */
export const times = (x: number | null | undefined, d = 2): string => (ok(x) ? `${x.toFixed(d)}×` : NA);

/** Significant digits without exponent noise for values like KLD (0.000123 → '0.000123'). */
export const sig = (x: number | null | undefined, s = 3): string => {
  if (!ok(x)) return NA;
  if (x === 0) return '0';
  return Math.abs(x) >= 1e-4 ? Number(x.toPrecision(s)).toString() : x.toExponential(s - 1);
};

export const isNum = ok;
