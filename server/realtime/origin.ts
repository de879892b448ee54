import type { IncomingMessage } from 'node:http';

/**
 * The origin rule of the wire contract: a browser's `Origin` must be the server's own (the page was
 * served by us: same host as the request) or on the `ALLOWED_ORIGINS` list; a request without `Origin`
 * (load tests, integrations, other non-browser clients) stands on its token alone.
 */
export function isOriginAllowed(req: IncomingMessage, allowed: readonly string[]): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  if (allowed.includes(origin)) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}
