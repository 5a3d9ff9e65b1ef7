/**
 * One overall progress line for the whole bench, with the current stage's label and count:
 *   bench ███████░░░░░░░░░ 43% · evaluate 120/249 windows · 2m10s, eta 3m05s
 * Stages carry estimated weights (seconds); the overall fraction and ETA follow them. On a TTY the
 * line is redrawn in place; otherwise each stage start is logged once, so logs stay readable.
 */
export interface Stage { name: string; weight: number }

const clock = (s: number) => (s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.round(s)}s`);

export class BenchProgress {
  private readonly start: number;
  private readonly total: number;
  private doneWeight = 0;
  private current: { stage: Stage; frac: number; label: string } | null = null;
  private last = 0;
  private lastLog = 0;
  private readonly tty: boolean;

  constructor(
    private readonly stages: Stage[],
    private readonly write: (s: string) => void = (s) => process.stderr.write(s),
    tty = Boolean(process.stderr.isTTY) && !process.env.QUANTLAB_NO_PROGRESS,
    private readonly now: () => number = Date.now,
  ) {
    this.total = stages.reduce((s, x) => s + x.weight, 0) || 1;
    this.tty = tty;
    this.start = now();
  }

  /** Enter stage `name` (completing the previous one). */
  stage(name: string, label = name): void {
    if (this.current?.stage.name === name) {
      // A new step of the same stage (e.g. the next method to quantize): relabel only.
      this.current.label = label;
      if (!this.tty) { this.lastLog = this.now(); this.write(`[${clock((this.lastLog - this.start) / 1000)}] ${label}\n`); }
      this.render(true);
      return;
    }
    if (this.current) this.doneWeight += this.current.stage.weight;
    const stage = this.stages.find((s) => s.name === name) ?? { name, weight: 0 };
    this.current = { stage, frac: 0, label };
    if (!this.tty) { this.lastLog = this.now(); this.write(`[${clock((this.lastLog - this.start) / 1000)}] ${label}\n`); }
    this.render(true);
  }

  /** Progress within the current stage. */
  update(done: number, total: number, unit = ''): void {
    if (!this.current) return;
    this.current.frac = total ? Math.min(1, done / total) : 1;
    this.current.label = `${this.current.stage.name} ${done}/${total}${unit ? ` ${unit}` : ''}`;
    if (!this.tty && this.now() - this.lastLog >= 30_000) {
      // Logs get a line every 30 s in long stages.
      this.lastLog = this.now();
      this.write(`[${clock((this.lastLog - this.start) / 1000)}] ${this.current.label} (${(this.fraction * 100).toFixed(0)}% overall)\n`);
    }
    this.render(done >= total);
  }

  /** Overall fraction done (0..1). */
  get fraction(): number {
    return Math.min(1, (this.doneWeight + (this.current ? this.current.stage.weight * this.current.frac : 0)) / this.total);
  }

  private render(force: boolean): void {
    if (!this.tty) return;
    const now = this.now();
    if (!force && now - this.last < 200) return;
    this.last = now;
    const f = this.fraction, elapsed = (now - this.start) / 1000;
    const bar = '█'.repeat(Math.round(f * 20)).padEnd(20, '░');
    const eta = f > 0.02 ? ` eta ${clock(elapsed / f - elapsed)}` : '';
    this.write(`\r\x1b[2Kbench ${bar} ${(f * 100).toFixed(0)}% · ${this.current?.label ?? ''} · ${clock(elapsed)}${eta}`);
  }

  done(): void { if (this.tty) this.write('\r\x1b[2K'); }
}
