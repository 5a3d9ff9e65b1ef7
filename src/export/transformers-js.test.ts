import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AutoModelForCausalLM, AutoTokenizer, env } from '@huggingface/transformers';
import * as ortNode from 'onnxruntime-node';
import { main } from '../cli/main.js';
import { loadModel, type LoadedModel } from '../load/index.js';
import { readModel } from '../onnx/read.js';
import { writeModel } from '../onnx/write.js';
import { methodByKind } from '../passes/registry.js';
import { DecoderRunner } from '../runtime/decoder.js';
import { greedyGenerate } from '../runtime/generate.js';
import { ort } from '../runtime/session.js';
import { fixtureDir, repoRoot } from '../testing/fixtures.js';
import { writeWordTokenizer } from '../testing/word-tokenizer.js';
import { sha256File } from '../util/fsx.js';
import { modelFileName, TJS_DTYPES, type DtypeSpec } from './dtypes.js';
import { cachedGreedy, kvLayout, type OrtLike, type SessionLike } from './ort-loop.js';
import { checkParity, KV_TOLERANCE, RUNTIME_TOLERANCE, type ParityRow, type PathComparison } from './parity.js';
import { EXPORT_INDEX, exportTransformersJs, type ExportResult, type VariantRecord } from './transformers-js.js';

const NEW_TOKENS = 20;
// static-int8 (int8) calibrates on text for ~10 s per model: covered by the CLI, left out here to keep the suite fast.
const DTYPES: DtypeSpec[] = TJS_DTYPES.filter((d) => d.dtype !== 'int8');

interface Case {
  name: string;
  source: string;
  prompt: string;
  externalData: 'auto' | 'always';
  model?: LoadedModel;
  result?: ExportResult;
  out: string;
}

let root: string;
const cases: Case[] = [
  { name: 'gpt2', source: path.join(repoRoot, 'models', 'gpt2-brown-12m'), prompt: 'The jury said that the city', externalData: 'auto', out: '' },
  // GQA Llama fixture (no tokenizer: a word-level one is written beside it); external data forced to test that convention.
  { name: 'llama', source: '', prompt: 'w5 w9 w17 w40 w3', externalData: 'always', out: '' },
];

const written = (c: Case): VariantRecord[] => c.result!.variants.flatMap((v) => (v.status === 'written' ? [v.record] : []));

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-tjs-'));
  const llamaSrc = path.join(root, 'llama-src');
  fs.mkdirSync(llamaSrc);
  for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.join(fixtureDir('llama-gqa-untied'), f), path.join(llamaSrc, f));
  writeWordTokenizer(llamaSrc, 96);
  cases[1].source = llamaSrc;
  for (const c of cases) {
    c.out = path.join(root, c.name);
    c.model = loadModel(c.source);
    c.result = await exportTransformersJs({ model: c.model, out: c.out, dtypes: DTYPES, externalData: c.externalData });
  }
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = root + path.sep;
});

after(() => { if (root) fs.rmSync(root, { recursive: true, force: true }); });

