/**
 * A one-line progress display: redrawn in place on a terminal, printed as plain lines
 * (start and finish of each step only) when the output is a file or a pipe.
 */
export class Progress {
  private readonly tty = process.stderr.isTTY === true;
  private timer: NodeJS.Timeout | undefined;
  private lastWidth = 0;

  constructor(private readonly label: string) {}

  /** Starts a step expected to last `expectedMs`; the bar fills with elapsed time. */
  step(index: number, total: number, name: string, expectedMs: number): void {
    this.stopTimer();
    const started = Date.now();
    const head = `[${this.label}] ${index}/${total} ${name}`;
    if (!this.tty) {
      process.stderr.write(`${head} ...\n`);
      return;
    }
    const draw = (): void => {
      const elapsed = Date.now() - started;
      const fraction = Math.min(1, elapsed / Math.max(1, expectedMs));
      const width = 24;
      const full = Math.round(fraction * width);
      this.write(`${head} ${'█'.repeat(full)}${'░'.repeat(width - full)} ${(elapsed / 1000).toFixed(1)} s`);
    };
    draw();
    this.timer = setInterval(draw, 200);
    this.timer.unref();
  }

  /** Ends the current step with a short result. */
  done(message: string): void {
    this.stopTimer();
    if (this.tty) this.write('');
    process.stderr.write(`[${this.label}] ${message}\n`);
  }

  private write(text: string): void {
    const pad = Math.max(0, this.lastWidth - text.length);
    process.stderr.write(`\r${text}${' '.repeat(pad)}\r`);
    this.lastWidth = text.length;
    if (text === '') this.lastWidth = 0;
  }

  private stopTimer(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}
