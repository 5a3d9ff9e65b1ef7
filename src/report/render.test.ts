import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { renderCsv } from './csv.js';
import { chartSpecs, renderHtml } from './html.js';
import { renderMarkdown } from './markdown.js';
import { sampleReport } from './sample.js';
import { writeReport } from './write.js';

test('markdown: table row, flags, recommendations and protocol carry the numbers', () => {
  const md = renderMarkdown(sampleReport());
  assert.match(md, /\| dynamic-int8 \| 378\.50 ± 5\.68 \| \+0\.64% \| 0\.004 ± 4\.0e-5 \| 0\.032 \| 97\.50% ± 0\.05 \| 420\.0 \/ 504\.0 \| 11\.00 \/ 13\.20 \| 90\.9 \| 1\.67× \/ 1\.82× \| 12\.60 MiB \| 3\.76× \|/);
  assert.match(md, /\| broken-int2 ⚠ \| 9000\.00 ± 135\.00 \| \+2293\.07% \|/);
  assert.match(md, /\*\*Smallest model within 1% of FP32 perplexity and KLD ≤ 0\.01\*\*: `dynamic-int8`/);
  assert.match(md, /\*\*dataset SHA-256\*\*: ca47/);
  assert.match(md, /✖ \*\*needs-calibration\*\* not measured: no tokenizer for calibration/);
  assert.match(md, /ctx 512, stride 256, 249 windows, 63,899 tokens scored/);
  assert.match(md, /Config: `\{"kind":"int4-weight"\}`/);
});

test('csv: one row per method with raw numbers; json round-trips', () => {
  const r = sampleReport();
  const lines = renderCsv(r).trim().split('\n');
  assert.equal(lines.length, 1 + r.rows.length);
  const head = lines[0].split(',');
  const row = lines[3].split(',');
  assert.equal(row[head.indexOf('method')], 'dynamic-int8');
  assert.equal(Number(row[head.indexOf('file_bytes')]), 13_212_000);
  assert.equal(Number(row[head.indexOf('decode_ms_p50')]), 11);
  // Cells with quotes are quoted, quotes doubled.
  assert.ok(lines[6].endsWith(',collapsed: ΔPPL +2293.1% > +50%; collapsed: top-1 agreement 20.0% < 50%,"{""kind"":""broken-int2""}"'), lines[6]);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-report-'));
  try {
    const files = writeReport(dir, r);
    assert.deepEqual(files.map((f) => path.basename(f)), ['report.md', 'report.json', 'report.csv', 'report.html']);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'report.json'), 'utf8')), JSON.parse(JSON.stringify(r)));
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temporary files left');
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
});

test('html is self-contained: Chart.js inlined, no external resources, chart data embedded', () => {
  const r = sampleReport();
  const html = renderHtml(r);
  assert.ok(html.length > 150_000, 'the Chart.js bundle is inlined');
  assert.match(html, /Chart\.js v4/);
  assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=|https?:\/\/(?!www\.w3\.org)[^"'\s]*\.(js|css)/);
  const specs = chartSpecs(r);
  assert.deepEqual(specs.scatters.map((s) => s.id), ['ppl-size', 'kld-size', 'ppl-decode']);
  // KLD vs size on a log axis, FP32 (KLD 0) left out: each smaller file loses more.
  assert.deepEqual(specs.scatters[1].front.map((p) => p.method), ['broken-int2', 'int4-weight', 'dynamic-int8', 'int8-weight', 'fp16']);
  assert.ok(specs.scatters[1].logY && !specs.scatters[1].points.some((p) => p.method === 'fp32'));
  // Perplexity vs size front: broken-int2 is the smallest, then int4, dynamic-int8, int8-weight, fp16, fp32 by PPL.
  assert.deepEqual(specs.scatters[0].front.map((p) => p.method), ['broken-int2', 'int4-weight', 'dynamic-int8', 'int8-weight', 'fp16', 'fp32']);
  assert.equal(specs.scatters[0].logY, true, 'a collapsed method puts the perplexity axis on a log scale');
  assert.deepEqual(specs.speedups.decode.slice(0, 3), [1, 0.8, 20 / 11]);
  // A '</script>' inside a method name cannot break out of the data block.
  const evil = { ...r, rows: r.rows.map((x, i) => (i ? x : { ...x, method: '</script><b>x' })) };
  assert.doesNotMatch(renderHtml(evil, ''), /<\/script><b>x/);
});

test('the report is titled with the model as the user named it, and the load note separates the bench\'s own load', () => {
  const r = sampleReport();
  r.model = { ...r.model, name: 'HuggingFaceTB/SmolLM2-135M', source: '/home/u/.cache/quantlab/hub/HuggingFaceTB--SmolLM2-135M/main' };
  const quiet = { ...r, protocol: { ...r.protocol, threads: 2, load_average: [0.2, 2.3] as [number, number] } };
  let md = renderMarkdown(quiet);
  assert.match(md, /^# quantlab bench: HuggingFaceTB\/SmolLM2-135M\n/);
  assert.match(md, /\*\*model\*\*: HuggingFaceTB\/SmolLM2-135M → \/home\/u\/\.cache\/quantlab\/hub\/HuggingFaceTB--SmolLM2-135M\/main/);
  assert.match(md, /0\.2 at start \(before the bench\), 2\.3 at end \(its own 2 threads included\), on 2 cores\n/);
  assert.match(renderHtml(quiet), /<h1>quantlab bench: HuggingFaceTB\/SmolLM2-135M<\/h1>/);
  md = renderMarkdown({ ...quiet, protocol: { ...quiet.protocol, load_average: [1.6, 3.4] } });
  assert.match(md, /other processes kept ~1\.6 cores busy, timings are pessimistic and noisy/);
});
