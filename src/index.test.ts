import assert from 'node:assert/strict';
import { test } from 'node:test';

// The package's public surface, imported by its name as a user does (package.json "exports").
// Adding or removing an export is a decision: change this list with it.
const SURFACE = [
  'DecoderRunner', 'METHODS', 'evaluateLockstep', 'exportTransformersJs', 'greedyGenerate', 'leftPad', 'loadDataset', 'loadModel',
  'machineInfo', 'measureLatency', 'methodByKind', 'perplexity', 'quantizeToFolder', 'readModel', 'resolveConfig', 'resolveModelSpec',
  'runBench', 'writeModel',
];

test("import from 'quantlab' gives the documented surface, and a ten-line program runs on it", async () => {
  const q = await import('quantlab');
  assert.deepEqual(Object.keys(q).sort(), [...SURFACE].sort());
  // The README's program, on a tiny fixture: load, quantize in memory, generate with the in-place cache.
  const { fixtureDir } = await import('./testing/fixtures.js');
  const model = q.loadModel(fixtureDir('llama-gqa-untied'));
  const int4 = q.methodByKind('int4-weight')!;
  const { model: graph } = await int4.run(model.graph({ kvCache: true }), { ...int4.defaults, blockFallback: true } as typeof int4.defaults, { explain: () => {} });
  const runner = await q.DecoderRunner.create(graph, { threads: 1 });
  const { tokens } = await q.greedyGenerate(runner, [[5, 9, 14]], { maxNewTokens: 8, keepLogits: false });
  await runner.release();
  assert.equal(runner.cachePath, 'in-place');
  assert.equal(tokens[0].length, 8);
});
