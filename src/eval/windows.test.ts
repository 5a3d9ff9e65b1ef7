import assert from 'node:assert/strict';
import { test } from 'node:test';
import { predictingPosition, slidingWindows, windowIds } from './windows.js';

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

test('with a BOS token every window starts with it, the text fills ctx − 1 positions, positions shift by one', () => {
  const tokens = Array.from({ length: 10 }, (_, i) => 100 + i);
  const w = slidingWindows(10, 4, 2, 7);
  assert.deepEqual(w.map((x) => [x.begin, x.end, x.scoreFrom]), [[0, 3, 1], [2, 5, 3], [4, 7, 5], [6, 9, 7], [8, 10, 9]]);
  assert.deepEqual(windowIds(w[1], tokens), [7, 102, 103, 104]);
  // Token 3 (103) is predicted by the logits at window position 1 (after BOS, 102).
  assert.equal(predictingPosition(w[1], 3), 1);
  assert.equal(predictingPosition(slidingWindows(10, 4, 2)[0], 1), 0);
  // Every token but the first is scored exactly once, as without BOS.
  const scored = w.flatMap((x) => Array.from({ length: x.end - x.scoreFrom }, (_, k) => x.scoreFrom + k));
  assert.deepEqual(scored, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
});
