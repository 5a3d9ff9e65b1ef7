import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Tensor } from './tensor.js';

/** Tensors smaller than this stay in memory. */
const MIN_BYTES = 1 << 20;

/**
 * An unlinked temporary file that large new initializers are written to as a pass creates them,
 * each replaced by a lazy tensor reading it back: quantizing a model larger than memory then holds
 * neither the input (lazy) nor the output (spilled) in RAM. The file has no name once opened, so
 * the kernel reclaims it when the process ends, however it ends.
 */
export class SpillFile {
  private readonly fd: number;
  private offset = 0;
  bytes = 0;

  constructor(dir = os.tmpdir(), private readonly minBytes = MIN_BYTES) {
    const file = path.join(dir, `quantlab-spill-${process.pid}-${Date.now()}`);
    this.fd = fs.openSync(file, 'w+');
    fs.unlinkSync(file);
  }

  /** The tensor itself when small or already lazy, else a lazy copy backed by this file. */
  put(t: Tensor): Tensor {
    if (t.lazy || t.byteLength < this.minBytes) return t;
    const b = t.bytes();
    const at = this.offset;
    for (let o = 0; o < b.length;) o += fs.writeSync(this.fd, b, o, b.length - o, at + o);
    this.offset += b.length;
    this.bytes += b.length;
    // The loader must not capture `t`: that would keep the in-memory copy alive.
    const fd = this.fd, len = b.length, dtype = t.dtype, dims = [...t.dims];
    return new Tensor(dtype, dims, () => {
      const buf = new Uint8Array(len);
      for (let o = 0; o < len;) {
        const n = fs.readSync(fd, buf, o, Math.min(len - o, 1 << 30), at + o);
        if (n <= 0) throw new Error(`spilled weight data ends at byte ${at + o}`);
        o += n;
      }
      return Tensor.fromBytes(dtype, dims, buf).data;
    });
  }
}

let active: SpillFile | null = null;

/** The spill file new initializers go to, while `withSpill` runs. */
export const activeSpill = (): SpillFile | null => active;

/** Run `fn` with new large initializers spilled to `file`. */
export async function withSpill<T>(file: SpillFile | null, fn: () => Promise<T>): Promise<T> {
  const prev = active;
  active = file;
  try { return await fn(); } finally { active = prev; }
}
