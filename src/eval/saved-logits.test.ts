import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { main } from '../cli/main.js';
import { loadModel } from '../load/index.js';
import { dynamicInt8, dynamicInt8Defaults } from '../passes/dynamic-int8.js';
import { int4Weight } from '../passes/weight-only.js';
import { fixtureDir, sharedGpt2Dir } from '../testing/fixtures.js';
import { InputError } from '../util/errors.js';
import { evaluateLockstep } from './lockstep.js';
import { SavedLogits, saveReferenceLogits } from './saved-logits.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-logits-'));
const tokens = Array.from({ length: 300 }, (_, i) => (i * 37 + (i >> 3) * 11 + 5) % 64);
const opts = { ctx: 32, stride: 16, bos: 1 };

test('a reference saved with every log-probability gives the live comparison exactly; top-k approximates the tail', async () => {
  const ref = loadModel(fixtureDir('llama3-rope')).graph({ kvCache: false });
  const q = (await int4Weight.run(ref, { ...int4Weight.defaults, blockSize: 16 }, { explain: () => {} })).model;
  const live = await evaluateLockstep(ref, [{ name: 'q', model: q }], tokens, opts);
  const source = { model: 'llama3-rope', hash: 'x' };
  const file = path.join(tmp(), 'ref.qlogits');
  (await saveReferenceLogits(ref, tokens, { ...opts, k: 64, source })).write(file);
  const full = SavedLogits.read(file);
  assert.equal(full.header.scored, live.reference.tokensScored);
  const fromFile = await evaluateLockstep(full, [{ name: 'q', model: q }], tokens, opts);
  const a = live.variants.get('q')!.quality, b = fromFile.variants.get('q')!.quality;
  assert.ok(Math.abs(a.kld_mean - b.kld_mean) < 1e-6 * Math.max(1, a.kld_mean), `${a.kld_mean} vs ${b.kld_mean}`);
  assert.equal(a.same_top_pct, b.same_top_pct);
  assert.ok(Math.abs(a.delta_ln_ppl! - b.delta_ln_ppl!) < 1e-6);
  assert.ok(Math.abs(fromFile.reference.perplexity / live.reference.perplexity - 1) < 1e-6);
  // Top-8 of 64: the merged tail is a lower bound close to the exact KLD; top-1 and Δln PPL are exact (stored per token).
  const top8 = await saveReferenceLogits(ref, tokens, { ...opts, k: 8, source });
  const c = (await evaluateLockstep(top8, [{ name: 'q', model: q }], tokens, opts)).variants.get('q')!.quality;
  console.log(`  KLD mean: live ${a.kld_mean.toExponential(4)}, top-64 file ${b.kld_mean.toExponential(4)}, top-8 file ${c.kld_mean.toExponential(4)}`);
  assert.ok(c.kld_mean <= a.kld_mean * (1 + 1e-5) && c.kld_mean > 0.8 * a.kld_mean);
  assert.equal(c.same_top_pct, a.same_top_pct);
  assert.ok(Math.abs(c.delta_ln_ppl! - a.delta_ln_ppl!) < 1e-6);
});

test('saved logits on other windows or tokens are refused; a damaged file is named', async () => {
  const ref = loadModel(fixtureDir('llama3-rope')).graph({ kvCache: false });
  const saved = await saveReferenceLogits(ref, tokens, { ...opts, k: 4, source: { model: 'm', hash: 'h' } });
  assert.throws(() => saved.checkMatches(tokens, { ...opts, ctx: 64 }, 'ref.qlogits'), /ref\.qlogits: saved logits were computed with --ctx 32, this run uses 64/);
  assert.throws(() => saved.checkMatches(tokens, { ...opts, bos: undefined }, 'f'), /BOS 1, this run uses null/);
  assert.throws(() => saved.checkMatches(tokens.map((t) => (t + 1) % 64), opts, 'f'), /other token ids/);
  const file = path.join(tmp(), 'ref.qlogits');
  saved.write(file);
  fs.truncateSync(file, fs.statSync(file).size - 4);
  assert.throws(() => SavedLogits.read(file), (e: unknown) => e instanceof InputError && /saved-logits file has \d+ bytes, its header .* needs \d+/.test((e as Error).message));
  fs.writeFileSync(file, 'not logits');
  assert.throws(() => SavedLogits.read(file), /not a quantlab saved-logits file/);
});

test('eval --save-logits then --kld-base <file> equals --kld-base <model>: the JSON holds kld, top1 and delta_ln_ppl', async () => {
  const dir = tmp();
  const q = path.join(dir, 'q');
  const log = console.log;
  console.log = () => {};
  try {
    const fp32 = loadModel(sharedGpt2Dir());
    assert.equal(await main(['quantize', '--model', sharedGpt2Dir(), '--method', 'dynamic-int8', '--out', q]), 0);
    const common = ['--max-tokens', '1500', '--ctx', '256', '--stride', '128', '--no-latency'];
    assert.equal(await main(['eval', '--model', sharedGpt2Dir(), ...common, '--save-logits', path.join(dir, 'ref.qlogits'), '--json', path.join(dir, 'ref.json')]), 0);
    assert.equal(await main(['eval', '--model', q, ...common, '--kld-base', path.join(dir, 'ref.qlogits'), '--json', path.join(dir, 'file.json')]), 0);
    assert.equal(await main(['eval', '--model', q, ...common, '--kld-base', sharedGpt2Dir(), '--json', path.join(dir, 'model.json')]), 0);
    assert.equal(await main(['eval', '--model', q, ...common.slice(0, 2), '--kld-base', path.join(dir, 'ref.qlogits')]), 1);
    void fp32; void dynamicInt8; void dynamicInt8Defaults;
  } finally { console.log = log; }
  const ref = JSON.parse(fs.readFileSync(path.join(dir, 'ref.json'), 'utf8'));
  const a = JSON.parse(fs.readFileSync(path.join(dir, 'file.json'), 'utf8')), b = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  assert.ok(Math.abs(a.kld_base.perplexity / ref.perplexity - 1) < 1e-6);
  assert.equal(a.perplexity, b.perplexity);
  assert.equal(a.top1.agree, b.top1.agree);
  assert.equal(a.delta_ln_ppl.mean, b.delta_ln_ppl.mean);
  assert.ok(Math.abs(Math.log(a.perplexity / ref.perplexity) - a.delta_ln_ppl.mean) < 1e-5);
  // Top-256 of 50,257 on a high-entropy 12M model: the merged tail is a lower bound, within a quarter here.
  assert.ok(a.kld.mean <= b.kld.mean * 1.0001 && a.kld.mean > 0.75 * b.kld.mean, `${a.kld.mean} vs ${b.kld.mean}`);
  for (const k of ['mean', 'median', 'p99', 'max', 'stderr']) assert.equal(typeof b.kld[k], 'number', k);
  assert.ok(b.top1.agree > 0.9 && b.top1.stderr > 0);
});
