// npm run fuzz — every parser's fuzz target (src/testing/fuzz.ts) for many cases: FUZZ_RUNS per
// target (default 20,000), FUZZ_SEED (default: today's date as a number), FUZZ_TARGETS to pick some.
// Writes results/fuzz/{summary.json, summary.md}: cases, read, refused, crashes, hangs (> 5 s) per
// target, with the date, seed and machine; exits 1 when any target crashed or hung.
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const { FUZZ_TARGETS, runFuzz, HANG_MS } = await import('../dist/testing/fuzz.js');
const { machineInfo } = await import('../dist/index.js');
const runs = Number(process.env.FUZZ_RUNS ?? 20000);
const date = new Date().toISOString();
const seed = Number(process.env.FUZZ_SEED ?? date.slice(0, 10).replaceAll('-', ''));
const pick = process.env.FUZZ_TARGETS?.split(',');
const rows = [];
for (const t of FUZZ_TARGETS.filter((x) => !pick || pick.includes(x.name))) {
  const s = await runFuzz(t, runs, seed);
  rows.push(s);
  console.log(`${t.name}: ${s.cases} cases, ${s.ok} read, ${s.refused} refused, ${s.crashCount} crashes, ${s.hangs} hangs, slowest ${s.slowestMs.toFixed(0)} ms, ${s.seconds.toFixed(0)} s`);
  for (const c of s.crashes) console.log(`  crash: ${c}`);
}
const machine = machineInfo();
const out = path.join(root, 'results', 'fuzz');
fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(path.join(out, 'summary.json'), JSON.stringify({ date, seed, runs_per_target: runs, hang_ms: HANG_MS, machine, targets: rows }, null, 2) + '\n');
const md = [
  '# Fuzzing every parser (npm run fuzz)', '',
  `${date} · seed ${seed} · ${runs.toLocaleString('en-US')} cases per target · ${machine.cpu} (${(machine.cpu_features ?? []).join(', ')}), ${machine.cores} cores · Node ${process.version}`, '',
  'Each case is a mutated input read as quantlab reads it (src/testing/fuzz.ts). The contract: read, or refused with one line that starts with the file\'s path; a crash is any other exception, a hang any case over 5 s. Rerun a row with `FUZZ_SEED=<seed> FUZZ_TARGETS=<target> npm run fuzz`.', '',
  '| target | what is mutated / what reads it | cases | read | refused | crashes | hangs | slowest case ms | s |',
  '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map((s) => `| ${s.target} | ${s.what} | ${s.cases} | ${s.ok} | ${s.refused} | ${s.crashCount} | ${s.hangs} | ${s.slowestMs.toFixed(0)} | ${s.seconds.toFixed(0)} |`),
  '',
].join('\n');
fs.writeFileSync(path.join(out, 'summary.md'), md);
process.exit(rows.some((s) => s.crashCount || s.hangs) ? 1 : 0);
