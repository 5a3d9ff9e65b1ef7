import type { BenchReport } from './schema.js';

export const PROFILE_NOTE = 'onnxruntime\'s per-op profile (kernel ms per run, same threads and prompt as the latency runs; one prefill after a warm-up, then the mean of 8 decode steps). "run" is the time inside onnxruntime (with the profiler\'s own overhead); the latency columns above add the JS side (feeds, KV-cache outputs).';

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
      phase, header: ['run ms', ...cols, 'other'],
      rows: methods.map((m) => {
        const p = prof[m][phase];
        const get = (op: string) => p.ops.find((o) => o.op === op)?.ms ?? 0;
        const other = p.ops.filter((o) => !top.has(o.op)).reduce((s, o) => s + o.ms, 0);
        return { method: m, cells: [p.run_ms.toFixed(2), ...cols.map((c) => (get(c) ? get(c).toFixed(2) : '—')), other.toFixed(2)] };
      }),
    };
  });
}
