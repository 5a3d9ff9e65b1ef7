import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Progress } from './progress.js';

test('off a terminal, a long step logs a line every 30 s and a short one nothing', () => {
  const lines: string[] = [];
  let t = 0;
  const p = new Progress('qat', 60, { tty: false, write: (s) => lines.push(s), now: () => t });
  for (const [at, step] of [[1, 1], [10, 5], [29, 15], [31, 16], [45, 25], [62, 33]]) { t = at * 1000; p.update(step); }
  p.done();
  assert.deepEqual(lines, ['qat 16/60 · 31s, eta 85s\n', 'qat 33/60 · 62s, eta 51s\n']);
  const short: string[] = [];
  t = 0;
  const q = new Progress('calibration', 4, { tty: false, write: (s) => short.push(s), now: () => t });
  for (let i = 1; i <= 4; i++) { t = i * 2000; q.update(i); }
  q.done();
  assert.deepEqual(short, []);
});

test('on a terminal, one bar redrawn in place and cleared at the end', () => {
  const out: string[] = [];
  let t = 0;
  const p = new Progress('quantize', 2, { tty: true, write: (s) => out.push(s), now: () => t });
  t = 500; p.update(1);
  t = 1000; p.update(2);
  p.done();
  assert.equal(out.length, 3);
  assert.ok(out[0].startsWith('\rquantize ') && out[0].includes(' 1/2 '));
  assert.equal(out[2], '\r\x1b[2K');
});
