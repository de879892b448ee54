import type { ErrorBodyWire } from '../../../server/protocol.js';

/** An HTTP or socket refusal in the contract's shape, with a message fit to show. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 0,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  static from(body: ErrorBodyWire, status = 0): ApiError {
    return new ApiError(body.code, body.message, status, body.retryAfterMs);
  }
}

/** Reads an error body (`{error: {code, message}}`) or makes one up from the status. */
async function errorOf(res: Response): Promise<ApiError> {
  try {
    const body = (await res.json()) as { error?: ErrorBodyWire };
    if (body.error?.code) return ApiError.from(body.error, res.status);
  } catch {
    // not JSON: fall through
  }
  return new ApiError('HTTP_' + res.status, `The server answered ${res.status} ${res.statusText}`, res.status);
}

/** A JSON request to the same origin, with the bearer token when given. Throws {@link ApiError}. */
export async function api<T>(path: string, opts: { token?: string | null; method?: string; body?: unknown } = {}): Promise<T> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, {
      method: opts.method ?? (opts.body === undefined ? 'GET' : 'POST'),
      headers,
      body: opts.body === undefined ? null : JSON.stringify(opts.body),
    });
  } catch {
    throw new ApiError('NETWORK', 'The server cannot be reached. Check the network connection and try again.');
  }
  if (!res.ok) throw await errorOf(res);
  return (await res.json()) as T;
}

/** Downloads a file that needs the Authorization header (a plain link cannot send it): fetch, then save via a blob link. */
export async function downloadWithToken(path: string, token: string, fallbackName: string): Promise<void> {
  let res: Response;
  try {
    res = await fetch(path, { headers: { authorization: `Bearer ${token}` } });
  } catch {
    throw new ApiError('NETWORK', 'The server cannot be reached. Check the network connection and try again.');
  }
  if (!res.ok) throw await errorOf(res);
  const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? fallbackName;
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
