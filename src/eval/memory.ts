import fs from 'node:fs';
import os from 'node:os';
import { InputError } from '../util/errors.js';

/** Memory a model needs to run: its weights once in onnxruntime plus activations and the runtime (≈ 15% + 1 GB). */
export const runMemoryBytes = (weightBytes: number): number => weightBytes * 1.15 + 2 ** 30;

export const gb = (b: number): string => (b >= 1e9 ? `${(b / 1e9).toFixed(1)} GB` : `${(b / 1e6).toFixed(0)} MB`);

/**
 * The memory this process may use: the machine's, or the container's limit when lower (cgroup v2
 * memory.max / v1 limit_in_bytes: os.totalmem() reports the host's inside a container), or
 * QUANTLAB_MEMORY_LIMIT (bytes) when set.
 */
export function memoryLimitBytes(): number {
  let limit = os.totalmem();
  for (const f of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    try { const v = Number(fs.readFileSync(f, 'utf8').trim()); if (Number.isFinite(v) && v > 0) limit = Math.min(limit, v); } catch { /* not there */ }
  }
  const env = Number(process.env.QUANTLAB_MEMORY_LIMIT);
  return env > 0 ? Math.min(limit, env) : limit;
}

/** Refuse up front, with the bytes it needs, a model whose weights cannot run in this memory. */
export function assertFitsInMemory(source: string, weightBytes: number, have = memoryLimitBytes()): void {
  const need = runMemoryBytes(weightBytes);
  if (need > have) throw new InputError(source, `needs ≈ ${gb(need)} of memory to run (${gb(weightBytes)} of weights), this machine allows ${gb(have)}; quantize it first (quantlab quantize writes models larger than memory)`);
}
