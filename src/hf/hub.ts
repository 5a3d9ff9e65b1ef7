import { withOutputLock } from '../util/lock.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InputError, UsageError } from '../util/errors.js';
import { writeJsonAtomic } from '../util/fsx.js';
import { describeNetworkError, downloadFile, HttpStatusError, serverMessage } from './download.js';
import { matchFiles, selectModelFiles } from './hub-files.js';
import { parseShardIndex } from './shard-index.js';

export interface DownloadProgress {
  /** File being downloaded (repo-relative). */
  file: string;
  /** Bytes of all selected files on disk so far, and their total (grows while sizes are learned). */
  done: number;
  total: number;
}

export interface DownloadOptions {
  /** Branch, tag or commit (default 'main'). */
  revision?: string;
  /** Default: $QUANTLAB_CACHE, else ~/.cache/quantlab/hub. */
  cacheDir?: string;
  /** Default: $HF_ENDPOINT, else https://huggingface.co. */
  endpoint?: string;
  /** Exact repo file names or '*' globs to fetch instead of the automatic causal-LM selection. */
  files?: string[];
  /** Default: $HF_TOKEN (or $HUGGING_FACE_HUB_TOKEN); sent as a Bearer token. */
  token?: string;
  onProgress?: (p: DownloadProgress) => void;
  /** Tries per file on network failure (default 5) and the base delay between them (default 1000 ms). */
  attempts?: number;
  retryDelayMs?: number;
}

/** Written into the model folder; records which commit the files came from. */
const MANIFEST = '.quantlab-download.json';
interface Manifest { id: string; revision: string; sha?: string; files: string[]; complete: boolean }

interface Sibling { rfilename: string; size?: number; lfs?: { sha256?: string; size?: number } }

const ID_PART = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?$/;

/** Whether `s` is shaped like a hub model id: 'name' or 'org/name'. */
export function isHubModelId(s: string): boolean {
  const parts = s.split('/');
  return parts.length <= 2 && parts.every((p) => ID_PART.test(p) && !p.includes('..') && !p.includes('--'));
}

export function hubEndpoint(endpoint?: string): string {
  return (endpoint ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '');
}

export function hubCacheDir(cacheDir?: string): string {
  return cacheDir ?? process.env.QUANTLAB_CACHE ?? path.join(os.homedir(), '.cache', 'quantlab', 'hub');
}

