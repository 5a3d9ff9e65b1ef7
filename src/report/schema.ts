import type { QualityStats } from '../eval/kld.js';
import type { OpProfile } from '../bench/profile.js';
import type { MachineInfo } from '../eval/latency.js';
import type { Stats } from '../eval/stats.js';

export const REPORT_SCHEMA = 'quantlab.report/1';

/** One method's measurements. Fields are null when not measured (e.g. quality of a random-weight model). */
export interface MethodRow {
  /** Method kind: the CLI argument, the config kind and the report label. 'fp32' is the unquantized baseline. */
  method: string;
  /** The method's full config (JSON), so the variant can be reproduced. */
  config: { kind: string; [k: string]: unknown };
  summary: string;
  /** Seconds spent quantizing (null when the variant was reused from the cache). */
  quantize_s: number | null;
  cached: boolean;
  perplexity: number | null;
  nll: number | null;
  nll_stderr: number | null;
  /** (PPL / PPL_fp32 − 1) · 100. */
  delta_ppl_pct: number | null;
  /** KLD / top-1 / Δp against FP32 on the same windows (FP32 itself: zeros and 100%). */
  quality: QualityStats | null;
  latency: {
    prefill_ms: Stats;
    decode_ms: Stats;
    prefill_tokens_per_s: number;
    decode_tokens_per_s: number;
  } | null;
  /** FP32 p50 / this p50, measured in the same run, interleaved. */
  speedup_prefill: number | null;
  speedup_decode: number | null;
  size: {
    /** Bytes of the ONNX file(s) on disk. */
    file_bytes: number;
    /** FP32 file bytes / this file bytes. */
    compression: number;
    param_bytes: number;
    param_count: number;
    by_dtype: Record<string, { count: number; bytes: number }>;
  };
  /** Peak resident memory of a process that loads this variant alone and runs one prefill + decode. */
  peak_rss_bytes: number | null;
  /** e.g. 'collapsed: ΔPPL +80.1% > 50%'. */
  flags: string[];
  pass: { converted: number; skipped: number; notes: string[] } | null;
}

export interface Recommendation {
  /** Stable id, e.g. 'smallest-within-1pct'. */
  id: string;
  kind: 'pick' | 'none' | 'warning';
  title: string;
  /** The chosen method (null when nothing qualifies or for a warning about several). */
  method: string | null;
  /** One sentence with the numbers that justify it. */
  text: string;
}

export interface BenchReport {
  schema: typeof REPORT_SCHEMA;
  created: string;
  quantlab_version: string;
  /** Note shown at the top (e.g. random weights: perplexity is meaningless). */
  note: string | null;
  /** False for random-weight models: quality columns are then not measured. */
  quality_measured: boolean;
  /** `name`: the model as the user named it (hub id, path as typed); `source`: the folder read. `name` absent in older reports. */
  model: { name?: string; source: string; hash: string; arch: string | null };
  dataset: { name: string; sha256: string; source: string; tokens_total: number } | null;
  protocol: {
    ctx: number;
    stride: number;
    /** BOS id every perplexity window starts with (tokenizers that prepend one: Llama, Gemma), null when none; absent in older reports. */
    bos?: number | null;
    windows: number;
    tokens_scored: number;
    batch: number;
    threads: number;
    prompt_tokens: number;
    /** 'last': the timed prefill returns the last position's logits (as generation does); 'all': every position's. Absent in older reports. */
    prefill_logits?: 'last' | 'all';
    decode_tokens: number;
    /** Tokens in the KV cache when the timed decode steps start. */
    decode_context: number;
    /**
     * How the KV cache travelled between decode steps, per method: 'in-place' (a buffer the runtime
     * owns, fed whole; only the new rows come back) or 'concat' (present tensors copied out and fed
     * back, as the exported graph runs elsewhere). Absent in older reports.
     */
    kv_cache?: Record<string, 'in-place' | 'concat'>;
    warmup: number;
    repetitions: number;
    /** How latency runs were scheduled across variants. */
    schedule: string;
    /** 1-minute load average when the bench started and when it ended: other work on the machine skews timings. */
    load_average?: [number, number];
  };
  machine: MachineInfo;
  rows: MethodRow[];
  /** Methods that could not be quantized (e.g. calibration needs a tokenizer), with the error. */
  failures: { method: string; error: string }[];
  recommendations: Recommendation[];
  /** onnxruntime's per-op kernel time by method (prefill and decode): where the time goes. Absent in older reports. */
  profile?: Record<string, OpProfile>;
  wall_s: number;
}
