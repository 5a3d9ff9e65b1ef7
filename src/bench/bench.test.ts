import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadDataset } from '../data/index.js';
import { perplexity } from '../eval/perplexity.js';
import { loadModel } from '../load/index.js';
import { METHODS } from '../passes/registry.js';
import { sharedGpt2Dir } from '../testing/fixtures.js';
import { UsageError } from '../util/errors.js';
import { BenchProgress } from './progress.js';
import { runBench, type BenchOptions } from './run.js';
import { cachedRecord, defaultMethods, methodSpec, parseMethods } from './variants.js';

test('methods: fp32 first and always present; an unknown method names the known ones', () => {
  assert.deepEqual(defaultMethods(), ['fp32', ...METHODS.map((m) => m.kind)]);
  assert.deepEqual(parseMethods([]), ['fp32']);
  if (METHODS.length) assert.deepEqual(parseMethods([METHODS[0].kind, 'fp32', METHODS[0].kind]), ['fp32', METHODS[0].kind]);
  assert.throws(() => parseMethods(['int3-magic']), (e: unknown) => e instanceof UsageError && e.message.startsWith(`unknown method 'int3-magic' (known: ${defaultMethods().join(', ')}; int4-weight:rtn|imatrix|gptq`));
});

test('weight-only rows name their algorithm and budget; both spellings give one row', () => {
  assert.deepEqual(parseMethods(['int4-weight:gptq', 'int4-weight (gptq)', 'int4-weight:gptq@18%', 'int8-weight:awq']), ['fp32', 'int4-weight (gptq)', 'int4-weight (gptq, ≤ 18%)', 'int8-weight (awq)']);
  const s = methodSpec('int4-weight:gptq-act@9MB')!;
  assert.equal(s.dir, 'int4-weight-gptq-act-9MB');
  const c = s.config as unknown as Record<string, unknown>;
  assert.deepEqual([c.algorithm, c.actOrder, c.budget], ['gptq', true, { bytes: 9e6 }]);
  assert.equal(methodSpec('dynamic-int8:gptq+per-token')!.label, 'dynamic-int8 (gptq+per-token)');
  assert.equal((methodSpec('dynamic-int8:per-token+full-range')!.config as unknown as Record<string, unknown>).reduceRange, false);
  for (const bad of ['static-int8:gptq', 'dynamic-int8:gptq@18%', 'int4-weight:magic', 'int4-weight:gptq@lots', 'int4-weight:gptq+per-token']) assert.throws(() => parseMethods([bad]), UsageError, bad);
});

