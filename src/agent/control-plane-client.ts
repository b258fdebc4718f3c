import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** The control plane answered with an error, or could not be reached. */
export class ControlPlaneError extends Error {
  constructor(
    message: string,
    /** The HTTP status; 0 when the control plane could not be reached. */
    readonly status: number,
    /** The error code of Slipway's error body, when there was one. */
    readonly code?: string,
  ) {
    super(message);
    this.name = 'ControlPlaneError';
  }
}

/**
 * The agent's side of the API, over node:http (no fetch: it loads far more code than an agent
 * needs). Every call carries the agent's bearer credential; the control plane never calls the agent.
 */
export class ControlPlaneClient {
  readonly #base: URL;
  #credential: string | undefined;

  constructor(server: string, credential?: string) {
    this.#base = new URL(server);
    this.#credential = credential;
  }

  /** The credential used from now on. */
  setCredential(credential: string): void {
    this.#credential = credential;
  }

  /** Sends a request and returns the parsed JSON body of a 2xx answer. */
  request<T>(
    method: string,
    path: string,
    options: { body?: unknown; timeoutMs?: number; credential?: string } = {},
  ): Promise<T> {
    const url = new URL(path, this.#base);
    const body = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const credential = options.credential ?? this.#credential;
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(
        url,
        {
          method,
          agent: false,
          timeout: options.timeoutMs ?? 15_000,
          headers: {
            accept: 'application/json',
            ...(credential ? { authorization: `Bearer ${credential}` } : {}),
            ...(body ? { 'content-type': 'application/json', 'content-length': String(body.length) } : {}),
          },
        },
        (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', (error) => reject(new ControlPlaneError(error.message, 0)));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json: unknown;
            try {
              json = text ? JSON.parse(text) : undefined;
            } catch {
              json = undefined;
            }
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) return resolve(json as T);
            const error = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
            reject(
              new ControlPlaneError(
                error?.message ?? `the control plane answered ${status}`,
                status,
                error?.code,
              ),
            );
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('the control plane did not answer in time')));
      req.on('error', (error) =>
        reject(new ControlPlaneError(`cannot reach the control plane: ${error.message}`, 0)),
      );
      req.end(body);
    });
  }
}
