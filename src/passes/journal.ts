import fs from 'node:fs';
import path from 'node:path';
import { fileTensor, type FileSlice } from '../ir/spill.js';
import type { Tensor } from '../ir/tensor.js';
import { writeAll } from '../util/fsx.js';

interface Entry { key: string; tensors: FileSlice[] }

/**
 * The quantized weights of an unfinished `quantize`, kept in `<out>.partial/` as they are made
 * (data.bin + one journal line per weight), so that a run interrupted at weight 200 of 291 resumes
 * there: a rerun with the same source and method reads the journaled weights instead of computing
 * them again. The folder also replaces the spill file (weights read back lazily) and is removed once
 * the model folder is written. A journal from another source or config is discarded.
 */
export class QuantJournal {
  private readonly index = new Map<string, Entry>();
  private readonly dataFd: number;
  private readonly journalFd: number;
  private offset: number;
  /** Weights read back from an earlier run, and computed in this one. */
  reused = 0;
  computed = 0;

  constructor(readonly dir: string, identity: string) {
    fs.mkdirSync(dir, { recursive: true });
    const idFile = path.join(dir, 'identity.json'), data = path.join(dir, 'data.bin'), journal = path.join(dir, 'journal.jsonl');
    const same = fs.existsSync(idFile) && fs.readFileSync(idFile, 'utf8') === identity;
    if (!same) {
      for (const f of [data, journal]) fs.rmSync(f, { force: true });
      fs.writeFileSync(idFile, identity);
    }
    this.dataFd = fs.openSync(data, 'a+');
    const size = fs.fstatSync(this.dataFd).size;
    // A line is appended only after its bytes are on disk: a torn last line, or one pointing past
    // the data, is from an interrupted write and is dropped.
    if (fs.existsSync(journal)) {
      for (const line of fs.readFileSync(journal, 'utf8').split('\n')) {
        try {
          const e = JSON.parse(line) as Entry;
          if (e.tensors.every((t) => t.offset + t.length <= size)) this.index.set(e.key, e);
        } catch { /* torn line */ }
      }
    }
    this.offset = size;
    this.journalFd = fs.openSync(journal, 'a');
  }

  /** The tensors journaled under `key`, or `compute()`'s, journaled now; either way read lazily from disk. */
  tensors(key: string, compute: () => Tensor[]): Tensor[] {
    return this.lookup(key) ?? this.record(key, compute());
  }

  /** The tensors journaled under `key` by this or an interrupted run, or null. */
  lookup(key: string): Tensor[] | null {
    const hit = this.index.get(key);
    if (!hit) return null;
    this.reused++;
    return hit.tensors.map((t) => fileTensor(this.dataFd, t));
  }

  /** Journal `out` under `key` (data synced before the index line); returns them read back lazily. */
  record(key: string, out: Tensor[]): Tensor[] {
    const entry: Entry = { key, tensors: [] };
    for (const t of out) {
      const b = t.bytes();
      writeAll(this.dataFd, b, this.offset);
      entry.tensors.push({ dtype: t.dtype, dims: [...t.dims], offset: this.offset, length: b.length });
      this.offset += b.length;
    }
    fs.fsyncSync(this.dataFd);
    fs.writeSync(this.journalFd, JSON.stringify(entry) + '\n');
    this.index.set(key, entry);
    this.computed++;
    return entry.tensors.map((t) => fileTensor(this.dataFd, t));
  }

  /**
   * The run finished: the model folder holds everything. The files are unlinked but the data file
   * stays open, since the returned model's weights may still be read from it (bench evaluates it).
   */
  remove(): void {
    fs.closeSync(this.journalFd);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
