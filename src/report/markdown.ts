import { PROFILE_NOTE, profileTables } from './profile-table.js';
import { fixed, mib, pct, sig, signedPct, times } from './format.js';
import type { BenchReport, MethodRow } from './schema.js';

export interface Column { header: string; cell(r: MethodRow): string }

/** The trade-off table's columns (shared by Markdown and HTML). */
export const COLUMNS: Column[] = [
  { header: 'method', cell: (r) => r.method + (r.flags.length ? ' ⚠' : '') },
  // ± one standard error (llama.cpp's): PPL from the NLL's, KLD and top-1 from theirs.
  { header: 'PPL', cell: (r) => (r.perplexity === null ? '—' : `${fixed(r.perplexity, 2)}${r.nll_stderr ? ` ± ${fixed(r.perplexity * r.nll_stderr, 2)}` : ''}`) },
  { header: 'ΔPPL', cell: (r) => signedPct(r.delta_ppl_pct) },
  { header: 'KLD mean', cell: (r) => (r.quality?.kld_mean ? `${sig(r.quality.kld_mean, 3)} ± ${sig(r.quality.kld_stderr, 2)}` : sig(r.quality?.kld_mean, 3)) },
  { header: 'KLD p99', cell: (r) => sig(r.quality?.kld_p99, 3) },
  { header: 'top-1 agree', cell: (r) => (r.quality && r.quality.same_top_pct < 100 ? `${pct(r.quality.same_top_pct, 2)} ± ${fixed(r.quality.same_top_stderr_pct, 2)}` : pct(r.quality?.same_top_pct, 2)) },
  { header: 'prefill p50 / p95 ms', cell: (r) => (r.latency ? `${fixed(r.latency.prefill_ms.p50, 1)} / ${fixed(r.latency.prefill_ms.p95, 1)}` : '—') },
  { header: 'decode p50 / p95 ms/tok', cell: (r) => (r.latency ? `${fixed(r.latency.decode_ms.p50, 2)} / ${fixed(r.latency.decode_ms.p95, 2)}` : '—') },
  // From the mean step time (what a long generation averages), ± one standard error of that mean
  // (delta method: 1000·sd / (mean²·√n)); the per-step spread is in the p50 / p95 column.
  { header: 'decode tok/s (mean ± s.e.)', cell: (r) => (r.latency ? `${fixed(r.latency.decode_tokens_per_s, 1)}${r.latency.decode_ms.sd !== undefined ? ` ± ${fixed((1000 * r.latency.decode_ms.sd) / (r.latency.decode_ms.mean ** 2 * Math.sqrt(r.latency.decode_ms.n)), 1)}` : ''}` : '—') },
  { header: 'speedup prefill / decode', cell: (r) => `${times(r.speedup_prefill)} / ${times(r.speedup_decode)}` },
  { header: 'file size', cell: (r) => mib(r.size.file_bytes) },
  { header: 'compression', cell: (r) => times(r.size.compression) },
  { header: 'param bytes', cell: (r) => mib(r.size.param_bytes) },
  { header: 'peak RSS', cell: (r) => mib(r.peak_rss_bytes) },
];

const esc = (s: string) => s.replace(/\|/g, '\\|');

/** Protocol lines (key, value) shared by Markdown and HTML. */
export function protocolLines(r: BenchReport): [string, string][] {
  const p = r.protocol;
  const lines: [string, string][] = [
    ['model', `${r.model.name && r.model.name !== r.model.source ? `${r.model.name} → ` : ''}${r.model.source}${r.model.arch ? ` (${r.model.arch})` : ''}`],
    ['model hash', r.model.hash],
  ];
  if (r.dataset) {
    lines.push(['dataset', `${r.dataset.name} (${r.dataset.source}), ${r.dataset.tokens_total.toLocaleString('en-US')} tokens`]);
    lines.push(['dataset SHA-256', r.dataset.sha256]);
    lines.push(['perplexity protocol', `sliding windows, ctx ${p.ctx}, stride ${p.stride}, ${p.bos === undefined ? '' : p.bos === null ? 'no BOS (the tokenizer adds none), ' : `each window starts with BOS ${p.bos} (the tokenizer prepends it), `}${p.windows} windows, ${p.tokens_scored.toLocaleString('en-US')} tokens scored, batch ${p.batch}; KLD / top-1 against FP32 on the same windows (llama.cpp definitions)`]);
  } else lines.push(['dataset', 'none (quality not measured)']);
  lines.push(['latency protocol', `prefill ${p.prompt_tokens} tokens${p.prefill_logits === 'last' ? ' (returning the last position\'s logits, as generation does)' : p.prefill_logits === 'all' ? ' (returning logits for every position)' : ''}, then ${p.decode_tokens} decode steps after ${p.decode_context} cached tokens${kvCacheNote(p.kv_cache)}; ${p.warmup} warm-up + ${p.repetitions} repetitions per variant, ${p.schedule}`]);
  lines.push(['threads', String(p.threads)]);
  if (p.load_average) {
    // At the start the load is other work's; at the end it includes the bench's own threads.
    const [start, end] = p.load_average;
    const others = Math.max(start, end - p.threads);
    lines.push(['load average (1 min)', `${start.toFixed(1)} at start (before the bench), ${end.toFixed(1)} at end (its own ${p.threads} threads included), on ${r.machine.cores} cores${others > r.machine.cores / 2 ? `: other processes kept ~${others.toFixed(1)} cores busy, timings are pessimistic and noisy` : ''}`]);
  }
  lines.push(['CPU', `${r.machine.cpu} (${r.machine.cores} cores), ${mib(r.machine.memory_bytes)} RAM, ${r.machine.os}`]);
  if (r.machine.cpu_features) lines.push(['CPU features', `${r.machine.cpu_features.join(', ') || 'none of avx2/avx512/vnni/bf16/amx'}${r.machine.cpu_features.includes('avx512_vnni') || r.machine.cpu_features.includes('avx_vnni') ? '' : ' — no VNNI: int8 kernels use AVX2 multiply-adds, roughly 2× fp32 at best'}`]);
  lines.push(['onnxruntime', r.machine.onnxruntime]);
  lines.push(['node', r.machine.node]);
  lines.push(['quantlab', r.quantlab_version]);
  lines.push(['created', `${r.created} (bench wall time ${r.wall_s.toFixed(0)} s)`]);
  return lines;
}

