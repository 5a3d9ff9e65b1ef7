import fs from 'node:fs';
import { loadModel } from '../dist/load/index.js';
import { DecoderRunner } from '../dist/runtime/decoder.js';
import { lastPositionLogits } from '../dist/runtime/last-logits.js';
// onnxruntime per-op profile of a 512-token prefill (4 runs) for each model folder: where the time goes.
// Usage (after `npx tsc -p .`): node scripts/profile-prefill.mjs <threads> <model folder>...
import os from 'node:os';
const threads = Number(process.argv[2] ?? 1);
const out = fs.mkdtempSync(`${os.tmpdir()}/ql-prof-`);
for (const d of process.argv.slice(3)) {
  const full = loadModel(d).graph({ kvCache: true });
  const m = lastPositionLogits(full) ?? full;
  const pfx = `${out}/prof-${d.split('/').pop()}`;
  const r = await DecoderRunner.create(m, { threads, profilePrefix: pfx });
  const ids = BigInt64Array.from({ length: 512 }, (_, i) => BigInt((i * 7919) % 50257));
  for (let i = 0; i < 4; i++) await r.run(ids, 1);
  await r.session.endProfiling?.();
  await r.release();
  const f = fs.readdirSync(out).filter((x) => x.startsWith(pfx.split('/').pop()) && x.endsWith('.json')).map((x) => `${out}/${x}`).sort().pop();
  const ev = JSON.parse(fs.readFileSync(f, 'utf8')).filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
  const runs = JSON.parse(fs.readFileSync(f, 'utf8')).filter((e) => e.name === 'model_run').map((e) => e.dur / 1000);
  const by = {}, byNode = {};
  for (const e of ev) {
    const k = e.args.op_name; by[k] = (by[k] ?? 0) + e.dur / 1000 / 4;
    const n = e.name.replace(/_kernel_time$/, ''); byNode[n] = (byNode[n] ?? 0) + e.dur / 1000 / 4;
  }
  const tot = Object.values(by).reduce((a, b) => a + b, 0);
  console.log(d.split('/').pop(), 'model_run ms', runs.map((x) => x.toFixed(0)).join(' '), 'kernel ms/run', tot.toFixed(1));
  console.log('  ', Object.entries(by).sort((a, b) => b[1] - a[1]).slice(0, 9).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', '));
  console.log('   top nodes:', Object.entries(byNode).sort((a, b) => b[1] - a[1]).slice(0, 3).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', '));
  fs.rmSync(f);
}