describe('transformers.js export: folder layout', () => {
  test('one file per dtype whose methods are registered; the others are reported unavailable, not written', () => {
    for (const c of cases) {
      for (const spec of DTYPES) {
        const v = c.result!.variants.find((x) => x.dtype === spec.dtype)!;
        const registered = spec.steps.every((s) => methodByKind(s.kind));
        const file = path.join(c.out, 'onnx', modelFileName(spec));
        if (registered) {
          assert.equal(v.status, 'written', `${c.name} ${spec.dtype}: ${v.status === 'written' ? '' : v.reason}`);
          assert.ok(fs.existsSync(file));
        } else {
          assert.equal(v.status, 'unavailable');
          assert.match(v.status === 'unavailable' ? v.reason : '', /not registered/);
          assert.ok(!fs.existsSync(file), `${file} must not exist`);
        }
      }
      assert.ok(written(c).some((r) => r.dtype === 'fp32'));
    }
  });

  test('config, generation config, tokenizer files and per-variant records', () => {
    for (const c of cases) {
      const src = JSON.parse(fs.readFileSync(path.join(c.source, 'config.json'), 'utf8')) as Record<string, unknown>;
      const cfg = JSON.parse(fs.readFileSync(path.join(c.out, 'config.json'), 'utf8')) as Record<string, unknown>;
      const { ['transformers.js_config']: tjs, ...rest } = cfg;
      assert.deepEqual(rest, src);
      for (const f of ['generation_config.json', 'tokenizer.json', 'tokenizer_config.json', EXPORT_INDEX]) assert.ok(fs.existsSync(path.join(c.out, f)), `${c.name}: ${f}`);
      const index = JSON.parse(fs.readFileSync(path.join(c.out, EXPORT_INDEX), 'utf8')) as { complete: boolean; variants: { dtype: string; status: string }[] };
      assert.equal(index.complete, true);
      assert.deepEqual(index.variants.map((v) => `${v.dtype}:${v.status}`), c.result!.variants.map((v) => `${v.dtype}:${v.status}`));
      const gen = JSON.parse(fs.readFileSync(path.join(c.out, 'generation_config.json'), 'utf8')) as Record<string, unknown>;
      assert.equal(gen.eos_token_id, src.eos_token_id);
      for (const r of written(c)) {
        const file = path.join(c.out, r.file);
        assert.equal(r.sha256, sha256File(file));
        assert.equal(r.source.hash, c.model!.hash);
        assert.deepEqual(r.steps.map((s) => s.method.kind), TJS_DTYPES.find((d) => d.dtype === r.dtype)!.steps.map((s) => s.kind));
        const rec = JSON.parse(fs.readFileSync(file.replace(/\.onnx$/, '.quantlab.json'), 'utf8')) as VariantRecord;
        assert.equal(rec.sha256, r.sha256);
        assert.ok(r.io.inputs.some((i) => i.name === 'position_ids'), 'position_ids is an input');
        if (c.externalData === 'always') {
          // transformers.js v4 fetches `${file}_data` when config lists the file in use_external_data_format.
          assert.equal(r.external_data, `${r.file}_data`);
          assert.ok(fs.statSync(path.join(c.out, r.external_data!)).size > 0);
          assert.equal((tjs as { use_external_data_format: Record<string, number> }).use_external_data_format[path.basename(r.file)], 1);
        } else {
          assert.equal(r.external_data, null);
        }
      }
      if (c.externalData === 'auto') assert.equal(tjs, undefined, 'no transformers.js_config when nothing needs it');
    }
  });
});

describe('transformers.js (onnxruntime-node) generates what quantlab generates', () => {
  for (const c of cases) {
    test(`${c.name}: every variant, 20 greedy tokens from the local folder`, async () => {
      const tok = await AutoTokenizer.from_pretrained(c.name);
      const enc = tok(c.prompt);
      const prompt = (enc.input_ids.tolist() as bigint[][])[0].map(Number);
      // The library's tokenizer reads the exported tokenizer files as quantlab's does (Llama's adds <s>).
      const ours = c.model!.tokenizer!.encode(c.prompt);
      assert.deepEqual(prompt, c.name === 'llama' ? [1, ...ours] : ours);
      const eos = (JSON.parse(fs.readFileSync(path.join(c.out, 'generation_config.json'), 'utf8')) as { eos_token_id: number }).eos_token_id;
      for (const r of written(c)) {
        const model = await AutoModelForCausalLM.from_pretrained(c.name, { dtype: r.dtype as never, device: 'cpu' });
        let lib: number[];
        try {
          assert.ok((model.sessions as Record<string, unknown>).model instanceof (ortNode.InferenceSession as unknown as new () => object), 'transformers.js runs onnxruntime-node');
          const out = await model.generate({ ...enc, max_new_tokens: NEW_TOKENS, do_sample: false } as never) as unknown as { tolist(): bigint[][] };
          lib = out.tolist()[0].slice(prompt.length).map(Number);
        } finally { await model.dispose(); }

        const m = readModel(path.join(c.out, r.file));
        const runner = await DecoderRunner.create(m);
        let mine: number[];
        try {
          mine = kvLayout(m).dtype === 'float32'
            ? (await greedyGenerate(runner, [prompt], { maxNewTokens: NEW_TOKENS, eosTokenId: eos })).tokens[0]
            // DecoderRunner starts from a float32 cache; a float16-cache file runs through the same loop on the same session.
            : (await cachedGreedy(ort as unknown as OrtLike, runner.session as unknown as SessionLike, kvLayout(m), prompt, NEW_TOKENS)).tokens;
        } finally { await runner.release(); }
        console.log(`  ${c.name} ${r.dtype.padEnd(6)} transformers.js ${lib.join(',')}`);
        assert.equal(mine.length, NEW_TOKENS, `${c.name} ${r.dtype}: quantlab stopped early (eos) — pick another prompt`);
        assert.deepEqual(lib, mine, `${c.name} ${r.dtype}: transformers.js vs quantlab greedy tokens`);
      }
    });
  }
});

