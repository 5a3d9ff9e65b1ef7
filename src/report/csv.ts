import type { BenchReport, MethodRow } from './schema.js';

/** One flat, machine-readable row per method (raw numbers, no units in the cells). */
const FIELDS: [string, (r: MethodRow) => unknown][] = [
  ['method', (r) => r.method],
  ['perplexity', (r) => r.perplexity],
  ['nll', (r) => r.nll],
  ['nll_stderr', (r) => r.nll_stderr],
  ['delta_ppl_pct', (r) => r.delta_ppl_pct],
  ['kld_mean', (r) => r.quality?.kld_mean],
  ['kld_median', (r) => r.quality?.kld_median],
  ['kld_p99', (r) => r.quality?.kld_p99],
  ['kld_p999', (r) => r.quality?.kld_p999],
  ['kld_max', (r) => r.quality?.kld_max],
  ['same_top_pct', (r) => r.quality?.same_top_pct],
  ['delta_p_rms_pct', (r) => r.quality?.delta_p_rms_pct],
  ['prefill_ms_p50', (r) => r.latency?.prefill_ms.p50],
  ['prefill_ms_p95', (r) => r.latency?.prefill_ms.p95],
  ['decode_ms_p50', (r) => r.latency?.decode_ms.p50],
  ['decode_ms_p95', (r) => r.latency?.decode_ms.p95],
  ['prefill_tokens_per_s', (r) => r.latency?.prefill_tokens_per_s],
  ['decode_tokens_per_s', (r) => r.latency?.decode_tokens_per_s],
  ['speedup_prefill', (r) => r.speedup_prefill],
  ['speedup_decode', (r) => r.speedup_decode],
  ['file_bytes', (r) => r.size.file_bytes],
  ['compression', (r) => r.size.compression],
  ['param_bytes', (r) => r.size.param_bytes],
  ['param_count', (r) => r.size.param_count],
  ['peak_rss_bytes', (r) => r.peak_rss_bytes],
  ['quantize_s', (r) => r.quantize_s],
  ['flags', (r) => r.flags.join('; ')],
  ['config', (r) => JSON.stringify(r.config)],
];

function cell(v: unknown): string {
  if (v === null || v === undefined || (typeof v === 'number' && !Number.isFinite(v))) return '';
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function renderCsv(r: BenchReport): string {
  return [FIELDS.map(([k]) => k).join(','), ...r.rows.map((row) => FIELDS.map(([, f]) => cell(f(row))).join(','))].join('\n') + '\n';
}
