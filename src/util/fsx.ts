import fs from 'node:fs';
import path from 'node:path';

/**
 * Write `file` through a temporary file in the same folder, then rename: `write` streams into the
 * temp file's descriptor (see `writeAll`); on any error the temp file is removed and `file` is untouched.
 */
export function writeFileAtomicWith(file: string, write: (fd: number) => void): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  let fd: number | null = null;
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fd = fs.openSync(tmp, 'w');
    write(fd);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== null) try { fs.closeSync(fd); } catch { /* the write error is the one to report */ }
    fs.rmSync(tmp, { force: true });
    throw writeError(file, e);
  }
}

/**
 * A failed write (disk full, I/O error) as one line naming the file quantlab was writing; an error
 * that already names its file (or is not from the file system) is passed on as it is.
 */
export class WriteError extends Error {
  constructor(readonly file: string, readonly code: string | undefined, message: string) { super(message); }
}
export function writeError(file: string, e: unknown): Error {
  if (e instanceof WriteError || !(e as NodeJS.ErrnoException)?.code) return e as Error;
  const err = e as NodeJS.ErrnoException;
  const why = err.code === 'ENOSPC' ? 'no space left on the device' : err.code === 'EDQUOT' ? 'disk quota exceeded' : err.code === 'EIO' ? 'I/O error' : err.message.split('\n')[0];
  return new WriteError(file, err.code, `cannot write ${file}: ${why} (${err.code}); nothing was left under its name`);
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
