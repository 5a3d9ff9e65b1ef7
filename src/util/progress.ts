/**
 * A progress report on stderr for one long step. On a terminal: one bar redrawn in place. Elsewhere
 * (CI logs, pipes): a plain line every 30 s while the step runs, so a five-minute step is never
 * silent and a short one prints nothing. QUANTLAB_NO_PROGRESS=1 silences both.
 */
export interface ProgressIO {
  write?: (s: string) => void;
  tty?: boolean;
  now?: () => number;
}

const LOG_EVERY_MS = 30_000;

export class Progress {
  private readonly write: (s: string) => void;
  private readonly tty: boolean;
  private readonly quiet: boolean;
  private readonly now: () => number;
  private readonly start: number;
  private last = 0;
  private lastLog: number;

  constructor(private label: string, private total = 1, io: ProgressIO = {}) {
    this.write = io.write ?? ((s) => process.stderr.write(s));
    this.quiet = !!process.env.QUANTLAB_NO_PROGRESS && io.tty === undefined;
    this.tty = io.tty ?? Boolean(process.stderr.isTTY);
    this.now = io.now ?? Date.now;
    this.start = this.lastLog = this.now();
  }

  /** Report `done` of `total` (the total may change as work is discovered). */
  update(done: number, total = this.total, detail = ''): void {
    this.total = total;
    if (this.quiet) return;
    const now = this.now();
    const frac = this.total ? done / this.total : 1;
    const elapsed = (now - this.start) / 1000;
    const eta = frac > 0 ? elapsed / frac - elapsed : 0;
    const counts = `${done}/${this.total}${detail ? ` ${detail}` : ''}`;
    if (!this.tty) {
      if (now - this.lastLog < LOG_EVERY_MS) return;
      this.lastLog = now;
      this.write(`${this.label} ${counts} · ${elapsed.toFixed(0)}s, eta ${eta.toFixed(0)}s\n`);
      return;
    }
    if (now - this.last < 100 && done < this.total) return;
    this.last = now;
    const width = 24;
    const bar = '█'.repeat(Math.round(frac * width)).padEnd(width, '░');
    this.write(`\r${this.label} ${bar} ${counts} ${elapsed.toFixed(0)}s eta ${eta.toFixed(0)}s  `);
  }

  done(): void { if (this.tty && !this.quiet) this.write('\r\x1b[2K'); }
}
