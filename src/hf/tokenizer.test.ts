import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { sharedGpt2Dir } from '../testing/fixtures.js';
import { writeWordTokenizer } from '../testing/word-tokenizer.js';
import { loadTokenizer } from './tokenizer.js';

test('BOS: taken from what the tokenizer prepends (Llama-style template), none for GPT-2, add_bos_token false wins', () => {
  assert.equal(loadTokenizer(sharedGpt2Dir()).bos, undefined);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-tok-'));
  writeWordTokenizer(dir, 20);
  const t = loadTokenizer(dir);
  assert.equal(t.bos, 1);
  assert.deepEqual(t.encode('w5 w9'), [5, 9]);
  const cfg = path.join(dir, 'tokenizer_config.json');
  fs.writeFileSync(cfg, JSON.stringify({ ...JSON.parse(fs.readFileSync(cfg, 'utf8')), add_bos_token: false }));
  assert.equal(loadTokenizer(dir).bos, undefined);
  fs.rmSync(dir, { recursive: true, force: true });
});
