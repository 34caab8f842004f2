/**
 * Progress for long forge steps: a redrawn bar on a terminal, one plain line per ~5% otherwise (CI logs),
 * plus a JSONL log of the figures for the record.
 */
import { appendFileSync } from 'node:fs';

export class Progress {
  private lastLogged = -1;
  private readonly started = performance.now();

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly logFile?: string,
  ) {}

  update(done: number, fields: Record<string, number | string> = {}): void {
    const fraction = this.total > 0 ? Math.min(1, done / this.total) : 1;
    const elapsed = (performance.now() - this.started) / 1000;
    const eta = fraction > 0 ? elapsed / fraction - elapsed : 0;
    const extra = Object.entries(fields)
      .map(([k, v]) => `${k} ${typeof v === 'number' ? formatNumber(v) : v}`)
      .join(' · ');
    const text = `${this.label} ${(fraction * 100).toFixed(1).padStart(5)}% ${done}/${this.total} · ${elapsed.toFixed(0)}s elapsed, ~${eta.toFixed(0)}s left${extra ? ' · ' + extra : ''}`;
    if (process.stderr.isTTY) {
      const width = 24;
      const filled = Math.round(fraction * width);
      process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}\x1b[K`);
      if (fraction >= 1) process.stderr.write('\n');
    } else {
      const step = Math.floor(fraction * 20);
      if (step !== this.lastLogged) {
        this.lastLogged = step;
        process.stderr.write(`${text}\n`);
      }
    }
  }

  log(record: Record<string, unknown>): void {
    if (this.logFile) appendFileSync(this.logFile, JSON.stringify({ step: this.label, time: new Date().toISOString(), ...record }) + '\n');
  }
}

function formatNumber(v: number): string {
  return Number.isInteger(v) ? String(v) : Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(4);
}
