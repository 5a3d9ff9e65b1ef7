import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stats } from './stats.js';

test('stats: mean, numpy-style percentiles and the sample standard deviation', () => {
  const s = stats([4, 1, 3, 2, 10]);
  assert.equal(s.mean, 4);
  assert.equal(s.p50, 3);
  assert.ok(Math.abs(s.p95 - 8.8) < 1e-12); // 4 + 0.8·(10 − 4) between the 4th and 5th sorted values
  assert.equal(s.min, 1);
  assert.equal(s.max, 10);
  assert.ok(Math.abs(s.sd! - Math.sqrt(50 / 4)) < 1e-12); // Σ(x − 4)² = 9+1+0+4+36 = 50, n − 1 = 4
  assert.equal(stats([7]).sd, 0);
  assert.ok(Number.isNaN(stats([]).mean));
});
