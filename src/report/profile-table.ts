import type { BenchReport } from './schema.js';

export const PROFILE_NOTE = 'onnxruntime\'s per-op profile (kernel ms per run, same threads and prompt as the latency runs; one prefill after a warm-up, then the mean of 8 decode steps). "step" is the wall time of those steps as generation sees them, "run" the part inside onnxruntime (with the profiler\'s own overhead), "outside" the share spent in JS (feeds, output copies, KV-cache update, argmax).';

export interface ProfileTable { phase: 'prefill' | 'decode'; header: string[]; rows: { method: string; cells: string[] }[] }

/** One table per phase: run ms, the op types among any variant's top 4, and the rest summed. */
export function profileTables(r: BenchReport): ProfileTable[] {
  const prof = r.profile ?? {};
  const methods = r.rows.map((x) => x.method).filter((m) => prof[m]);
  if (!methods.length) return [];
  return (['prefill', 'decode'] as const).map((phase) => {
    const top = new Set<string>();
    for (const m of methods) for (const o of prof[m][phase].ops.slice(0, 4)) top.add(o.op);
    const cols = [...top];
    return {
      phase, header: ['step ms', 'run ms', 'outside', ...cols, 'other'],
      rows: methods.map((m) => {
        const p = prof[m][phase];
        const get = (op: string) => p.ops.find((o) => o.op === op)?.ms ?? 0;
        const other = p.ops.filter((o) => !top.has(o.op)).reduce((s, o) => s + o.ms, 0);
        const step = p.step_ms === undefined ? '—' : p.step_ms.toFixed(2);
        const outside = p.step_ms === undefined ? '—' : `${(Math.max(0, 1 - p.run_ms / p.step_ms) * 100).toFixed(1)}%`;
        return { method: m, cells: [step, p.run_ms.toFixed(2), outside, ...cols.map((c) => (get(c) ? get(c).toFixed(2) : '—')), other.toFixed(2)] };
      }),
    };
  });
}
