import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { main } from '../cli/main.js';
import { jsonStdout } from '../util/fsx.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const schema = (name: string) => JSON.parse(fs.readFileSync(path.join(root, 'schemas', name), 'utf8')) as object;
const ajv = new Ajv2020({ allErrors: true, strict: true });
(addFormats as unknown as (a: Ajv2020) => void)(ajv);
const validateReport = ajv.compile(schema('quantlab.report-1.schema.json'));
const validateEval = ajv.compile(schema('quantlab.eval-1.schema.json'));
const errors = (v: { errors?: unknown }) => JSON.stringify(v.errors);

test('the shipped report schema accepts the bench reports in results/ and rejects a broken one', () => {
  for (const f of ['results/gpt2-brown-12m/report.json', 'results/quality/report.json']) {
    const r = JSON.parse(fs.readFileSync(path.join(root, f), 'utf8')) as { rows: Record<string, unknown>[] };
    assert.ok(validateReport(r), `${f}: ${errors(validateReport)}`);
    const broken = structuredClone(r);
    delete broken.rows[1].size;
    assert.equal(validateReport(broken), false);
    const wrongKind = structuredClone(r) as unknown as { recommendations: { kind: string }[] };
    wrongKind.recommendations[0].kind = 'maybe';
    assert.equal(validateReport(wrongKind), false);
  }
});

test('the shipped eval schema accepts what eval --json - writes, with the --kld-base block', async () => {
  const out: string[] = [];
  const log = console.log, error = console.error, write = jsonStdout.write;
  console.log = () => {}; console.error = () => {};
  jsonStdout.write = (s: string) => { out.push(s); };
  const model = path.join(root, 'models', 'gpt2-brown-12m');
  let code: number;
  try {
    code = await main(['eval', '--model', model, '--kld-base', model, '--max-tokens', '300', '--ctx', '64', '--no-latency', '--threads', '1', '--json', '-']);
  } finally { console.log = log; console.error = error; jsonStdout.write = write; }
  assert.equal(code, 0);
  const j = JSON.parse(out.join('')) as { kld: { mean: number }; top1: { agree: number } };
  assert.ok(validateEval(j), errors(validateEval));
  assert.ok(Math.abs(j.kld.mean) < 1e-9 && j.top1.agree === 1, 'a model against itself');
  const noTop1 = structuredClone(j) as Record<string, unknown>;
  delete noTop1.top1;
  assert.equal(validateEval(noTop1), false, 'kld without top1');
});
