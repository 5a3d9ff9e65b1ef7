import { PROFILE_NOTE, profileTables } from './profile-table.js';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { isNum } from './format.js';
import { COLUMNS, protocolLines } from './markdown.js';
import { paretoFront } from './pareto.js';
import type { BenchReport, MethodRow } from './schema.js';

/** Chart.js's UMD bundle, inlined so the report works offline from a single file. */
export function chartJsBundle(): string {
  const main = createRequire(import.meta.url).resolve('chart.js');
  return fs.readFileSync(path.join(path.dirname(main), 'chart.umd.min.js'), 'utf8');
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const inline = (s: string) => esc(s).replace(/`([^`]+)`/g, '<code>$1</code>');
// JSON inside <script>: '<' escaped so no '</script>' can end the block early.
const scriptJson = (x: unknown) => JSON.stringify(x).replace(/</g, '\\u003c');

interface ChartPoint { x: number; y: number; method: string }
interface ChartSpec { id: string; title: string; x: string; y: string; points: ChartPoint[]; front: ChartPoint[]; logY: boolean }

function scatter(id: string, title: string, x: string, y: string, rows: MethodRow[], fx: (r: MethodRow) => number | null | undefined, fy: (r: MethodRow) => number | null | undefined): ChartSpec {
  const points = rows.flatMap((r) => { const a = fx(r), b = fy(r); return isNum(a) && isNum(b) ? [{ x: a, y: b, method: r.method }] : []; });
  const ys = points.map((p) => p.y);
  const logY = ys.length > 1 && Math.min(...ys) > 0 && Math.max(...ys) / Math.min(...ys) > 3;
  return { id, title, x, y, points, front: paretoFront(points), logY };
}

/** The charts the report draws (Pareto scatters and speedup bars), as plain data. */
export function chartSpecs(r: BenchReport): { scatters: ChartSpec[]; speedups: { methods: string[]; prefill: (number | null)[]; decode: (number | null)[] } } {
  const mibOf = (x: MethodRow) => x.size.file_bytes / 2 ** 20;
  const scatters = r.quality_measured
    ? [
      scatter('ppl-size', 'Perplexity vs file size (Pareto front dashed)', 'file size (MiB)', 'perplexity', r.rows, mibOf, (x) => x.perplexity),
      // Every PPL may sit inside its ±interval while KLD spans orders of magnitude: its own chart, log scale (FP32's 0 left out).
      { ...scatter('kld-size', 'KLD against FP32 vs file size (log scale; Pareto front dashed)', 'file size (MiB)', 'KLD mean (nats/token)', r.rows, mibOf, (x) => (x.quality?.kld_mean ? x.quality.kld_mean : null)), logY: true },
      scatter('ppl-decode', 'Perplexity vs decode latency (Pareto front dashed)', 'decode ms/token (p50)', 'perplexity', r.rows, (x) => x.latency?.decode_ms.p50, (x) => x.perplexity),
    ]
    : [scatter('decode-size', 'Decode latency vs file size (quality not measured)', 'file size (MiB)', 'decode ms/token (p50)', r.rows, mibOf, (x) => x.latency?.decode_ms.p50)];
  return {
    scatters,
    speedups: { methods: r.rows.map((x) => x.method), prefill: r.rows.map((x) => x.speedup_prefill), decode: r.rows.map((x) => x.speedup_decode) },
  };
}

// Runs in the browser: draws every chart with Chart.js, without animation so a screenshot sees it.
const CLIENT = `
const D = JSON.parse(document.getElementById('chart-data').textContent);
const palette = ['#1f77b4','#ff7f0e','#2ca02c','#d62728','#9467bd','#8c564b','#e377c2','#7f7f7f','#bcbd22','#17becf'];
const colorOf = (m) => palette[D.speedups.methods.indexOf(m) % palette.length];
Chart.defaults.animation = false;
let drawn = 0;
for (const s of D.scatters) {
  const datasets = s.points.map((p) => ({ label: p.method, data: [{ x: p.x, y: p.y }], backgroundColor: colorOf(p.method), pointRadius: 6, pointHoverRadius: 8 }));
  datasets.push({ label: 'Pareto front', type: 'line', data: s.front.map((p) => ({ x: p.x, y: p.y })), borderColor: '#444', borderDash: [6, 4], pointRadius: 0, fill: false });
  new Chart(document.getElementById(s.id), { type: 'scatter', data: { datasets }, options: {
    plugins: { title: { display: true, text: s.title }, tooltip: { callbacks: { label: (c) => c.dataset.label + ': (' + c.parsed.x.toFixed(2) + ', ' + c.parsed.y.toFixed(2) + ')' } } },
    scales: { x: { title: { display: true, text: s.x } }, y: { type: s.logY ? 'logarithmic' : 'linear', title: { display: true, text: s.y } } } } });
  drawn++;
}
new Chart(document.getElementById('speedups'), { type: 'bar', data: { labels: D.speedups.methods, datasets: [
  { label: 'prefill speedup vs FP32', data: D.speedups.prefill, backgroundColor: '#1f77b4' },
  { label: 'decode speedup vs FP32', data: D.speedups.decode, backgroundColor: '#ff7f0e' } ] },
  options: { plugins: { title: { display: true, text: 'Speedup vs FP32 (p50 ratio, same run; 1 = FP32)' } }, scales: { y: { beginAtZero: true, title: { display: true, text: '×' } } } } });