describe('parity: KV-cache vs full-sequence path, onnxruntime-web (WASM) vs onnxruntime-node', () => {
  for (const c of cases) {
    test(`${c.name}: every variant`, async () => {
      const prompt = c.model!.tokenizer!.encode(c.prompt);
      const rows = await checkParity({ dir: c.out, prompt, newTokens: NEW_TOKENS, web: true });
      assert.deepEqual(rows.map((r) => r.dtype).sort(), written(c).map((r) => r.dtype).sort());
      for (const r of rows) {
        assert.equal(r.error, undefined, `${c.name} ${r.dtype}: ${r.error}`);
        const rec = written(c).find((x) => x.dtype === r.dtype)!;
        const kv = r.kvVsFull!;
        const web = r.web!;
        console.log(`  ${c.name} ${r.dtype.padEnd(6)} kv-vs-full ${kv.maxAbs.toExponential(2)} ${kv.tokenAgree}/${NEW_TOKENS}  ` +
          `web ${'error' in web ? `error: ${web.error}` : `${web.maxAbs.toExponential(2)} ${web.tokenAgree}/${NEW_TOKENS}${web.ties ? ` +${web.ties} tie` : ''}`}` +
          (r.vsFp32 ? `  vs fp32 ${r.vsFp32.maxAbs.toExponential(2)} ${r.vsFp32.tokenAgree}/${NEW_TOKENS}` : ''));
        // The export warns exactly for the files the web runtime cannot load (WEB_LIMITATIONS is measured, not guessed).
        if (rec.web_warnings.length) { assert.ok('error' in web, `${c.name} ${r.dtype}: export warned (${rec.web_warnings[0]}) but onnxruntime-web ran it`); continue; }
        assert.ok(!('error' in web), `${c.name} ${r.dtype}: onnxruntime-web failed without an export warning: ${'error' in web ? web.error : ''}`);
        const w = web as PathComparison;
        // Logits within the dtype's tolerance; greedy tokens equal except near-ties (top-2 gap ≤ 2·tolerance).
        assert.ok(w.maxAbs <= RUNTIME_TOLERANCE[r.dtype], `${c.name} ${r.dtype}: web vs node max |Δ| ${w.maxAbs}`);
        assert.equal(w.tokenAgree + w.ties, NEW_TOKENS, `${c.name} ${r.dtype}: web tokens`);
        assert.ok(w.tokenAgree >= NEW_TOKENS - 2, `${c.name} ${r.dtype}: at most 2 tie flips, got ${w.ties}`);
        assert.ok(kv.maxAbs <= KV_TOLERANCE[r.dtype], `${c.name} ${r.dtype}: kv vs full max |Δ| ${kv.maxAbs}`);
        assert.equal(kv.tokenAgree, NEW_TOKENS, `${c.name} ${r.dtype}: kv vs full tokens`);
        assert.ok(r.ok);
      }
      const fp32 = rows.find((r) => r.dtype === 'fp32')!;
      assert.ok(fp32.kvVsFull!.maxAbs < 1e-4 && (fp32.web as PathComparison).maxAbs < 1e-4, 'fp32 paths agree to float rounding');
    });
  }
});

