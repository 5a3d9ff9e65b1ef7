/**
 * The measurement protocol's defaults, one set for `eval`, `bench` and the library: the same model
 * gives the same numbers whichever command measured it. Batch 1: dynamic int8 quantizes activations
 * with one range per tensor per call, so windows batched together would change each other's scales.
 */
export const PROTOCOL = {
  /** Windows per forward pass in perplexity / KLD evaluation. */
  batch: 1,
  /** Prefill prompt length (capped at the model's positions). */
  promptTokens: 512,
  /** Decode steps timed per repetition. */
  decodeTokens: 32,
  /** Warm-up repetitions, discarded. */
  warmup: 1,
  /** Timed repetitions. */
  repetitions: 5,
} as const;