test('bench on the 12M GPT-2: FP32 reproduces eval perplexity, a method is compared on the same windows, re-run reuses variants', { timeout: 120_000 }, async () => {
  const dir = sharedGpt2Dir();
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-bench-'));
  const method = METHODS.find((m) => m.kind === 'dynamic-int8')?.kind;
  const opts: BenchOptions = {
    model: dir, out, methods: method ? ['fp32', method] : ['fp32'], dataset: 'brown', split: 'test', maxTokens: 700, ctx: 256, stride: 128,
    threads: 1, promptTokens: 64, decodeTokens: 4, warmup: 0, repetitions: 2, progress: new BenchProgress([], () => {}),
  };
  try {
    const { report, files } = await runBench(opts);
    assert.deepEqual(files.map((f) => path.basename(f)), ['report.md', 'report.json', 'report.csv', 'report.html']);
    assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')).schema, 'quantlab.report/1');
    const loaded = loadModel(dir);
    const tokens = loaded.tokenizer!.encode(loadDataset('brown', 'test').text).slice(0, 700);
    const ref = await perplexity(loaded.graph({ kvCache: false }), tokens, { ctx: 256, stride: 128, session: { threads: 1 } });
    const [fp32, q] = report.rows;
    assert.equal(fp32.method, 'fp32');
    assert.ok(Math.abs(fp32.perplexity! - ref.perplexity) < 1e-9 * ref.perplexity, `${fp32.perplexity} vs eval ${ref.perplexity}`);
    assert.equal(report.protocol.tokens_scored, 699);
    assert.equal(report.protocol.windows, ref.windows);
    assert.deepEqual([fp32.quality!.kld_mean, fp32.quality!.same_top_pct, fp32.speedup_decode], [0, 100, 1]);
    assert.equal(fp32.size.file_bytes, fs.statSync(path.join(out, 'variants', 'fp32', 'onnx', 'model.onnx')).size);
    assert.equal(fp32.size.compression, 1);
    assert.equal(fp32.latency!.decode_ms.n, 2 * 4);
    assert.equal(fp32.latency!.prefill_ms.n, 2);
    // The per-op profile: kernel time inside each onnxruntime run, the weight MatMuls (the tied head Gemm included) among the ops.
    for (const phase of ['prefill', 'decode'] as const) {
      const p = report.profile!.fp32[phase];
      const kernels = p.ops.reduce((s, o) => s + o.ms, 0);
      assert.ok(kernels > 0 && kernels <= p.run_ms * 1.001, `${phase}: kernels ${kernels} ms in a ${p.run_ms} ms run`);
      assert.ok(p.ops.some((o) => /MatMul|Gemm/.test(o.op)), `${phase}: ${p.ops.map((o) => o.op)}`);
    }
    assert.match(fs.readFileSync(path.join(out, 'report.md'), 'utf8'), /## Where the time goes[\s\S]*\| prefill \| step ms \| run ms \| outside \|/);
    assert.match(fs.readFileSync(path.join(out, 'report.html'), 'utf8'), /<h2>Where the time goes<\/h2>[\s\S]*<th>decode<\/th><th>step ms<\/th><th>run ms<\/th>/);
    assert.ok(fp32.peak_rss_bytes! > 50 * 2 ** 20 && fp32.peak_rss_bytes! < 4 * 2 ** 30, `peak RSS ${fp32.peak_rss_bytes}`);
    if (q) {
      assert.equal(q.quality!.tokens, 699);
      assert.ok(q.quality!.kld_mean > 0 && q.quality!.kld_mean < 0.05, `KLD ${q.quality!.kld_mean}`);
      assert.ok(q.quality!.same_top_pct > 85, `top-1 ${q.quality!.same_top_pct}`);
      assert.ok(Math.abs(q.delta_ppl_pct!) < 3, `ΔPPL ${q.delta_ppl_pct}`);
      assert.ok(q.size.compression > 3, `compression ${q.size.compression}`);
      assert.equal(q.cached, false);
      // Resume: the finished variant is reused, and its numbers do not change.
      const again = await runBench({ ...opts, memory: false });
      assert.equal(again.report.rows[1].cached, true);
      assert.equal(again.report.rows[1].perplexity, q.perplexity);
      assert.equal(again.report.rows[1].quality!.kld_mean, q.quality!.kld_mean);
      assert.equal(again.report.rows[1].peak_rss_bytes, null);
      // … but only by the same build: a record written by other code is stale.
      const dir = path.join(out, 'variants', fs.readdirSync(path.join(out, 'variants')).find((d) => d !== 'fp32')!);
      const rec = JSON.parse(fs.readFileSync(path.join(dir, 'quantlab.json'), 'utf8'));
      assert.ok(cachedRecord(dir, rec.source.hash, rec.method));
      fs.writeFileSync(path.join(dir, 'quantlab.json'), JSON.stringify({ ...rec, quantlab_code: 'another build' }));
      assert.equal(cachedRecord(dir, rec.source.hash, rec.method), null);
    }
    // An interrupted run writes no report.
    const out2 = path.join(out, 'aborted');
    await assert.rejects(runBench({ ...opts, out: out2, signal: AbortSignal.abort(new Error('interrupted')) }), /interrupted/);
    assert.equal(fs.existsSync(path.join(out2, 'report.md')), false);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test('an FP32 baseline that does not fit in memory is not run: the report says what it needs and measures the rest', { timeout: 120_000 }, async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-bench-nofit-'));
  try {
    const fp32Bytes = loadModel(sharedGpt2Dir()).graph({ kvCache: true }).graph.initializers().reduce((s, v) => s + v.constant!.byteLength, 0);
    // A limit between the int4 variant's needs and FP32's.
    const limit = fp32Bytes * 1.15 + 2 ** 30 - 1;
    const { report } = await runBench({
      model: sharedGpt2Dir(), out, methods: ['fp32', 'int4-weight'], promptTokens: 32, decodeTokens: 2, warmup: 0, repetitions: 1,
      threads: 1, memory: false, memoryLimitBytes: limit, progress: new BenchProgress([], () => {}),
    });
    assert.deepEqual(report.rows.map((r) => r.method), ['int4-weight']);
    assert.equal(report.quality_measured, false);
    assert.match(report.failures[0].error, /^not run: FP32 needs ≈ [\d.]+ GB of memory \([\d.]+ [MG]B of weights\), this machine has [\d.]+ GB/);
    assert.match(report.note!, /does not fit/);
    const r = report.rows[0];
    assert.equal(r.speedup_decode, null);
    assert.ok(r.latency!.decode_ms.p50 > 0);
    // Compression against the FP32 weight bytes read from the headers.
    assert.ok(Math.abs(r.size.compression - fp32Bytes / r.size.file_bytes) < 1e-9);
    assert.match(fs.readFileSync(path.join(out, 'report.md'), 'utf8'), /✖ \*\*fp32\*\* not measured: not run: FP32 needs/);
  } finally { fs.rmSync(out, { recursive: true, force: true }); }
});
