import assert from 'node:assert/strict';
import { test } from 'node:test';
import { collapseFlags, recommend } from './recommend.js';
import { paretoFront } from './pareto.js';
import { sampleRows } from './sample.js';

const byId = (recs: ReturnType<typeof recommend>) => Object.fromEntries(recs.map((r) => [r.id, r]));

test('recommendations on a hand-made table name the right method and its numbers', () => {
  const rows = sampleRows();
  const recs = byId(recommend(rows));
  // broken-int2: ΔPPL +2293% and top-1 20%: flagged, never picked although it is smallest and fastest.
  assert.equal(recs['collapsed-broken-int2'].kind, 'warning');
  assert.match(recs['collapsed-broken-int2'].text, /ΔPPL \+2293\.1% > \+50%; top-1 agreement 20\.0% < 50%/);
  // Within 1%: fp32, fp16 (+0.00%), int8-weight (+0.22%), dynamic-int8 (+0.64%) → smallest is dynamic-int8.
  assert.equal(recs['smallest-within-1pct'].method, 'dynamic-int8');
  assert.match(recs['smallest-within-1pct'].text, /12\.60 MiB \(3\.76× smaller than FP32\), PPL 378\.50 \(\+0\.64%, KLD 0\.004, top-1 97\.5%\)/);
  // int4-weight is within 2% of PPL (+1.84%) but its KLD 0.02 > 0.01 keeps it out: dynamic-int8 decodes
  // and prefills fastest (11 ms, 420 ms); with the KLD limit raised, int4 prefills fastest (350 ms).
  assert.equal(recs['fastest-decode-within-2pct'].method, 'dynamic-int8');
  assert.match(recs['fastest-decode-within-2pct'].text, /11\.00 ms\/token p50, 90\.9 tokens\/s \(mean\), 1\.82× FP32's speed/);
  assert.equal(recs['fastest-prefill-within-2pct'].method, 'dynamic-int8');
  assert.match(recs['fastest-prefill-within-2pct'].title, /within 2% of FP32 perplexity and KLD ≤ 0\.01/);
  const loose = byId(recommend(rows, { maxKld: 0.05 }));
  assert.equal(loose['fastest-prefill-within-2pct'].method, 'int4-weight');
  assert.match(loose['fastest-prefill-within-2pct'].text, /350\.0 ms p50, 1463 tokens\/s \(mean\), 2\.00×/);
  // Budgets ½ and ¼ of FP32: fp16 is exactly half and closest to FP32; under a quarter only int4-weight fits (broken excluded).
  const half = recommend(rows).find((r) => r.id.startsWith('best-under-') && r.title.includes('23.69'))!;
  assert.equal(half.method, 'fp16');
  const quarter = recommend(rows).find((r) => r.id.startsWith('best-under-') && r.title.includes('11.84'))!;
  assert.equal(quarter.method, 'int4-weight');
});

test('when nothing qualifies the recommendation says so and names the closest', () => {
  const rows = sampleRows().filter((r) => ['fp32', 'int4-weight', 'broken-int2'].includes(r.method));
  const recs = byId(recommend(rows));
  assert.equal(recs['smallest-within-1pct'].kind, 'none');
  assert.match(recs['smallest-within-1pct'].text, /closest is `int4-weight` at \+1\.84%/);
  // A budget nothing usable fits in.
  const tiny = recommend(rows, { sizeBudgetsBytes: [6_000_000] }).find((r) => r.id.startsWith('best-under'))!;
  assert.equal(tiny.kind, 'none');
  // FP32 fastest among the usable ones: "none".
  const slow = sampleRows().filter((r) => ['fp32', 'fp16'].includes(r.method));
  assert.equal(byId(recommend(slow))['fastest-decode-within-2pct'].kind, 'none');
  // A 3% gain is within timing noise: not recommended.
  const marginal = sampleRows().filter((r) => ['fp32', 'int8-weight'].includes(r.method)).map((r) => (r.method === 'fp32' ? r : { ...r, speedup_decode: 1.03, latency: { ...r.latency!, decode_tokens_per_s: 51.5 } }));
  const m = byId(recommend(marginal))['fastest-decode-within-2pct'];
  assert.equal(m.kind, 'none');
  assert.match(m.text, /the fastest, `int8-weight`, reaches 1\.03× \(below 1\.05×\)/);
});

test('without measured quality only size and speed picks remain, marked as such', () => {
  const rows = sampleRows().map((r) => ({ ...r, perplexity: null, nll: null, delta_ppl_pct: null, quality: null, flags: [] }));
  const recs = recommend(rows);
  assert.deepEqual(recs.map((r) => [r.id, r.method]), [['smallest', 'broken-int2'], ['fastest-decode', 'broken-int2'], ['fastest-prefill', 'broken-int2']]);
  assert.match(recs[0].title, /quality not measured/);
});

test('collapse thresholds and the Pareto front', () => {
  const [fp32] = sampleRows();
  assert.deepEqual(collapseFlags({ ...fp32, delta_ppl_pct: 50 }), []);
  assert.equal(collapseFlags({ ...fp32, delta_ppl_pct: 50.1 }).length, 1);
  assert.equal(collapseFlags({ ...fp32, perplexity: NaN }).length, 1);
  const pts = [{ x: 1, y: 5 }, { x: 2, y: 3 }, { x: 3, y: 4 }, { x: 4, y: 1 }, { x: 2, y: 3.5 }, { x: NaN, y: 0 }];
  assert.deepEqual(paretoFront(pts), [{ x: 1, y: 5 }, { x: 2, y: 3 }, { x: 4, y: 1 }]);
});
