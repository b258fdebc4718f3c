import { ApiError, type ErrorBody, unreachableError } from './api-error.ts';

/** Query parameters; empty and undefined values are left out. */
export type Query = Readonly<Record<string, string | number | undefined>>;

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Calls the Slipway API with the console's session cookie. Writes carry the session's CSRF token in
 * `X-CSRF-Token`; failures throw an ApiError with the server's code, message, hint and details.
 */
export class ApiClient {
  #csrfToken: string | undefined;
  #onSessionEnded: (() => void) | undefined;

  /** Keeps the CSRF token of the current session (undefined once logged out). */
  setCsrfToken(token: string | undefined): void {
    this.#csrfToken = token;
  }

  /** Calls `listener` when a call made during a session answers 401: the session expired or was ended. */
  onSessionEnded(listener: (() => void) | undefined): void {
    this.#onSessionEnded = listener;
  }

  /** GET `path` with `query`. */
  get<T>(path: string, query?: Query): Promise<T> {
    return this.#request<T>('GET', withQuery(path, query));
  }

  /** POST `body` as JSON to `path`. */
  post<T>(path: string, body?: unknown): Promise<T> {
    return this.#request<T>('POST', path, body);
  }

  /** DELETE `path`. */
  delete<T>(path: string): Promise<T> {
    return this.#request<T>('DELETE', path);
  }

  async #request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (WRITE_METHODS.has(method) && this.#csrfToken) headers['x-csrf-token'] = this.#csrfToken;
    let response: Response;
    try {
      response = await fetch(path, {
        method,
        headers,
        credentials: 'same-origin',
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (error) {
      throw unreachableError(error);
    }
    const payload = await readJson(response);
    if (response.ok) return payload as T;
    const failure = new ApiError(response.status, errorBodyOf(response, payload));
    if (response.status === 401 && this.#csrfToken) this.#onSessionEnded?.();
    throw failure;
  }
}

function withQuery(path: string, query: Query | undefined): string {
  if (!query) return path;
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `${path}?${text}` : path;
}

async function readJson(response: Response): Promise<unknown> {
  const text = await response.text();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function errorBodyOf(response: Response, payload: unknown): ErrorBody {
  const error = (payload as { error?: ErrorBody } | undefined)?.error;
  if (error && typeof error.message === 'string' && typeof error.code === 'string') return error;
  // Not a Slipway answer: a proxy in between, or a server that is starting or stopping.
  return {
    code: response.status >= 500 ? 'UNAVAILABLE' : 'INTERNAL',
    message: `The server answered HTTP ${response.status} ${response.statusText} without an error message`,
    hint: 'Try again in a moment; if it persists, check the server logs',
  };
}