export function renderMarkdown(r: BenchReport): string {
  const out: string[] = [`# quantlab bench: ${r.model.name ?? r.model.source}`, ''];
  if (r.note) out.push(`> **${r.note}**`, '');
  out.push(`| ${COLUMNS.map((c) => c.header).join(' | ')} |`, `|${COLUMNS.map((_, i) => (i ? '---:' : ':---')).join('|')}|`);
  for (const row of r.rows) out.push(`| ${COLUMNS.map((c) => esc(c.cell(row))).join(' | ')} |`);
  out.push('', 'Speedups are FP32 p50 / method p50 from the same run. File size is the ONNX file on disk; compression is FP32 file / method file. Peak RSS: a fresh process loading the variant alone and running one prefill + decode.');
  const flagged = r.rows.filter((x) => x.flags.length);
  if (flagged.length) out.push('', ...flagged.map((x) => `⚠ **${x.method}**: ${x.flags.join('; ')}`));
  if (r.failures.length) out.push('', ...r.failures.map((f) => `✖ **${f.method}** not measured: ${f.error}`));
  out.push('', '## Recommendations', '');
  for (const rec of r.recommendations) out.push(`- ${rec.kind === 'warning' ? '⚠ ' : ''}**${rec.title}**: ${rec.text}`);
  if (!r.recommendations.length) out.push('- none (no method measured)');
  if (r.profile) out.push('', ...profileSection(r));
  out.push('', '## Protocol', '');
  for (const [k, v] of protocolLines(r)) out.push(`- **${k}**: ${v}`);
  out.push('', '## Methods', '');
  for (const row of r.rows) {
    const q = row.quality && row.method !== 'fp32' ? `; KLD median ${sig(row.quality.kld_median)}, p99.9 ${sig(row.quality.kld_p999)}, max ${sig(row.quality.kld_max)}; RMS Δp ${fixed(row.quality.delta_p_rms_pct, 3)}%` : '';
    const how = row.cached ? 'reused from the cache' : row.quantize_s !== null ? `quantized in ${row.quantize_s.toFixed(1)} s` : 'baseline';
    const pass = row.pass ? `; ${row.pass.converted} weights converted, ${row.pass.skipped} nodes skipped` : '';
    out.push(`- **${row.method}** — ${row.summary} (${how}${pass}${q}). Config: \`${JSON.stringify(row.config)}\``);
  }
  return out.join('\n') + '\n';
}

/** Per-op kernel time tables (prefill, decode) as markdown. */
function profileSection(r: BenchReport): string[] {
  const out = ['## Where the time goes', '', PROFILE_NOTE];
  for (const t of profileTables(r)) {
    out.push('', `| ${t.phase} | ${t.header.join(' | ')} |`, `|:---|${t.header.map(() => '---:').join('|')}|`);
    for (const row of t.rows) out.push(`| ${row.method} | ${row.cells.join(' | ')} |`);
  }
  return out;
}

/** Which decode path was timed: one phrase when every method ran the same one. */
export function kvCacheNote(kv: Record<string, 'in-place' | 'concat'> | undefined): string {
  if (!kv) return '';
  const paths = new Set(Object.values(kv));
  const say = (p: string) => (p === 'in-place' ? 'KV cache in place (runtime-owned buffer, new rows only)' : 'KV cache concatenated (present tensors copied out and fed back)');
  if (paths.size === 1) return ` with the ${say([...paths][0])}`;
  return `; ${Object.entries(kv).map(([m, p]) => `${m}: ${say(p)}`).join(', ')}`;
}
