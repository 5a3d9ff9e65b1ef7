import fs from 'node:fs';
import path from 'node:path';

/**
 * Write `file` through a temporary file in the same folder, then rename: `write` streams into the
 * temp file's descriptor (see `writeAll`); on any error the temp file is removed and `file` is untouched.
 */
export function writeFileAtomicWith(file: string, write: (fd: number) => void): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  const fd = fs.openSync(tmp, 'w');
  try {
    write(fd);
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
}

/** Write all of `b` at the descriptor's position, or at `pos`. */
export function writeAll(fd: number, b: Uint8Array, pos?: number): void {
  for (let o = 0; o < b.length;) o += fs.writeSync(fd, b, o, b.length - o, pos === undefined ? null : pos + o);
}

/** Exactly `len` bytes of `fd` from `pos` (past 2 GiB too); a file that ends first throws `short()`, never loops. */
export function readFully(fd: number, len: number, pos: number, short: () => Error): Buffer {
  const b = Buffer.allocUnsafeSlow(len);
  for (let o = 0; o < len;) {
    const n = fs.readSync(fd, b, o, Math.min(len - o, 1 << 30), pos + o);
    if (n <= 0) throw short();
    o += n;
  }
  return b;
}

/** Write chunks (or a string) to `file` atomically. */
export function writeFileAtomic(file: string, chunks: Uint8Array[] | string): void {
  writeFileAtomicWith(file, (fd) => {
    if (typeof chunks === 'string') fs.writeSync(fd, chunks);
    else for (const c of chunks) writeAll(fd, c);
  });
}

export function writeJsonAtomic(file: string, obj: unknown): void {
  writeFileAtomic(file, JSON.stringify(obj, null, 2) + '\n');
}

/** Where `--json -` goes (stdout; a test swaps it). */
export const jsonStdout = { write: (s: string): void => { process.stdout.write(s); } };

/** A command's --json target: a file written atomically, or `-` for stdout. */
export function writeJsonTo(target: string, obj: unknown): void {
  if (target === '-') jsonStdout.write(JSON.stringify(obj, null, 2) + '\n');
  else writeJsonAtomic(target, obj);
}

export function sha256File(file: string): string {
  // Streamed in chunks so multi-GB files do not need to fit in memory.
  const h = cryptoHash();
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.allocUnsafe(8 << 20);
  try {
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally { fs.closeSync(fd); }
  return h.digest('hex');
}

import { createHash } from 'node:crypto';
function cryptoHash() { return createHash('sha256'); }
