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

/** Model metadata key where a calibrated model records its calibration text ({ dataset, sha256, ... }). */
export const CALIBRATION_METADATA = 'quantlab.calibration';

/** Refuse to evaluate a calibrated model on the very text it was calibrated on. */
export function assertNotCalibratedOn(metadata: Record<string, string>, evaluation: Dataset): void {
  const raw = metadata[CALIBRATION_METADATA];
  if (!raw) return;
  let rec: { dataset?: string; sha256?: string };
  try { rec = JSON.parse(raw); } catch { return; }
  if (rec.sha256 === evaluation.sha256) {
    throw new UsageError(`${evaluation.name} is the text this model was calibrated on (${rec.dataset}, same SHA-256); evaluate on a held-out split`);
  }
}

/** Load calibration text and apply the overlap guard. */
export function loadCalibrationText(spec: string, split = 'train'): Dataset {
  const ds = loadDataset(spec, split);
  assertNotEvaluationText(ds);
  return ds;
}
