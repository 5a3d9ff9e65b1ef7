import fs from 'node:fs';
import path from 'node:path';
import { sha256File } from '../util/fsx.js';

/** An HTTP answer that is not a success; 4xx ones are final, 5xx/429 are retried. */
export class HttpStatusError extends Error {
  constructor(public readonly status: number, public readonly url: string, public readonly serverMessage: string) {
    super(`${url}: HTTP ${status}${serverMessage ? ` (${serverMessage})` : ''}`);
  }
}

/** The bytes arrived but are not the file the listing promised (size or SHA-256): not retried. */
export class IntegrityError extends Error {}

export interface FileDownload {
  url: string;
  dest: string;
  headers: Record<string, string>;
  /** Size and LFS SHA-256 from the repo listing, when it gave them. */
  expectedSize?: number;
  sha256?: string;
  attempts: number;
  retryDelayMs: number;
  /** Bytes of this file on disk so far (including a resumed part) and its total, when known. */
  onBytes?: (done: number, total: number | undefined) => void;
}

/**
 * Download `url` to `dest` through `dest.part`, resuming a partial file with a Range request
 * (appending on 206, restarting on 200), then rename into place. Retries network failures.
 */
export async function downloadFile(o: FileDownload): Promise<void> {
  fs.mkdirSync(path.dirname(o.dest), { recursive: true });
  const part = `${o.dest}.part`;
  let lastErr: unknown;
  for (let attempt = 1; attempt <= o.attempts; attempt++) {
    try {
      await attemptOnce(o, part);
      return;
    } catch (e) {
      if (e instanceof IntegrityError) throw e;
      if (e instanceof HttpStatusError && !(e.status >= 500 || e.status === 429)) throw e;
      lastErr = e;
      if (attempt < o.attempts) await new Promise((r) => setTimeout(r, o.retryDelayMs * attempt));
    }
  }
  throw lastErr instanceof HttpStatusError ? lastErr : new Error(`${o.url}: network error after ${o.attempts} attempts (${describeNetworkError(lastErr)})`);
}

/** The innermost useful reason of a fetch failure ('ECONNREFUSED', 'terminated', ...). */
export function describeNetworkError(e: unknown): string {
  const err = e as { message?: string; cause?: { code?: string; message?: string } };
  return err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(e);
}

function fileSize(f: string): number {
  try { return fs.statSync(f).size; } catch { return 0; }
}

async function attemptOnce(o: FileDownload, part: string): Promise<void> {
  let have = fileSize(part);
  if (o.expectedSize !== undefined && have > o.expectedSize) { fs.rmSync(part, { force: true }); have = 0; }
  if (o.expectedSize !== undefined && have === o.expectedSize && have > 0) return finish(o, part);

  // identity: a compressed body would make Content-Length and byte offsets disagree.
  const headers: Record<string, string> = { ...o.headers, 'Accept-Encoding': 'identity' };
  if (have > 0) headers.Range = `bytes=${have}-`;
  const res = await fetch(o.url, { headers, redirect: 'follow' });
  if (res.status === 416 && have > 0) {
    // Our part is at or past the end of the server's file: complete if the sizes agree, else stale.
    await res.body?.cancel();
    const total = Number(/\/(\d+)/.exec(res.headers.get('content-range') ?? '')?.[1] ?? NaN);
    if (total === have) return finish(o, part);
    fs.rmSync(part, { force: true });
    throw new Error('range not satisfiable; restarting the file');
  }
  if (!res.ok) throw new HttpStatusError(res.status, o.url, await serverMessage(res));

  let offset = 0;
  let total: number | undefined;
  const encoded = (res.headers.get('content-encoding') ?? 'identity') !== 'identity';
  const length = encoded ? NaN : Number(res.headers.get('content-length') ?? NaN);
  if (res.status === 206) {
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
    if (!m || Number(m[1]) !== have) {
      await res.body?.cancel();
      fs.rmSync(part, { force: true });
      throw new Error(`unexpected Content-Range '${res.headers.get('content-range')}' for offset ${have}; restarting the file`);
    }
    offset = have;
    total = m[3] !== '*' ? Number(m[3]) : Number.isFinite(length) ? have + length : undefined;
  } else {
    total = Number.isFinite(length) ? length : undefined;
  }
  total ??= o.expectedSize;

  const fd = fs.openSync(part, offset ? 'a' : 'w');
  let done = offset;
  o.onBytes?.(done, total);
  try {
    if (res.body) {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        let off = 0;
        while (off < chunk.length) off += fs.writeSync(fd, chunk, off, chunk.length - off);
        done += chunk.length;
        o.onBytes?.(done, total);
      }
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  if (total !== undefined && done < total) throw new Error(`connection closed after ${done} of ${total} bytes`);
  return finish(o, part);
}

function finish(o: FileDownload, part: string): void {
  const size = fileSize(part);
  if (o.expectedSize !== undefined && size !== o.expectedSize) {
    fs.rmSync(part, { force: true });
    throw new IntegrityError(`${o.url}: got ${size} bytes, the repo listing says ${o.expectedSize}`);
  }
  if (o.sha256) {
    const got = sha256File(part);
    if (got !== o.sha256) {
      fs.rmSync(part, { force: true });
      throw new IntegrityError(`${o.url}: SHA-256 ${got.slice(0, 16)}… does not match the repo's ${o.sha256.slice(0, 16)}…`);
    }
  }
  fs.renameSync(part, o.dest);
}

/** A short reason from an error body (the hub sends {"error": "..."}). */
export async function serverMessage(res: Response): Promise<string> {
  try {
    const text = (await res.text()).trim();
    let msg = text;
    try { msg = String((JSON.parse(text) as { error?: unknown }).error ?? text); } catch { /* plain text */ }
    return msg.split('\n')[0].slice(0, 200);
  } catch {
    return '';
  }
}