describe('quantlab check', () => {
  const quiet = async (argv: string[]): Promise<number> => {
    const log = console.log;
    console.log = () => {};
    try { return await main(argv); } finally { console.log = log; }
  };

  test('exits 0 when the paths agree and 1 when the KV-cache path is broken', async () => {
    const c = cases[1];
    assert.equal(await quiet(['check', '--model', c.out, '--prompt', c.prompt, '--dtypes', 'fp32', '--transformers-js']), 0);
    // Swap what layer 0 returns as its key and value cache: the first pass (empty cache) is unaffected,
    // every later step attends to the wrong tensors.
    const broken = path.join(root, 'llama-broken');
    fs.mkdirSync(path.join(broken, 'onnx'), { recursive: true });
    for (const f of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(c.out, f), path.join(broken, f));
    const m = readModel(path.join(c.out, 'onnx', 'model.onnx'));
    const g = m.graph;
    const k = g.mustValue('present.0.key');
    const v = g.mustValue('present.0.value');
    g.renameValue(k, 'tmp_present');
    g.renameValue(v, 'present.0.key');
    g.renameValue(k, 'present.0.value');
    writeModel(m, path.join(broken, 'onnx', 'model.onnx'));
    const rows: ParityRow[] = await checkParity({ dir: broken, prompt: c.model!.tokenizer!.encode(c.prompt), newTokens: NEW_TOKENS });
    assert.ok(rows[0].kvVsFull!.maxAbs > 0.01, `broken cache must show: ${rows[0].kvVsFull!.maxAbs}`);
    assert.equal(await quiet(['check', '--model', broken, '--prompt', c.prompt]), 1);
  });
});

describe('quantlab export', () => {
  const run = async (argv: string[]): Promise<{ code: number; out: string; err: string }> => {
    const log = console.log;
    const error = console.error;
    let out = '';
    let err = '';
    console.log = (...a: unknown[]) => { out += `${a.join(' ')}\n`; };
    console.error = (...a: unknown[]) => { err += `${a.join(' ')}\n`; };
    try { return { code: await main(argv), out, err }; } finally { console.log = log; console.error = error; }
  };

  test('re-export replaces an earlier export; refuses other non-empty folders and unknown dtypes; warns without a tokenizer', async () => {
    const out = path.join(root, 'cli-llama');
    const src = fixtureDir('llama-mha'); // no tokenizer files
    let r = await run(['export', '--model', src, '--format', 'transformers.js', '--dtypes', 'fp32,q4', '--external-data', 'always', '--out', out]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /no tokenizer\.json/);
    assert.match(r.out, /^q4 +written +onnx\/model_q4\.onnx/m);
    assert.ok(fs.existsSync(path.join(out, 'onnx', 'model_q4.onnx_data')));
    r = await run(['export', '--model', src, '--format', 'transformers.js', '--dtypes', 'fp32', '--out', out]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(fs.readdirSync(path.join(out, 'onnx')).sort(), ['model.onnx', 'model.quantlab.json']);
    const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(cfg['transformers.js_config'], undefined);

    const other = path.join(root, 'not-an-export');
    fs.mkdirSync(other);
    fs.writeFileSync(path.join(other, 'notes.txt'), 'keep me');
    r = await run(['export', '--model', src, '--format', 'transformers.js', '--dtypes', 'fp32', '--out', other]);
    assert.equal(r.code, 1);
    assert.match(r.err, /not empty/);
    assert.equal(fs.readFileSync(path.join(other, 'notes.txt'), 'utf8'), 'keep me');
    r = await run(['export', '--model', src, '--format', 'transformers.js', '--dtypes', 'fp32,q3', '--out', path.join(root, 'x')]);
    assert.equal(r.code, 2);
    assert.match(r.err, /unknown transformers\.js dtype 'q3'/);
    r = await run(['export', '--model', src, '--format', 'onnx', '--out', path.join(root, 'x')]);
    assert.equal(r.code, 2);
  });
});
