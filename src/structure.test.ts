import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from './testing/fixtures.js';

/** Runtime imports between src/ modules (type-only imports are erased and do not count). */
function importGraph(): Map<string, string[]> {
  const src = path.join(repoRoot, 'src');
  const files: string[] = [];
  (function walk(d: string) {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith('.ts') && !p.endsWith('.test.ts')) files.push(p);
    }
  })(src);
  const g = new Map<string, string[]>();
  for (const f of files) {
    const text = fs.readFileSync(f, 'utf8');
    const deps = [...text.matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?from\s+'(\.[^']+)'/gm)]
      .map((m) => path.normalize(path.join(path.dirname(f), m[1].replace(/\.js$/, '.ts'))));
    g.set(path.relative(src, f), deps.filter((d) => files.includes(d)).map((d) => path.relative(src, d)));
  }
  return g;
}

test('no import cycles between modules (one direction of flow)', () => {
  const g = importGraph();
  const cycles: string[] = [];
  const stack: string[] = [], onStack = new Set<string>(), done = new Set<string>();
  const visit = (n: string) => {
    stack.push(n); onStack.add(n);
    for (const d of g.get(n) ?? []) {
      if (onStack.has(d)) cycles.push([...stack.slice(stack.indexOf(d)), d].join(' → '));
      else if (!done.has(d)) visit(d);
    }
    onStack.delete(n); stack.pop(); done.add(n);
  };
  for (const n of g.keys()) if (!done.has(n)) visit(n);
  assert.deepEqual(cycles, []);
  assert.ok(g.size > 100, `read ${g.size} modules`);
});

/** The layers below the runtime (graph, formats, algorithms, passes) and the ones above it. */
const LOWER = ['util', 'ir', 'onnx', 'hf', 'data', 'arch', 'autodiff', 'load', 'quant', 'passes'];
const UPPER = ['runtime', 'eval', 'train', 'bench', 'report', 'cli', 'export', 'engine.ts', 'index.ts'];

test('the graph, algorithm and pass layers never import the runtime, evaluation or training at run time (they get an engine: passes/engine.ts)', () => {
  const upward: string[] = [];
  for (const [file, deps] of importGraph()) {
    if (!LOWER.includes(file.split(path.sep)[0])) continue;
    for (const d of deps) if (UPPER.includes(d.split(path.sep)[0])) upward.push(`${file} → ${d}`);
  }
  assert.deepEqual(upward, []);
});
