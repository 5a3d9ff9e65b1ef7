import fs from 'node:fs';
import { downloadModel, isHubModelId, type DownloadOptions } from '../hf/hub.js';
import { InputError } from '../util/errors.js';
import { Progress } from '../util/progress.js';

export interface ResolveOptions extends DownloadOptions {
  /** Show a download progress bar on stderr (TTY only) when no onProgress is given (default true). */
  progressBar?: boolean;
}

const MIB = 2 ** 20;

/**
 * Turn a model spec into a local path: an existing file or folder is returned as is; a Hugging
 * Face id ('name', 'org/name', optionally '@revision') is downloaded into the cache first.
 */
export async function resolveModelSpec(spec: string, opts: ResolveOptions = {}): Promise<string> {
  if (fs.existsSync(spec)) return spec;
  const at = spec.indexOf('@');
  const id = at >= 0 ? spec.slice(0, at) : spec;
  const revision = at >= 0 ? spec.slice(at + 1) : opts.revision;
  const pathLike = /^[.~/]|\\|\.(onnx|safetensors|json)$/.test(spec);
  if (pathLike || !isHubModelId(id)) throw new InputError(spec, 'no such file or folder');

  let bar: Progress | undefined;
  const onProgress = opts.onProgress ?? (opts.progressBar === false ? undefined : (p: { done: number; total: number }) => {
    bar ??= new Progress(`download ${id} (MiB)`, 1);
    bar.update(Math.floor(p.done / MIB), Math.max(1, Math.ceil(p.total / MIB)));
  });
  try {
    return await downloadModel(id, { ...opts, revision, onProgress });
  } catch (e) {
    // A mistyped local path also lands here: say both things that were tried.
    if (e instanceof InputError && e.file === id && e.message.includes('not found or gated')) {
      throw new InputError(spec, `no such local file or folder, and ${e.message.slice(id.length + 2)}`);
    }
    throw e;
  } finally {
    bar?.done();
  }
}
