import { loadDataset, type Dataset } from '../../data/index.js';
import { UsageError } from '../../util/errors.js';

/** The evaluation texts quantlab knows: calibrating on one of them would leak the test set. */
function knownEvaluationSets(): Dataset[] {
  const out: Dataset[] = [];
  for (const [name, split] of [['brown', 'test'], ['wikitext2', 'test']] as const) {
    try { out.push(loadDataset(name, split)); } catch { /* not installed: nothing to compare against */ }
  }
  return out;
}

/**
 * Refuse calibration text identical (SHA-256 of the text) to an evaluation split: the registered
 * test splits, plus any `evaluation` sets the caller names (e.g. the split an eval is about to score).
 */
export function assertNotEvaluationText(calib: Dataset, evaluation: Dataset[] = knownEvaluationSets()): void {
  for (const e of evaluation) {
    if (e.sha256 === calib.sha256) {
      throw new UsageError(`calibration text ${calib.name} is the evaluation split ${e.name} (same SHA-256 ${calib.sha256.slice(0, 12)}…); calibrate on a train split, e.g. --calibration brown`);
    }
  }
}

/** Load calibration text and apply the overlap guard. */
export function loadCalibrationText(spec: string, split = 'train'): Dataset {
  const ds = loadDataset(spec, split);
  assertNotEvaluationText(ds);
  return ds;
}
