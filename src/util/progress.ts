/** A one-line progress bar on stderr (only on a TTY; silent otherwise so logs stay clean). */
export class Progress {
  private start = Date.now();
  private last = 0;
  private readonly tty = process.stderr.isTTY && !process.env.QUANTLAB_NO_PROGRESS;
  constructor(private label: string, private total = 1) {}

  /** Report `done` of `total` (the total may change as work is discovered). */
  update(done: number, total = this.total, detail = ''): void {
    this.total = total;
    if (!this.tty) return;
    const now = Date.now();
    if (now - this.last < 100 && done < this.total) return;
    this.last = now;
    const frac = this.total ? done / this.total : 1;
    const width = 24;
    const bar = '█'.repeat(Math.round(frac * width)).padEnd(width, '░');
    const elapsed = (now - this.start) / 1000;
    const eta = frac > 0 ? elapsed / frac - elapsed : 0;
    process.stderr.write(`\r${this.label} ${bar} ${done}/${this.total}${detail ? ` ${detail}` : ''} ${elapsed.toFixed(0)}s eta ${eta.toFixed(0)}s  `);
  }

  done(): void { if (this.tty) process.stderr.write('\r\x1b[2K'); }
}
