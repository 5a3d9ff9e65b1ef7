// Training throughput of quantlab (onnxruntime-node) vs PyTorch on the same model, batch and
// sequence length, each in its own process (so peak RSS is per implementation), in one run.
// Usage: node bench/train-throughput.mjs [model folder] [batch] [seq] [steps] [threads]
// (run `npx tsc -p .` first; PyTorch from /usr/bin/python3).
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const [model = path.join(here, '..', '..', 'shared', 'models', 'gpt2-brown-12m'), B = '8', T = '128', steps = '6', threads = String(os.availableParallelism())] = process.argv.slice(2);

if (process.env.QUANTLAB_BENCH_CHILD) {
  const { loadModel } = await import('../dist/load/index.js');
  const { Trainer } = await import('../dist/train/trainer.js');
  const b = Number(B), t = Number(T);
  const tr = await Trainer.create(loadModel(model).graph({ kvCache: false }), { schedule: { peak: 1e-5, warmupSteps: 1, totalSteps: Number(steps) }, threads: Number(threads) });
  const V = JSON.parse((await import('node:fs')).readFileSync(path.join(model, 'config.json'), 'utf8')).vocab_size;
  const ids = BigInt64Array.from({ length: b * t }, (_, i) => BigInt((i * 7919) % V));
  const times = [];
  let first;
  for (let s = 0; s < Number(steps); s++) {
    const t0 = performance.now();
    const r = await tr.trainStep(ids, b, t);
    times.push((performance.now() - t0) / 1000);
    first ??= r.loss;
  }
  const steady = (times.length > 1 ? times.slice(1) : times).sort((x, y) => x - y);
  const med = steady[steady.length >> 1];
  console.log(JSON.stringify({ impl: 'quantlab', threads: Number(threads), batch: b, seq: t, step_s: med, tokens_per_s: (b * t) / med, peak_rss_mib: process.resourceUsage().maxRSS / 1024, first_loss: first }));
} else {
  const run = (cmd, args, env = {}) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env } });
    if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').at(-1));
  };
  const q = run(process.execPath, [fileURLToPath(import.meta.url), model, B, T, steps, threads], { QUANTLAB_BENCH_CHILD: '1' });
  const p = run('/usr/bin/python3', [path.join(here, 'train_torch.py'), model, B, T, steps, threads]);
  console.log(JSON.stringify(q));
  console.log(JSON.stringify(p));
  console.log(`first-step loss: quantlab ${q.first_loss.toFixed(5)}, pytorch ${p.first_loss.toFixed(5)} (same weights and batch: should agree)`);
  console.log(`throughput ratio quantlab/pytorch: ${(q.tokens_per_s / p.tokens_per_s).toFixed(3)} (${q.tokens_per_s.toFixed(0)} vs ${p.tokens_per_s.toFixed(0)} tokens/s); peak RSS ${q.peak_rss_mib.toFixed(0)} vs ${p.peak_rss_mib.toFixed(0)} MiB`);
}
