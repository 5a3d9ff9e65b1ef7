#!/usr/bin/env node
// Launcher: keeps glibc from mmap-ing every large output buffer anew (page faults distort
// latency on this class of VM; see docs/measurement.md), then runs the compiled CLI.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const TUNABLES = 'glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296';
if (!process.env.GLIBC_TUNABLES && process.platform === 'linux') {
  const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit', env: { ...process.env, GLIBC_TUNABLES: TUNABLES },
  });
  process.exit(r.status ?? (r.signal ? 130 : 1));
} else {
  const { main } = await import('../dist/cli/main.js');
  process.exitCode = await main(process.argv.slice(2));
}
