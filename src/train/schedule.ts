export interface LrSchedule {
  /** Peak learning rate, reached at the end of warm-up. */
  peak: number;
  warmupSteps: number;
  totalSteps: number;
  /** Floor of the cosine decay as a fraction of the peak (default 0.1). */
  minRatio?: number;
}

/** Linear warm-up from peak/warmup to peak, then cosine decay to peak·minRatio at totalSteps. step counts from 0. */
export function learningRate(s: LrSchedule, step: number): number {
  const min = s.peak * (s.minRatio ?? 0.1);
  if (step < s.warmupSteps) return (s.peak * (step + 1)) / s.warmupSteps;
  const span = Math.max(1, s.totalSteps - s.warmupSteps);
  const p = Math.min(1, (step - s.warmupSteps) / span);
  return min + 0.5 * (s.peak - min) * (1 + Math.cos(Math.PI * p));
}
