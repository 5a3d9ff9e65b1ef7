/** One evaluation window of the HF sliding-window protocol. */
export interface Window {
  begin: number;
  end: number;
  /** First token index (absolute) scored in this window; tokens [scoreFrom, end) are scored. */
  scoreFrom: number;
  /** BOS id fed before the window's text (Llama 3, Gemma); the text then fills ctx − 1 positions. */
  bos?: number;
}

/** The ids a window feeds: its BOS, if any, then tokens [begin, end). */
export function windowIds(w: Window, tokens: ArrayLike<number>): number[] {
  const ids = w.bos === undefined ? [] : [w.bos];
  for (let j = w.begin; j < w.end; j++) ids.push(tokens[j]);
  return ids;
}

/** The window position whose logits predict absolute token `j`. */
export const predictingPosition = (w: Window, j: number): number => j - w.begin - 1 + (w.bos === undefined ? 0 : 1);

/**
 * Hugging Face's sliding-window perplexity protocol: windows of `ctx` tokens every `stride`
 * tokens; each window scores only the tokens the previous one did not; token 0 is never scored.
 * With `bos` (a tokenizer that prepends one), every window starts with it, as llama.cpp's chunks do.
 */
export function slidingWindows(nTokens: number, ctx: number, stride: number, bos?: number): Window[] {
  if (ctx < 2) throw new Error(`ctx must be at least 2, got ${ctx}`);
  if (bos !== undefined) { ctx -= 1; stride = Math.min(stride, ctx); if (ctx < 2) throw new Error('ctx must be at least 3 with a BOS token'); }
  if (stride < 1 || stride > ctx) throw new Error(`stride must be between 1 and ctx (${ctx}), got ${stride}`);
  const out: Window[] = [];
  let prevEnd = 0;
  for (let begin = 0; begin < nTokens; begin += stride) {
    const end = Math.min(begin + ctx, nTokens);
    const scoreFrom = Math.max(prevEnd, begin + 1);
    if (end > scoreFrom) out.push(bos === undefined ? { begin, end, scoreFrom } : { begin, end, scoreFrom, bos });
    prevEnd = end;
    if (end === nTokens) break;
  }
  return out;
}

/** Consecutive windows with the same length and the same scored span, up to `max`. */
export function takeGroup(windows: Window[], i: number, max: number): Window[] {
  const shape = (w: Window) => `${w.end - w.begin}:${w.scoreFrom - w.begin}`;
  const group = [windows[i]];
  while (group.length < max && i + group.length < windows.length && shape(windows[i + group.length]) === shape(windows[i])) group.push(windows[i + group.length]);
  return group;
}

/** Token ids [B,len], the positions that predict scored tokens [S] and their labels [B,S]. */
export function windowFeeds(group: Window[], tokens: ArrayLike<number>) {
  const len = windowIds(group[0], tokens).length;
  const first = group[0].scoreFrom;
  const S = group[0].end - first;
  const ids = new BigInt64Array(group.length * len);
  const labels = new BigInt64Array(group.length * S);
  group.forEach((w, b) => {
    windowIds(w, tokens).forEach((id, t) => { ids[b * len + t] = BigInt(id); });
    for (let s = 0; s < S; s++) labels[b * S + s] = BigInt(tokens[w.scoreFrom + s]);
  });
  const positions = BigInt64Array.from({ length: S }, (_, s) => BigInt(predictingPosition(group[0], first + s)));
  return { ids, labels, positions, S };
}
