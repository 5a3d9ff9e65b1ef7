// The allocator settings of the CLI launcher (bin/quantlab.js) for a benchmark: glibc must not
// mmap large buffers anew per call (page faults distort latency on this class of VM, docs/speed.md).
// They must be in the environment before the process starts: without them the benchmark re-runs
// itself as a child with them and exits with its code.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const TUNABLES = 'glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296';

/** Call first, with the benchmark's `import.meta.url`. */
export function withAllocatorSettings(url) {
  if (process.env.GLIBC_TUNABLES || process.platform !== 'linux') return;
  const r = spawnSync(process.execPath, [fileURLToPath(url), ...process.argv.slice(2)], { stdio: 'inherit', env: { ...process.env, GLIBC_TUNABLES: TUNABLES } });
  process.exit(r.status ?? 1);
}
