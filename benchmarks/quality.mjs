// npm run bench:quality — issue 14's table: every method and weight-only algorithm on the embedded
// 12M GPT-2 (Brown test, ctx 512 stride 256), KLD and top-1 agreement against FP32 on the same
// windows, file size as a share of FP32, with llama.cpp's rows on the same model beside them
// (../shared/research/llamacpp-anchor.md: llama.cpp's own perplexity tool and windows). Runs
// `quantlab bench` (variants cached in results/quality/variants/, reused on a re-run) and writes
// results/quality/{report.*, summary.md}. METHODS overrides the list.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
// SECOND=1: the same table on a second model of another family, trained here (secondModel()).
const second = process.env.SECOND === '1';
const out = path.join(root, 'results', second ? 'quality-second' : 'quality');
const model = second ? secondModel() : path.join(root, 'models', 'gpt2-brown-12m');

/**
 * A Llama-style model (RMSNorm, SwiGLU, RoPE, grouped-query attention 6/2, untied head; GPT-2's BPE;
 * 6 layers, hidden 192, 21.7M parameters) from a seeded random init, trained by `quantlab train` on
 * Brown train (500 steps × 8 × 256 tokens, lr 2e-3). Cached in .cache/second-model/ (~30 min on 2 cores).
 */
function secondModel() {
  const dir = path.join(root, '.cache', 'second-model');
  const trained = path.join(dir, 'trained');
  if (fs.existsSync(path.join(trained, 'model.safetensors'))) return trained;
  const init = path.join(dir, 'init');
  const dist = (f) => JSON.stringify(path.join(root, 'dist', ...f.split('/')));
  const r0 = spawnSync(process.execPath, ['--input-type=module', '-e', `
    import fs from 'node:fs'; import path from 'node:path';
    const { tensorSpecs, writeRandomSafetensors } = await import(${dist('arch/synth.js')});
    const { decoderConfig } = await import(${dist('arch/index.js')});
    const dir = ${JSON.stringify(init)}, src = ${JSON.stringify(path.join(root, 'models', 'gpt2-brown-12m'))};
    fs.mkdirSync(dir, { recursive: true });
    const cfg = { architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 50257, hidden_size: 192, intermediate_size: 512, num_hidden_layers: 6, num_attention_heads: 6, num_key_value_heads: 2, hidden_act: 'silu', max_position_embeddings: 512, rms_norm_eps: 1e-5, rope_theta: 10000, initializer_range: 0.02, bos_token_id: 50256, eos_token_id: 50256, tie_word_embeddings: false, torch_dtype: 'float32' };
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg, null, 2));
    for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.json', 'merges.txt']) fs.copyFileSync(path.join(src, f), path.join(dir, f));
    writeRandomSafetensors(path.join(dir, 'model.safetensors'), tensorSpecs(decoderConfig(cfg, 'config.json')), { seed: 1, dtype: 'f32' });
  `], { stdio: 'inherit' });
  if (r0.status !== 0) process.exit(1);
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'quantlab.js'), 'train', '--model', init, '--out', trained, '--dataset', 'brown', '--steps', '500', '--batch', '8', '--seq', '256', '--lr', '2e-3', '--warmup', '30', '--val-tokens', '20000', '--val-ctx', '256', '--eval-every', '100', '--save-every', '100'], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(1);
  return trained;
}
const methods = process.env.METHODS ?? [
  'dynamic-int8', 'dynamic-int8:per-token', 'dynamic-int8:per-token+full-range', 'dynamic-int8:gptq+per-token+full-range',
  'static-int8', 'int8-weight', 'int8-weight:gptq',
  'int4-weight', 'int4-weight:imatrix', 'int4-weight:awq', 'int4-weight:gptq', 'int4-weight:gptq-act',
  'int4-weight:gptq@18%', 'int4-weight:gptq@28%',
].join(',');
const r = spawnSync(process.execPath, [path.join(root, 'bin', 'quantlab.js'), 'bench', '--model', model, '--methods', methods, '--out', out, '--reps', '3', '--no-memory'], { stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);

const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
const m = report.machine ?? {};
const fp32 = report.rows.find((x) => x.method === 'fp32');
const fmt = (v, d = 2) => (v == null ? '—' : v.toFixed(d));
let md = second
  ? `# Quality of every method on a second model: Llama-style, 21.7M parameters, trained here (SECOND=1 npm run bench:quality)\n\n`
  : `# Quality of every method on the embedded 12M GPT-2 (npm run bench:quality)\n\n`;
md += `${report.created} · ${m.cpu ?? '?'} (${(m.cpu_features ?? []).join(', ')}) · ${m.cores ?? '?'} cores\n\n`;
md += `Brown test, ctx 512 stride 256, ${fp32?.quality?.tokens ?? report.rows.find((x) => x.quality)?.quality.tokens ?? '?'} tokens scored; KLD and top-1 against FP32 on the same windows (± standard error). Size = model file / FP32 file.\n\n`;
md += '| method | size vs FP32 | KLD mean | top-1 agree | PPL | decode × FP32 |\n|---|---:|---:|---:|---:|---:|\n';
for (const row of report.rows) {
  const q = row.quality;
  const kld = q && row.method !== 'fp32' ? `${q.kld_mean.toExponential(2)} ± ${q.kld_stderr.toExponential(1)}` : '—';
  const top = q && row.method !== 'fp32' ? `${q.same_top_pct.toFixed(2)}% ± ${(q.same_top_stderr_pct ?? 0).toFixed(2)}` : '—';
  const share = fp32 ? `${((100 * row.size.file_bytes) / fp32.size.file_bytes).toFixed(1)}%` : '—';
  md += `| ${row.method} | ${share} | ${kld} | ${top} | ${fmt(row.perplexity)} | ${row.speedup_decode == null ? '—' : `${row.speedup_decode.toFixed(2)}×`} |\n`;
}
if (second) {
  const tr = JSON.parse(fs.readFileSync(path.join(model, 'train_result.json'), 'utf8'));
  md += `\nThe model: ${model.replace(root + path.sep, '')} (see secondModel() in benchmarks/quality.mjs); training result: ${JSON.stringify(tr.validation?.at?.(-1) ?? tr).slice(0, 200)}.\n\n`;
} else {
  md += `| *llama.cpp Q8_0* | *29.7%* | *1.19e-4* | *99.15%* | | |\n| *llama.cpp Q4_K_M (mostly q5_0/q8_0 here)* | *27.9%* | *1.31e-3* | *97.06%* | | |\n`;
  md += `| *llama.cpp Q4_K_M + imatrix* | *27.9%* | *1.06e-3* | *97.15%* | | |\n| *llama.cpp Q4_0 \`--pure\`* | *17.8%* | *1.25e-2* | *90.39%* | | |\n| *llama.cpp Q4_0 \`--pure\` + imatrix* | *17.8%* | *1.25e-2* | *90.20%* | | |\n\n`;
  md += `llama.cpp rows (italic): ../shared/research/llamacpp-anchor.md, its perplexity tool's KLD on its own windows of the same text; not re-run here.\n\n`;
}
md += `The decode column comes from 3 interleaved repetitions of ${report.rows.length} variants (0.2 s each): same-format rows (int8-weight with and without GPTQ) differ by up to 1.7×, so read it as rough; speed claims are in results/speed/ (npm run bench:speed).\n`;
fs.writeFileSync(path.join(out, 'summary.md.tmp'), md);
fs.renameSync(path.join(out, 'summary.md.tmp'), path.join(out, 'summary.md'));
console.log(md);