/** `<cache>/<org>--<name>/<revision>/` ('/' in a revision such as refs/pr/1 becomes '--'). */
export function modelCacheFolder(id: string, revision: string, cacheDir?: string): string {
  return path.join(hubCacheDir(cacheDir), id.replace('/', '--'), revision.replace(/\//g, '--'));
}

function checkRevision(rev: string): void {
  if (!/^[A-Za-z0-9._/-]{1,200}$/.test(rev) || rev.split('/').some((p) => p === '' || p === '.' || p === '..')) {
    throw new UsageError(`invalid revision '${rev}' (expected a branch, tag or commit hash)`);
  }
}

/** Download `id` into the hub cache (one download per model folder at a time: a second is refused while the first runs). */
export async function downloadModel(id: string, opts: DownloadOptions = {}): Promise<string> {
  if (!isHubModelId(id)) throw new UsageError(`'${id}' is not a valid Hugging Face model id (expected 'name' or 'org/name' of letters, digits, '-', '_', '.')`);
  checkRevision(opts.revision ?? 'main');
  return withOutputLock(modelCacheFolder(id, opts.revision ?? 'main', opts.cacheDir), `download ${id}`, () => downloadUnlocked(id, opts));
}

/**
 * Download what a causal LM needs from a Hugging Face model repo into the cache and return the
 * local folder. Complete files are skipped; interrupted ones resume from their `.part`.
 */
async function downloadUnlocked(id: string, opts: DownloadOptions): Promise<string> {
  const revision = opts.revision ?? 'main';
  const endpoint = hubEndpoint(opts.endpoint);
  const folder = modelCacheFolder(id, revision, opts.cacheDir);
  const token = opts.token ?? process.env.HF_TOKEN ?? process.env.HUGGING_FACE_HUB_TOKEN;
  const headers: Record<string, string> = { 'User-Agent': 'quantlab/0.1' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const rev = encodeURIComponent(revision);

  const previous = readManifest(folder);
  if (previous?.complete && process.env.HF_HUB_OFFLINE === '1') return folder;
  let info: { sha?: string; siblings: Sibling[] };
  try {
    info = await fetchListing(`${endpoint}/api/models/${id}/revision/${rev}?blobs=true`, headers, id, endpoint, revision);
  } catch (e) {
    // Offline but fully downloaded before: use what we have.
    if (!(e instanceof InputError) && previous?.complete && previous.files.every((f) => fs.existsSync(path.join(folder, f)))) return folder;
    throw e;
  }
  if (previous?.sha && info.sha && previous.sha !== info.sha) {
    // The revision moved (e.g. a new commit on main): the old files are stale.
    for (const f of previous.files) for (const p of [f, `${f}.part`]) fs.rmSync(path.join(folder, p), { force: true });
  }

  const listing = info.siblings.map((s) => s.rfilename);
  const bySize = new Map(info.siblings.map((s) => [s.rfilename, s]));
  let files: string[];
  if (opts.files?.length) {
    files = matchFiles(listing, opts.files);
    const missing = opts.files.filter((p) => !p.includes('*') && !listing.includes(p));
    if (missing.length) throw new InputError(id, `no file ${missing.join(', ')} at revision ${revision}`);
    if (!files.length) throw new InputError(id, `no file matches ${opts.files.join(', ')} at revision ${revision}`);
  } else {
    const sel = selectModelFiles(listing, id);
    if (typeof sel === 'string') throw new InputError(id, sel);
    files = sel.files;
  }
  for (const f of files) safeRelative(f, id);

  const manifest: Manifest = { id, revision, sha: info.sha, files, complete: false };
  fs.mkdirSync(folder, { recursive: true });
  writeJsonAtomic(path.join(folder, MANIFEST), manifest);

  const progress = new Tracker(opts.onProgress);
  const fetchOne = async (f: string) => {
    const dest = path.join(folder, f);
    const s = bySize.get(f);
    const size = s?.lfs?.size ?? s?.size;
    if (fs.existsSync(dest)) { progress.skip(f, fs.statSync(dest).size); return; }
    progress.expect(f, size);
    try {
      await downloadFile({
        url: `${endpoint}/${id}/resolve/${rev}/${f.split('/').map(encodeURIComponent).join('/')}`,
        dest, headers, expectedSize: size, sha256: s?.lfs?.sha256,
        attempts: opts.attempts ?? 5, retryDelayMs: opts.retryDelayMs ?? 1000,
        onBytes: (d, t) => progress.bytes(f, d, t),
      });
    } catch (e) {
      if (e instanceof HttpStatusError) throw statusError(e.status, e.serverMessage, `${id}/${f}`, endpoint, revision);
      throw new InputError(id, (e as Error).message);
    }
  };
  for (const f of files) await fetchOne(f);
  // A sharded checkpoint names its shards in the index, which we only have now.
  if (files.includes('model.safetensors.index.json') && !opts.files?.length) {
    const indexFile = path.join(folder, 'model.safetensors.index.json');
    const { shards } = parseShardIndex(fs.readFileSync(indexFile, 'utf8'), indexFile);
    const absent = shards.filter((s) => !listing.includes(s));
    if (absent.length) throw new InputError(id, `the safetensors index names shards the repo lacks: ${absent.join(', ')}`);
    for (const s of shards) safeRelative(s, id);
    for (const s of shards) progress.expect(s, bySize.get(s)?.lfs?.size ?? bySize.get(s)?.size);
    manifest.files = [...files, ...shards];
    writeJsonAtomic(path.join(folder, MANIFEST), manifest);
    for (const s of shards) await fetchOne(s);
  }
  writeJsonAtomic(path.join(folder, MANIFEST), { ...manifest, complete: true });
  return folder;
}

function readManifest(folder: string): Manifest | undefined {
  try { return JSON.parse(fs.readFileSync(path.join(folder, MANIFEST), 'utf8')) as Manifest; } catch { return undefined; }
}

/** Repo file names come from the server: never let one escape the model folder. */
function safeRelative(f: string, id: string): void {
  if (path.isAbsolute(f) || f.split(/[\\/]/).some((p) => p === '..' || p === '') || f.endsWith('.part') || f === MANIFEST) {
    throw new InputError(id, `refusing to write repo file '${f}' (unsafe name)`);
  }
}

async function fetchListing(url: string, headers: Record<string, string>, id: string, endpoint: string, revision: string): Promise<{ sha?: string; siblings: Sibling[] }> {
  let res: Response;
  try { res = await fetch(url, { headers }); } catch (e) {
    throw new Error(`${url}: network error (${describeNetworkError(e)})`);
  }
  if (!res.ok) throw statusError(res.status, await serverMessage(res), id, endpoint, revision);
  let body: { sha?: unknown; siblings?: unknown };
  try { body = await res.json() as typeof body; } catch { throw new InputError(url, 'the hub answered with something that is not JSON'); }
  if (!Array.isArray(body.siblings)) throw new InputError(url, 'the hub answer has no file list (siblings)');
  const siblings = (body.siblings as Sibling[]).filter((s) => typeof s?.rfilename === 'string');
  return { sha: typeof body.sha === 'string' ? body.sha : undefined, siblings };
}

function statusError(status: number, msg: string, what: string, endpoint: string, revision: string): InputError {
  if (status === 401 || status === 403 || status === 404) {
    const revNote = /revision/i.test(msg) ? ` (revision '${revision}' not found)` : '';
    const hint = status === 403 ? 'gated: accept its license on the hub and set HF_TOKEN' : 'check the id; a private or gated model needs HF_TOKEN';
    return new InputError(what, `not found or gated on ${endpoint}${revNote} (HTTP ${status}; ${hint})`);
  }
  return new InputError(what, `${endpoint} answered HTTP ${status}${msg ? ` (${msg})` : ''}`);
}

/** Sums per-file byte counts into one done/total for the callback. */
class Tracker {
  private done = new Map<string, number>();
  private total = new Map<string, number>();
  constructor(private cb?: (p: DownloadProgress) => void) {}
  expect(f: string, size?: number): void { if (size !== undefined) this.total.set(f, size); }
  skip(f: string, size: number): void { this.total.set(f, size); this.done.set(f, size); this.emit(f); }
  bytes(f: string, d: number, t?: number): void {
    this.done.set(f, d);
    if (t !== undefined) this.total.set(f, t);
    this.emit(f);
  }
  private emit(file: string): void {
    if (!this.cb) return;
    let done = 0, total = 0;
    for (const v of this.done.values()) done += v;
    for (const [f, v] of this.total) total += Math.max(v, this.done.get(f) ?? 0);
    this.cb({ file, done, total });
  }
}
