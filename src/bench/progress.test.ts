import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BenchProgress } from './progress.js';

test('one overall line: stage weights drive the fraction and the ETA', () => {
  let t = 0;
  const lines: string[] = [];
  const p = new BenchProgress([{ name: 'quantize', weight: 10 }, { name: 'evaluate', weight: 30 }], (s) => lines.push(s), true, () => t);
  p.stage('quantize', 'quantize fp32');
  p.update(1, 2);
  p.stage('quantize', 'quantize int8');
  assert.equal(p.fraction, 0.125, 'a repeated stage keeps its progress');
  t = 10_000;
  p.stage('evaluate');
  assert.equal(p.fraction, 0.25);
  t = 25_000;
  p.update(50, 100, 'windows');
  assert.equal(p.fraction, 0.625);
  // 25 s for 62.5% → 40 s in all, 15 s to go.
  assert.match(lines.at(-1)!, /^\r\x1b\[2Kbench █{13}░{7} 63% · evaluate 50\/100 windows · 25s eta 15s$/);
  p.done();
  assert.equal(lines.at(-1), '\r\x1b[2K');
});

test('without a terminal each stage is logged once, with the elapsed time', () => {
  let t = 0;
  const lines: string[] = [];
  const p = new BenchProgress([{ name: 'a', weight: 1 }], (s) => lines.push(s), false, () => t);
  p.stage('a', 'stage a');
  t = 20_000;
  p.update(1, 4);
  t = 61_000;
  p.update(2, 4);
  p.stage('b', 'stage b');
  // A long stage logs its count every 30 s.
  assert.deepEqual(lines, ['[0s] stage a\n', '[1m01s] a 2/4 (50% overall)\n', '[1m01s] stage b\n']);
});
