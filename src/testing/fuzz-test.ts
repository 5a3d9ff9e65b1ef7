import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fuzzTarget, runFuzz } from './fuzz.js';

/** A node:test running one fuzz target (testing/fuzz.ts) `runs` times: no crash, no hang, and both outcomes seen. */
export function fuzzTest(name: string, runs = 300, seed = 1): void {
  const t = fuzzTarget(name);
  test(`fuzz ${name} (${runs} cases, seed ${seed}): ${t.what} — read, or refused in one line naming the file`, { timeout: 120_000 }, async () => {
    const s = await runFuzz(t, runs, seed);
    assert.deepEqual(s.crashes, [], `${s.crashCount} crashes`);
    assert.equal(s.hangs, 0, `slowest case ${s.slowestMs.toFixed(0)} ms`);
    assert.equal(s.ok + s.refused, runs);
    assert.ok(s.refused >= runs / 20, `only ${s.refused} of ${runs} inputs were refused: the mutations do not reach the parser`);
  });
}
