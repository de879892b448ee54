/**
 * The server's clock as seen from this page: a server timestamp and the monotonic time it arrived.
 * "Now" is that timestamp plus the monotonic time elapsed since, so neither a wrong device clock nor
 * a clock change during the exam moves the countdown.
 */
export class ServerClock {
  private serverMs: number | null = null;
  private atPerf = 0;

  /** `serverNow`: an ISO timestamp from the server, taken as arriving now. */
  sync(serverNow: string): void {
    const t = Date.parse(serverNow);
    if (Number.isNaN(t)) return;
    this.serverMs = t;
    this.atPerf = performance.now();
  }

  get synced(): boolean {
    return this.serverMs !== null;
  }

  /** The server's time now, in ms since the epoch (null before the first sync). */
  now(): number | null {
    return this.serverMs === null ? null : this.serverMs + (performance.now() - this.atPerf);
  }

  /** Milliseconds left until `deadline` (ISO or ms), by the server's clock. */
  remaining(deadline: string | number): number | null {
    const now = this.now();
    if (now === null) return null;
    const d = typeof deadline === 'number' ? deadline : Date.parse(deadline);
    return d - now;
  }
}
