// Runs every compiled *.test.js under dist/ with node's test runner (Node 20 has no --test globs).
// Usage: node scripts/test.mjs [substring filter...]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const filters = process.argv.slice(2);
const files = [];
(function walk(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name.endsWith('.test.js') && (!filters.length || filters.some((f) => p.includes(f)))) files.push(p);
  }
})('dist');
files.sort();
if (!files.length) { console.error('no test files found under dist/'); process.exit(1); }
const env = { ...process.env, GLIBC_TUNABLES: process.env.GLIBC_TUNABLES ?? 'glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296' };
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], { stdio: 'inherit', env });
process.exit(r.status ?? 1);
