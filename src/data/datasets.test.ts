import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { InputError, UsageError } from '../util/errors.js';
import { loadDataset, WIKITEXT2_TEST } from './index.js';

test('wikitext2 test split is the bundled file, byte for byte', () => {
  const ds = loadDataset('wikitext2', 'test');
  assert.equal(ds.name, 'wikitext2/test');
  assert.equal(fs.statSync(WIKITEXT2_TEST).size, 1_290_547);
  assert.equal(ds.sha256, '4f3e427e4aff23acff917a8a51aeae21bf12832256e26914c8fc250dcef4103c');
  const shared = path.join('..', 'shared', 'data', 'wikitext-2-raw', 'wiki.test.raw');
  assert.ok(fs.readFileSync(shared).equals(Buffer.from(ds.text, 'utf8')));
});

test('wikitext2 other splits: usage error pointing to a file path', () => {
  for (const split of ['train', 'validation']) {
    assert.throws(() => loadDataset('wikitext2', split), (e: unknown) =>
      e instanceof UsageError && /only the test split is bundled/.test(e.message) && /path/.test(e.message) && !e.message.includes('\n'));
  }
});

test('unknown split is a usage error', () => {
  assert.throws(() => loadDataset('brown', 'dev2'), (e: unknown) => e instanceof UsageError && /unknown split 'dev2'/.test(e.message));
});

test('a file path is read as UTF-8 text; missing or empty files are one-line input errors', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-ds-'));
  try {
    const f = path.join(dir, 'a.txt');
    fs.writeFileSync(f, 'héllo world\n');
    const ds = loadDataset(f, 'train');
    assert.equal(ds.text, 'héllo world\n');
    assert.equal(ds.name, f);
    assert.equal(ds.sha256, crypto.createHash('sha256').update(Buffer.from('héllo world\n', 'utf8')).digest('hex'));
    const empty = path.join(dir, 'empty.txt');
    fs.writeFileSync(empty, ' \n\n');
    const oneLine = (re: RegExp) => (e: unknown) => e instanceof InputError && re.test(e.message) && !e.message.includes('\n');
    assert.throws(() => loadDataset(empty), oneLine(/empty\.txt: dataset file is empty/));
    assert.throws(() => loadDataset(path.join(dir, 'nope.txt')), oneLine(/nope\.txt: no such file/));
    assert.throws(() => loadDataset(dir), oneLine(/is a folder/));
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
});
