import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readFully, writeAll } from '../util/fsx.js';
import type { DType } from './dtype.js';
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
    writeAll(this.fd, b, at);
    this.offset += b.length;
    this.bytes += b.length;
    return fileTensor(this.fd, { dtype: t.dtype, dims: t.dims, offset: at, length: b.length });
  }
}

/** Where a tensor's bytes sit in an open file. */
export interface FileSlice { dtype: DType; dims: number[]; offset: number; length: number }

/**
 * A lazy tensor reading `s` from `fd` (spilled and journaled weights). It holds only the slice's
 * numbers, never the tensor that was written: that would keep the in-memory copy alive.
 */
export function fileTensor(fd: number, s: FileSlice): Tensor {
  const { dtype, offset, length } = s, dims = [...s.dims];
  return new Tensor(dtype, dims, () => {
    const buf = readFully(fd, length, offset, () => new Error(`weight data ends before byte ${offset + length}: the file was truncated or closed`));
    return Tensor.fromBytes(dtype, dims, buf).data;
  });
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
