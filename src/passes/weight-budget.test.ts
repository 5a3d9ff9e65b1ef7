import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { greedyUpgrade, parseBudget } from './weight-budget.js';

test('size budgets parse from bytes, units, percentages and bits per weight; anything else is refused', () => {
  assert.deepEqual(parseBudget('9000000'), { bytes: 9e6 });
  assert.deepEqual(parseBudget('9MB'), { bytes: 9e6 });
  assert.deepEqual(parseBudget('1.5 GiB'), { bytes: 1.5 * 2 ** 30 });
  assert.deepEqual(parseBudget('18%'), { percent: 18 });
  assert.deepEqual(parseBudget('4.8bpw'), { bitsPerWeight: 4.8 });
  for (const bad of ['', 'MB', '-3MB', '0', '12 parsecs', '5%%']) assert.equal(parseBudget(bad), null, bad);
});

/** Tables with increasing byte options and predicted KLD that falls (mostly) with bytes. */
const tablesArb = fc.array(fc.array(fc.tuple(fc.integer({ min: 1, max: 1000 }), fc.double({ min: 0, max: 1, noNaN: true })), { minLength: 1, maxLength: 4 }).map((opts) => {
  let bytes = 0;
  return { bytes: opts.map(([b]) => (bytes += b)), kld: opts.map(([, k]) => k) };
}), { minLength: 1, maxLength: 12 });

test('budget search (property, 500 cases): never exceeds the budget, and no single remaining upgrade would fit and help', () => {
  fc.assert(fc.property(tablesArb, fc.double({ min: 0, max: 1, noNaN: true }), (tables, f) => {
    const floor = tables.reduce((s, t) => s + t.bytes[0], 0), top = tables.reduce((s, t) => s + t.bytes[t.bytes.length - 1], 0);
    const limit = floor + f * (top - floor);
    const { pick, bytes } = greedyUpgrade(tables, limit);
    assert.ok(bytes <= limit, `${bytes} > ${limit}`);
    assert.equal(bytes, tables.reduce((s, t, i) => s + t.bytes[pick[i]], 0));
    for (const [i, t] of tables.entries()) {
      for (let c = pick[i] + 1; c < t.bytes.length; c++) {
        assert.ok(!(bytes - t.bytes[pick[i]] + t.bytes[c] <= limit && t.kld[c] < t.kld[pick[i]]), `table ${i}: option ${c} fits and helps`);
      }
    }
  }), { numRuns: 500, seed: 1 });
});

test('budget search spends on the table that saves the most KLD per byte', () => {
  const tables = [{ bytes: [100, 200], kld: [1, 0.1] }, { bytes: [100, 200], kld: [1, 0.5] }];
  assert.deepEqual(greedyUpgrade(tables, 300).pick, [1, 0]);
  assert.deepEqual(greedyUpgrade(tables, 400).pick, [1, 1]);
  assert.deepEqual(greedyUpgrade(tables, 299).pick, [0, 0]);
});
