import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { chooseUnderBudget, greedyUpgrade, parseBudget, type BudgetOption } from './weight-budget.js';

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

const kldOf = (tables: BudgetOption[], pick: number[]) => tables.reduce((s, t, i) => s + t.kld[pick[i]], 0);

/** Every combination of options (small cases): the least total KLD within `limit`. */
function bruteForce(tables: BudgetOption[], limit: number): number {
  let best = Infinity;
  const rec = (i: number, bytes: number, kld: number) => {
    if (bytes > limit) return;
    if (i === tables.length) { best = Math.min(best, kld); return; }
    tables[i].bytes.forEach((b, c) => rec(i + 1, bytes + b, kld + tables[i].kld[c]));
  };
  rec(0, 0, 0);
  return best;
}

for (const [name, search] of [['greedy', greedyUpgrade], ['exact', chooseUnderBudget]] as const) {
  test(`budget search, ${name} (property, 500 cases): never exceeds the budget, and no single remaining upgrade would fit and help`, () => {
    fc.assert(fc.property(tablesArb, fc.double({ min: 0, max: 1, noNaN: true }), (tables, f) => {
      const floor = tables.reduce((s, t) => s + t.bytes[0], 0), top = tables.reduce((s, t) => s + t.bytes[t.bytes.length - 1], 0);
      const limit = floor + f * (top - floor);
      const { pick, bytes } = search(tables, limit);
      assert.ok(bytes <= limit, `${bytes} > ${limit}`);
      assert.equal(bytes, tables.reduce((s, t, i) => s + t.bytes[pick[i]], 0));
      for (const [i, t] of tables.entries()) {
        for (let c = pick[i] + 1; c < t.bytes.length; c++) {
          assert.ok(!(bytes - t.bytes[pick[i]] + t.bytes[c] <= limit && t.kld[c] < t.kld[pick[i]]), `table ${i}: option ${c} fits and helps`);
        }
      }
    }), { numRuns: 500, seed: 1 });
  });
}

test('exact budget search (property, 300 cases): no combination within the budget has less predicted KLD (but for the rounding of bytes to 1/16384 of the slack)', () => {
  fc.assert(fc.property(tablesArb.filter((t) => t.length <= 6), fc.double({ min: 0, max: 1, noNaN: true }), (tables, f) => {
    const floor = tables.reduce((s, t) => s + t.bytes[0], 0), top = tables.reduce((s, t) => s + t.bytes[t.bytes.length - 1], 0);
    const limit = floor + f * (top - floor);
    const got = kldOf(tables, chooseUnderBudget(tables, limit).pick);
    // Each table's extra bytes round up by less than one unit: any combination this far under the limit is reachable.
    const margin = (tables.length * (limit - floor)) / 16384;
    assert.ok(got <= bruteForce(tables, limit - margin) + 1e-12, `${got} > optimum ${bruteForce(tables, limit - margin)}`);
    assert.ok(got >= bruteForce(tables, limit) - 1e-12);
  }), { numRuns: 300, seed: 2 });
});

test('exact budget search fills what greedy leaves when the next step of a large table does not fit', () => {
  // Greedy buys the small tables' cheap upgrades first; then the big table's upgrade no longer fits.
  const tables = [{ bytes: [1000, 1800], kld: [10, 3] }, { bytes: [100, 200], kld: [1, 0] }, { bytes: [100, 200], kld: [1, 0] }];
  assert.deepEqual(greedyUpgrade(tables, 2050).pick, [0, 1, 1]); // 1,400 bytes, KLD 10
  assert.deepEqual(chooseUnderBudget(tables, 2050).pick, [1, 0, 0]); // 2,000 bytes, KLD 5
});

test('budget search spends on the table that saves the most KLD per byte', () => {
  const tables = [{ bytes: [100, 200], kld: [1, 0.1] }, { bytes: [100, 200], kld: [1, 0.5] }];
  assert.deepEqual(greedyUpgrade(tables, 300).pick, [1, 0]);
  assert.deepEqual(greedyUpgrade(tables, 400).pick, [1, 1]);
  assert.deepEqual(greedyUpgrade(tables, 299).pick, [0, 0]);
});
