import type { Dim, Model, Value } from '../ir/graph.js';
import { modelSize, SIZE_GROUPS, type ModelSize, type SizeEntry } from './size.js';

export interface ValueInfo { name: string; dtype: string; shape: Dim[] | null }

/** Structure and size of one model graph, as `quantlab inspect` prints it. */
export interface InspectReport {
  schema: 'quantlab.inspect/1';
  graph: {
    name: string;
    inputs: ValueInfo[];
    outputs: ValueInfo[];
    /** Op type (prefixed `domain.` outside the default domain) → node count, most frequent first. */
    ops: Record<string, number>;
    nodes: number;
    initializers: number;
    opsets: { domain: string; version: number }[];
    ir_version: number;
    producer: string;
    metadata: Record<string, string>;
  };
  size: ModelSize;
}

const info = (v: Value): ValueInfo => ({ name: v.name, dtype: v.type?.dtype ?? '?', shape: v.type?.shape ? [...v.type.shape] : null });

export function inspectModel(model: Model, files?: string[]): InspectReport {
  const g = model.graph;
  const ops = new Map<string, number>();
  for (const n of g.nodes) {
    const k = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${n.opType}` : n.opType;
    ops.set(k, (ops.get(k) ?? 0) + 1);
  }
  return {
    schema: 'quantlab.inspect/1',
    graph: {
      name: g.name,
      inputs: g.inputs.map(info),
      outputs: g.outputs.map(info),
      ops: Object.fromEntries([...ops].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))),
      nodes: g.nodes.length,
      initializers: g.initializers().length,
      opsets: model.opsets.map((o) => ({ ...o })),
      ir_version: model.irVersion,
      producer: model.producerName,
      metadata: { ...model.metadata },
    },
    size: modelSize(model, files),
  };
}

const fmt = (n: number): string => n.toLocaleString('en-US');
const shape = (s: Dim[] | null): string => (s ? `[${s.join(', ')}]` : '[?]');

/** Human-readable text of a report (one section per aspect, tables aligned). */
export function formatInspect(r: InspectReport, header: string[] = []): string {
  const { graph: g, size: s } = r;
  const out: string[] = [...header];
  const io = (title: string, vs: ValueInfo[]) => {
    out.push(`${title} (${vs.length})`);
    // Long KV-cache lists: show the first and last pair, say how many were elided.
    const shown = vs.length > 8 ? [...vs.slice(0, 5), null, ...vs.slice(-2)] : vs;
    const w = Math.max(...vs.map((v) => v.name.length), 4);
    for (const v of shown) out.push(v ? `  ${v.name.padEnd(w)}  ${v.dtype.padEnd(8)} ${shape(v.shape)}` : `  … ${vs.length - 7} more`);
  };
  io('inputs', g.inputs);
  io('outputs', g.outputs);
  out.push(`graph       ${g.name}: ${fmt(g.nodes)} nodes, ${fmt(g.initializers)} initializers, IR ${g.ir_version}, producer '${g.producer}'`);
  out.push(`opsets      ${g.opsets.map((o) => `${o.domain || 'ai.onnx'} ${o.version}`).join(', ')}`);
  out.push(`ops         ${Object.entries(g.ops).map(([k, n]) => `${k} ${n}`).join(', ')}`);
  const meta = Object.entries(g.metadata);
  if (meta.length) {
    out.push('metadata');
    for (const [k, v] of meta) out.push(`  ${k} = ${v.length > 100 ? `${v.slice(0, 100)}… (${v.length} chars)` : v}`);
  }
  out.push('');
  const total = SIZE_GROUPS.reduce((a, k) => a + s.by_group[k].bytes, 0);
  out.push(`size        ${fmt(s.param_count)} parameters in ${fmt(s.param_bytes)} bytes (${perParam(s.param_bytes, s.param_count)} bytes/param)` +
    (s.constant_bytes ? `, + ${fmt(s.constant_bytes)} bytes of graph constants` : ''));
  if (s.file_bytes !== null) out.push(`on disk     ${fmt(s.file_bytes)} bytes`);
  out.push(...table('group', SIZE_GROUPS.map((k) => [k, s.by_group[k]] as [string, SizeEntry]), total));
  if (SIZE_GROUPS.some((k) => k !== 'other' && s.by_group[k].bytes > 0 && s.by_group[k].count === 0)) {
    out.push('  (a group with bytes but no params stores a copy of weights counted elsewhere, e.g. the head\'s copy of a tied embedding)');
  }
  out.push(...table('dtype', (Object.entries(s.by_dtype) as [string, SizeEntry][]).sort((a, b) => b[1].bytes - a[1].bytes), total));
  return out.join('\n');
}

function perParam(bytes: number, count: number): string { return count ? (bytes / count).toFixed(3) : '—'; }

function table(title: string, rows: [string, SizeEntry][], total: number): string[] {
  const cells = rows.map(([k, e]) => [k, fmt(e.count), fmt(e.bytes), total ? pct(e.bytes, total) : '—', perParam(e.bytes, e.count)]);
  const head = [title, 'params', 'bytes', '% bytes', 'bytes/param'];
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => `  ${c[0].padEnd(w[0])}  ${c.slice(1).map((x, i) => x.padStart(w[i + 1])).join('  ')}`;
  return ['', line(head), ...cells.map(line)];
}

/** Percent with one decimal, two below 1% so small groups do not read as zero. */
function pct(x: number, total: number): string {
  const p = (100 * x) / total;
  return `${p.toFixed(p > 0 && p < 1 ? 2 : 1)}%`;
}
