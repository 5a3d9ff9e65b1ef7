#!/usr/bin/env node
// Launcher: keeps glibc from mmap-ing every large output buffer anew (page faults distort
// latency on this class of VM; see docs/speed.md), then runs the compiled CLI. The settings must
// be in the environment before the process starts, so the CLI runs as a child: the launcher waits
// for it and exits with its code. The child has its own process group, so a terminal's Ctrl-C
// reaches the launcher only, which passes every SIGINT / SIGTERM / SIGHUP on exactly once: the
// child stops cleanly (bench: first Ctrl-C stops at a checkpoint, a second exits at once) and the
// launcher exits after it, never before.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const TUNABLES = 'glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296';
if (!process.env.GLIBC_TUNABLES && process.platform === 'linux') {
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit', env: { ...process.env, GLIBC_TUNABLES: TUNABLES }, detached: true,
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => { if (child.exitCode === null) child.kill(sig); });
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 + ({ SIGINT: 2, SIGTERM: 15, SIGHUP: 1 }[signal] ?? 0) : 1)));
} else {
  const { main } = await import('../dist/cli/main.js');
  process.exitCode = await main(process.argv.slice(2));
}
