import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Characters → ids below `vocab`, so any text calibrates a tiny model. */
export const charTokenizer = (vocab: number) => ({ encode: (s: string) => Array.from(s, (ch) => ch.charCodeAt(0) % vocab) });

/** A file of `n` pseudo-random printable characters (deterministic per seed): calibration text for tests. */
export function randomTextFile(seed: number, n: number): string {
  const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-calib-')), 'calib.txt');
  let s = '', x = seed;
  for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) >>> 0; s += String.fromCharCode(32 + (x >>> 8) % 90); }
  fs.writeFileSync(f, s);
  return f;
}
