/**
 * TokenExpiry: one timer for every socket's token expiry. A socket is closed at (within a second
 * after) its expiry, a removed one never, and nothing stays behind either way.
 */
import type { Socket } from 'socket.io';
import { describe, expect, it } from 'vitest';
import { TokenExpiry } from '../server/realtime/socket-server.js';

/** The one thing TokenExpiry does to a socket: disconnect(true). */
const fakeSocket = () => {
  const calls: boolean[] = [];
  const socket = { disconnect: (close: boolean) => calls.push(close) } as unknown as Socket;
  return { socket, calls };
};

describe('TokenExpiry', () => {
  it('closes each socket within a second after its expiry, never a removed one, and keeps nothing', async () => {
    const expiry = new TokenExpiry();
    const soon = fakeSocket();
    const later = fakeSocket();
    const removed = fakeSocket();
    const far = fakeSocket();
    const t0 = Date.now();
    expiry.add(later.socket, t0 + 1200);
    expiry.add(soon.socket, t0 + 200);
    expiry.add(removed.socket, t0 + 200);
    expiry.add(far.socket, t0 + 8 * 3600_000);
    expiry.remove(removed.socket);
    expiry.remove(removed.socket);
    expect(expiry.size).toBe(3);

    while (soon.calls.length === 0 && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 20));
    expect(soon.calls).toEqual([true]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(200);
    expect(Date.now() - t0).toBeLessThan(1400);
    expect(later.calls).toEqual([]);

    while (later.calls.length === 0 && Date.now() - t0 < 4000) await new Promise((r) => setTimeout(r, 20));
    expect(later.calls).toEqual([true]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1200);
    expect(removed.calls).toEqual([]);
    expect(far.calls).toEqual([]);
    expect(expiry.size).toBe(1);
    expiry.remove(far.socket);
    expect(expiry.size).toBe(0);
  });
});
