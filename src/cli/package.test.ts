import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { repoRoot } from '../testing/fixtures.js';

test('the npm package ships the compiled library, CLI and data: no tests, source maps, fixtures or the embedded model', () => {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const [pack] = JSON.parse(out) as { size: number; files: { path: string }[] }[];
  const paths = pack.files.map((f) => f.path);
  for (const f of ['bin/quantlab.js', 'dist/cli/main.js', 'dist/runtime/kv-cache.js', 'proto/onnx.proto', 'data/wikitext-2-raw/wiki.test.raw']) assert.ok(paths.includes(f), `missing ${f}`);
  assert.deepEqual(paths.filter((p) => /\.test\.(js|d\.ts)$|\.map$|^dist\/testing\/|^models\/|^test\//.test(p)), []);
  assert.ok(pack.size < 2e6, `package ${pack.size} bytes`);
});
