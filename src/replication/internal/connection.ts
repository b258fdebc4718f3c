/**
 * Connections to a link's source and target databases: one pg client each, with the session settings
 * that make COPY's text format identical on both sides, a watchdog that gives up on a silent network,
 * and errors that never carry the connection string.
 */
import pg from 'pg';

/** Which side of a link a connection goes to. */
export type Side = 'source' | 'target';

/** Options for a replication connection. */
export interface ConnectionOptions {
  readonly side: Side;
  /** Shown in pg_stat_activity. */
  readonly applicationName: string;
  /** Gives up on a query when the server sends nothing for this long. @default 120_000 */
  readonly networkTimeoutMs?: number;
  /** @default 10_000 */
  readonly connectTimeoutMs?: number;
}

/** Session settings applied on every connection: text output that the other side reads back exactly. */
const SESSION_SETTINGS = [
  "SET DateStyle = 'ISO, YMD'",
  "SET IntervalStyle = 'postgres'",
  'SET extra_float_digits = 3',
  "SET bytea_output = 'hex'",
  "SET TimeZone = 'UTC'",
  'SET standard_conforming_strings = on',
  "SET client_encoding = 'UTF8'",
  'SET statement_timeout = 0',
  'SET idle_in_transaction_session_timeout = 0',
  // The engine's queries are small, or large and I/O-bound: JIT compilation only adds latency (and the
  // disabled sequential scans of a batch header would otherwise cost enough to trigger it).
  'SET jit = off',
].join('; ');

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
]);

/** Whether an error means the connection is gone (so reconnecting may help). */
export function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: string } | undefined)?.code;
  if (code && (CONNECTION_CODES.has(code) || code.startsWith('08'))) return true;
  const message = error instanceof Error ? error.message : String(error);
  return /Connection terminated|connection is closed|Client has encountered a connection error|not queryable|no answer from the|socket hang up|read ECONNRESET|timeout expired/i.test(
    message,
  );
}

/**
 * Describes why a connection failed, in words that carry no host, user, password or database name.
 */
export function describeConnectionFailure(error: unknown): string {
  const e = error as { code?: string; message?: string } | undefined;
  switch (e?.code) {
    case 'ECONNREFUSED':
      return 'the connection was refused (is the server running and listening there?)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'the host name could not be resolved';
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'the server could not be reached';
    case 'ECONNRESET':
    case 'EPIPE':
      return 'the connection was reset';
    case '28P01':
      return 'password authentication failed';
    case '28000':
      return 'the server refused the login (pg_hba.conf or role settings)';
    case '3D000':
      return 'the database does not exist';
    case '57P03':
      return 'the server is starting up or shutting down';
    case '53300':
      return 'the server has too many connections';
    default:
      break;
  }
  const message = e?.message ?? '';
  if (/self[- ]signed|certificate|SSL|TLS|Hostname\/IP does not match/i.test(message)) {
    return 'the TLS connection could not be verified (check sslmode, sslrootcert and the server certificate)';
  }
  if (/timeout/i.test(message)) return 'the connection timed out';
  if (/terminated|closed/i.test(message)) return 'the connection was closed';
  return 'the connection failed';
}

/** An open connection with its watchdog. */
export interface ReplicationConnection {
  readonly client: pg.Client;
  readonly side: Side;
  /** Closes the connection (an error while closing is ignored). */
  close(): Promise<void>;
  /** Whether the connection failed or was closed. */
  readonly broken: boolean;
  /** Why the watchdog closed it ("no answer from the target for 2 s"), when it did. */
  readonly silence: string | undefined;
}

/**
 * Opens a connection to one side of a link.
 * @throws an Error whose message says which side failed and why, without the connection string
 */
export async function openConnection(
  dsn: string,
  options: ConnectionOptions,
): Promise<ReplicationConnection> {
  const client = new pg.Client({
    connectionString: dsn,
    application_name: options.applicationName.slice(0, 63),
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  });
  let broken = false;
  client.on('error', () => {
    broken = true;
  });
  client.on('end', () => {
    broken = true;
  });
  try {
    await client.connect();
    await client.query(SESSION_SETTINGS);
  } catch (error) {
    await client.end().catch(() => undefined);
    const failure = new Error(`Cannot connect to the ${options.side}: ${describeConnectionFailure(error)}`);
    (failure as { code?: string }).code = (error as { code?: string }).code ?? 'ECONNRESET';
    throw failure;
  }
  let silence: string | undefined;
  const stopWatchdog = watchSilence(client, options.networkTimeoutMs ?? 120_000, options.side, (why) => {
    broken = true;
    silence = why;
  });
  return {
    client,
    side: options.side,
    get broken() {
      return broken;
    },
    get silence() {
      return silence;
    },
    async close() {
      stopWatchdog();
      broken = true;
      await client.end().catch(() => undefined);
    },
  };
}

/**
 * Destroys the socket when a query is outstanding and the server has sent nothing for `timeoutMs`:
 * TCP alone can take many minutes to notice a network that silently drops packets.
 */
function watchSilence(
  client: pg.Client,
  timeoutMs: number,
  side: Side,
  onBroken: (why: string) => void,
): () => void {
  const internals = client as unknown as {
    connection: { stream: NodeJS.ReadWriteStream & { destroy(error?: Error): void } };
    _activeQuery?: unknown;
    _queryQueue: unknown[];
  };
  const stream = internals.connection.stream;
  let lastHeard = Date.now();
  let waitingSince: number | undefined;
  const heard = () => {
    lastHeard = Date.now();
  };
  stream.on('data', heard);
  const timer = setInterval(
    () => {
      const busy = Boolean(internals._activeQuery) || internals._queryQueue.length > 0;
      if (!busy) {
        waitingSince = undefined;
        return;
      }
      waitingSince ??= Date.now();
      const silentFor = Date.now() - Math.max(lastHeard, waitingSince);
      if (silentFor > timeoutMs) {
        const why = `no answer from the ${side} for ${Math.round(silentFor / 1000)} s`;
        onBroken(why);
        stream.destroy(new Error(why));
      }
    },
    Math.min(1000, Math.max(100, timeoutMs / 4)),
  );
  timer.unref();
  return () => {
    clearInterval(timer);
    stream.off('data', heard);
  };
}

/** Runs `work` in a transaction on `client`; rolls back when it throws. */
export async function inClientTransaction<T>(
  client: pg.Client,
  work: () => Promise<T>,
  begin = 'BEGIN',
): Promise<T> {
  await client.query(begin);
  try {
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
