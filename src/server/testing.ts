/**
 * Fixtures for tests of the control plane: a real server on 127.0.0.1 (port picked by the OS) over a
 * throwaway PostgreSQL cluster, with helpers to make users holding given roles.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import { randomToken } from '../core/index.ts';
import { startPostgres, type TestPostgres } from '../store/testing.ts';
import { loadServerConfig, type ServerSettings } from './config.ts';
import { type RunningServer, startServer } from './server.ts';

/** A started control plane for a test. */
export interface TestServer {
  readonly server: RunningServer;
  readonly url: string;
  readonly postgres: TestPostgres;
  readonly adminPassword: string;
  /** The server's data directory (removed by `stop`). */
  readonly dataDir: string;
  /** An API token of the bootstrap administrator. */
  readonly adminToken: string;
  /** Sends a request in-process (no socket), as `token` when given. */
  inject(
    method: string,
    path: string,
    options?: { token?: string; body?: unknown; headers?: Record<string, string> },
  ): Promise<LightMyRequestResponse>;
  /** Creates a user, grants it roles ("deployer@environment:staging" or "admin@platform"), returns a token. */
  userWithRoles(username: string, grants: readonly string[]): Promise<string>;
  /** Exchanges a username and password for a token. */
  tokenFor(username: string, password: string): Promise<string>;
  /** Stops the server (the database keeps running until `stop`). */
  stopServer(): Promise<void>;
  /** Stops the server (when it runs) and starts it again on the same database. */
  restartServer(): Promise<void>;
  /** Stops the server and the database, and removes their files. */
  stop(): Promise<void>;
}

/** The password every user made by `userWithRoles` gets. */
export const TEST_USER_PASSWORD = 'test-user-password-1';

/** Starts a control plane over a fresh PostgreSQL cluster. */
export async function startTestServer(settings: ServerSettings = {}): Promise<TestServer> {
  const postgres = await startPostgres();
  // A data directory of its own (artifacts, local environments, keys): never the checkout's .slipway.
  const dataDir = await mkdtemp(join(tmpdir(), 'slipway-test-data-'));
  await chmod(dataDir, 0o711);
  const adminPassword = `admin-${randomToken(12)}`;
  const config = loadServerConfig(
    {
      port: 0,
      logLevel: 'silent',
      databaseUrl: postgres.url,
      dataDir,
      adminPassword,
      loginRateLimit: 1000,
      ...settings,
    },
    {},
  );
  let server: RunningServer;
  let running = false;
  try {
    server = await startServer(config);
    running = true;
  } catch (error) {
    await postgres.stop();
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  const inject: TestServer['inject'] = (method, path, options = {}) =>
    server.app.inject({
      method: method as 'GET',
      url: path,
      headers: {
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        ...options.headers,
      },
      ...(options.body !== undefined ? { payload: options.body as object } : {}),
    });
  const tokenFor = async (username: string, password: string) => {
    const response = await inject('POST', '/api/auth/token', { body: { username, password, name: 'test' } });
    if (response.statusCode !== 201) throw new Error(`login of ${username} failed: ${response.body}`);
    return response.json<{ value: string }>().value;
  };
  const adminToken = await tokenFor('admin', adminPassword);

  const fixture: TestServer = {
    get server() {
      return server;
    },
    get url() {
      return server.url;
    },
    postgres,
    adminPassword,
    adminToken,
    inject,
    tokenFor,
    async userWithRoles(username, grants) {
      const created = await inject('POST', '/api/users', {
        token: adminToken,
        body: { username, password: TEST_USER_PASSWORD },
      });
      if (created.statusCode !== 201) throw new Error(`creating ${username} failed: ${created.body}`);
      for (const grant of grants) {
        const [role, scope] = grant.split('@');
        const bound = await inject('POST', '/api/role-bindings', {
          token: adminToken,
          body: { subject: `user:${username}`, role, scope: scope ?? 'platform' },
        });
        if (bound.statusCode !== 201) throw new Error(`granting ${grant} failed: ${bound.body}`);
      }
      return tokenFor(username, TEST_USER_PASSWORD);
    },
    async stopServer() {
      running = false;
      await server.close();
    },
    async restartServer() {
      // A restart stops the running server first: two servers on one database would race each other.
      if (running) await fixture.stopServer();
      server = await startServer(config);
      running = true;
    },
    async stop() {
      await server.close().catch(() => undefined);
      await postgres.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
    dataDir,
  };
  return fixture;
}
