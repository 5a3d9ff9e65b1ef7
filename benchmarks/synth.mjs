// The synthetic checkpoints benchmarks time (real models' shapes, random weights), made once with
// `quantlab synth` and cached under .cache/synth/<preset>-<dtype>/.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

export const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

/** The folder of `preset` in `dtype`, made if missing; `tokenizerFrom`: a model folder whose tokenizer it borrows. */
export function synthModel(preset, dtype, tokenizerFrom) {
  const dir = path.join(root, '.cache', 'synth', `${preset}-${dtype}`);
  if (!fs.existsSync(path.join(dir, 'config.json'))) {
    const r = spawnSync(process.execPath, [path.join(root, 'bin', 'quantlab.js'), 'synth', '--preset', preset, '--dtype', dtype, '--out', dir], { stdio: 'inherit' });
    if (r.status !== 0) process.exit(1);
  }
  if (tokenizerFrom && !fs.existsSync(path.join(dir, 'tokenizer.json'))) {
    for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) fs.copyFileSync(path.join(tokenizerFrom, f), path.join(dir, f));
  }
  return dir;
}
