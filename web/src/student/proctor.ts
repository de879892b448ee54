import type { ProctorEventType } from '../../../server/protocol.js';

/** The same signal again within this long is not sent again (a tab switch fires several events at once). */
const DEBOUNCE_MS = 2000;

/**
 * Watches the browser for what the invigilators should know about (the page hidden, the window losing
 * focus, full screen left, a paste) and hands each to `send`, at most once per type per
 * {@link DEBOUNCE_MS}.
 */
export class ProctorSignals {
  private readonly last = new Map<ProctorEventType, number>();
  private readonly controller = new AbortController();
  private wasFullscreen = false;

  constructor(private readonly send: (type: ProctorEventType, detail?: Record<string, string | number | boolean | null>) => void) {}

  start(): void {
    const signal = this.controller.signal;
    document.addEventListener(
      'visibilitychange',
      () => this.emit(document.visibilityState === 'hidden' ? 'visibility_hidden' : 'visibility_visible'),
      { signal },
    );
    window.addEventListener('blur', () => this.emit('focus_lost'), { signal });
    window.addEventListener('focus', () => this.emit('focus_gained'), { signal });
    document.addEventListener(
      'fullscreenchange',
      () => {
        const now = document.fullscreenElement !== null;
        if (this.wasFullscreen && !now) this.emit('fullscreen_exit');
        if (!this.wasFullscreen && now) this.emit('fullscreen_enter');
        this.wasFullscreen = now;
      },
      { signal },
    );
    document.addEventListener('paste', (ev) => this.emit('paste', { length: ev.clipboardData?.getData('text').length ?? 0 }), { signal });
    window.addEventListener('offline', () => this.emit('network_offline'), { signal });
    window.addEventListener('online', () => this.emit('network_online'), { signal });
  }

  stop(): void {
    this.controller.abort();
  }

  private emit(type: ProctorEventType, detail?: Record<string, string | number | boolean | null>): void {
    const now = performance.now();
    const last = this.last.get(type);
    if (last !== undefined && now - last < DEBOUNCE_MS) return;
    this.last.set(type, now);
    this.send(type, detail);
  }
}
