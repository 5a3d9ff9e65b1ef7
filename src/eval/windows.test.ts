import assert from 'node:assert/strict';
import { test } from 'node:test';
import { slidingWindows } from './windows.js';

test('sliding windows score every token but the first exactly once (stride < ctx)', () => {
  for (const [n, ctx, stride] of [[63900, 512, 256], [10, 4, 1], [5, 8, 4], [513, 512, 256], [1000, 512, 511]]) {
    const ws = slidingWindows(n, ctx, stride);
    const seen = new Uint8Array(n);
    for (const w of ws) {
      assert.ok(w.end - w.begin <= ctx);
      assert.ok(w.scoreFrom > w.begin, 'a scored token needs at least one token of context in its window');
      for (let j = w.scoreFrom; j < w.end; j++) seen[j]++;
    }
    assert.equal(seen[0], 0);
    for (let j = 1; j < n; j++) assert.equal(seen[j], 1, `token ${j} of ${n} (ctx ${ctx}, stride ${stride})`);
  }
});

test('window layout matches the HF loop', () => {
  assert.deepEqual(slidingWindows(1000, 512, 256), [
    { begin: 0, end: 512, scoreFrom: 1 },
    { begin: 256, end: 768, scoreFrom: 512 },
    { begin: 512, end: 1000, scoreFrom: 768 },
  ]);
  assert.throws(() => slidingWindows(10, 4, 5), /stride/);
});

test('with stride = ctx (no overlap) the first token of each window has no context and is not scored, as in HF', () => {
  const ws = slidingWindows(1000, 512, 512);
  assert.deepEqual(ws, [{ begin: 0, end: 512, scoreFrom: 1 }, { begin: 512, end: 1000, scoreFrom: 513 }]);
});
