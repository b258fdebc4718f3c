import {
  type ErrorCode as Code,
  ErrorCode,
  SlipwayError,
  UnauthenticatedError,
  UnavailableError,
} from '../core/index.ts';

/** Where the API is and how to authenticate to it. */
export interface ApiTarget {
  readonly server: string;
  readonly token?: string;
}

/** A small client of the Slipway HTTP API that turns error answers back into SlipwayErrors. */
export class ApiClient {
  constructor(readonly target: ApiTarget) {}

  /** Sends a request and returns the parsed JSON body of a success. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = new URL(path, this.target.server);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.target.token) headers.authorization = `Bearer ${this.target.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (error) {
      throw new UnavailableError(`Cannot reach the Slipway server at ${this.target.server}`, {
        hint: 'Start it with `slipway server`, or point the CLI at it with --server or SLIPWAY_URL',
        cause: error,
      });
    }
    const text = await response.text();
    const json = text ? safeJson(text) : undefined;
    if (response.ok) return json as T;
    const error = (
      json as {
        error?: { code?: string; message?: string; hint?: string; details?: unknown; requestId?: string };
      }
    )?.error;
    if (error?.code && error.message) {
      throw new SlipwayError(error.code as Code, error.message, {
        ...(error.hint ? { hint: error.hint } : {}),
        details: error.details,
      });
    }
    if (response.status === 401) throw new UnauthenticatedError();
    throw new SlipwayError(
      ErrorCode.Internal,
      `The server answered ${response.status} ${response.statusText}`,
      {
        hint: 'Check that --server points at a Slipway server',
      },
    );
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Builds a query string from defined values. */
export function query(params: Record<string, string | number | undefined>): string {
  const entries = Object.entries(params).filter(([, v]) => v !== undefined && v !== '') as [
    string,
    string | number,
  ][];
  if (entries.length === 0) return '';
  return `?${new URLSearchParams(entries.map(([k, v]): [string, string] => [k, String(v)])).toString()}`;
}
