/** One evaluation window of the HF sliding-window protocol. */
export interface Window {
  begin: number;
  end: number;
  /** First token index (absolute) scored in this window; tokens [scoreFrom, end) are scored. */
  scoreFrom: number;
}

/**
 * Hugging Face's sliding-window perplexity protocol: windows of `ctx` tokens every `stride`
 * tokens; each window scores only the tokens the previous one did not; token 0 is never scored.
 */
export function slidingWindows(nTokens: number, ctx: number, stride: number): Window[] {
  if (ctx < 2) throw new Error(`ctx must be at least 2, got ${ctx}`);
  if (stride < 1 || stride > ctx) throw new Error(`stride must be between 1 and ctx (${ctx}), got ${stride}`);
  const out: Window[] = [];
  let prevEnd = 0;
  for (let begin = 0; begin < nTokens; begin += stride) {
    const end = Math.min(begin + ctx, nTokens);
    const scoreFrom = Math.max(prevEnd, begin + 1);
    if (end > scoreFrom) out.push({ begin, end, scoreFrom });
    prevEnd = end;
    if (end === nTokens) break;
  }
  return out;
}