drawn++;
document.body.dataset.charts = String(drawn);
`;

/** A single self-contained HTML file: table, charts (Chart.js inlined), recommendations, protocol. */
export function renderHtml(r: BenchReport, chartJs = chartJsBundle()): string {
  const specs = chartSpecs(r);
  const table = `<table><thead><tr>${COLUMNS.map((c) => `<th>${esc(c.header)}</th>`).join('')}</tr></thead><tbody>${r.rows
    .map((row) => `<tr${row.flags.length ? ' class="flag"' : ''}>${COLUMNS.map((c) => `<td>${esc(c.cell(row))}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
  const recs = r.recommendations.map((x) => `<li class="${x.kind}"><b>${esc(x.title)}</b>: ${inline(x.text)}</li>`).join('');
  const proto = protocolLines(r).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('');
  const methods = r.rows.map((x) => `<tr><th>${esc(x.method)}</th><td>${esc(x.summary)}</td><td><code>${esc(JSON.stringify(x.config))}</code></td></tr>`).join('');
  const tables = profileTables(r);
  const profile = tables.length ? `<h2>Where the time goes</h2><p>${esc(PROFILE_NOTE)}</p>${tables.map((t) => `<table><thead><tr><th>${t.phase}</th>${t.header.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${t.rows.map((x) => `<tr><th>${esc(x.method)}</th>${x.cells.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}</tbody></table>`).join('')}` : '';
  const canvases = [...specs.scatters.map((s) => s.id), 'speedups'].map((id) => `<div class="chart"><canvas id="${id}" width="640" height="400"></canvas></div>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>quantlab bench: ${esc(r.model.name ?? r.model.source)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}tr.flag td{background:#fde8e8}
.charts{display:flex;flex-wrap:wrap;gap:16px}.chart{width:640px;height:400px}
.protocol td,.methods td{text-align:left}li.warning,.fail{color:#a00}li.none{color:#666}code{background:#f4f4f4;padding:0 3px}.note{background:#fff4d6;padding:8px;border-left:4px solid #e0a800}
</style></head><body>
<h1>quantlab bench: ${esc(r.model.name ?? r.model.source)}</h1>
${r.note ? `<p class="note"><b>${esc(r.note)}</b></p>` : ''}
${table}
${r.failures.map((f) => `<p class="fail">✖ <b>${esc(f.method)}</b> not measured: ${esc(f.error)}</p>`).join('')}
<div class="charts">${canvases}</div>
<h2>Recommendations</h2><ul>${recs || '<li>none (no method measured)</li>'}</ul>
${profile}
<h2>Protocol</h2><table class="protocol">${proto}</table>
<h2>Methods</h2><table class="methods">${methods}</table>
<script id="chart-data" type="application/json">${scriptJson(specs)}</script>
<script>${chartJs.replace(/<\/script/gi, '<\\/script')}</script>
<script>${CLIENT}</script>
</body></html>
`;
}
