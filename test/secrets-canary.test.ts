/**
 * The canary: a unique secret value is set, used (resolved for a deployment, rendered, written to an
 * env file, redacted from a log), pushed through every error path we can provoke, and then looked for
 * everywhere Slipway writes: every server log line (at trace level), every audit entry, every API
 * error body, PostgreSQL's own log, and a pg_dump of Slipway's database. It must appear nowhere, in
 * plain text, hex or base64.
 *
 * When pipelines and deployments exist, extend this: run a pipeline and a deploy that use the canary,
 * then scan their logs, the agent's state files and the desired-state documents too.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createLogger, randomToken } from '../src/core/index.ts';
import {
  createRedactor,
  currentSecretSetVersion,
  generateRootKey,
  renderLaravelEnv,
  resolveSecretSet,
  writeEnvFileAtomically,
} from '../src/secrets/index.ts';
import { canaryValue } from '../src/secrets/testing.ts';
import { loadServerConfig } from '../src/server/config.ts';
import { type RunningServer, startServer } from '../src/server/server.ts';
import { POSTGRES_BIN } from '../src/store/index.ts';
import { startPostgres, type TestPostgres } from '../src/store/testing.ts';

const run = promisify(execFile);
const canary = canaryValue();
const rootKey = generateRootKey();
const logLines: string[] = [];
const errorBodies: string[] = [];
let postgres: TestPostgres;
let server: RunningServer;
let dir: string;
let adminToken: string;

async function api(method: string, path: string, body?: unknown, token = adminToken) {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  if (response.status >= 400) errorBodies.push(text);
  return { status: response.status, text, json: () => JSON.parse(text) };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-canary-'));
  postgres = await startPostgres();
  const destination = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  const adminPassword = `admin-${randomToken(12)}`;
  const config = loadServerConfig(
    { port: 0, databaseUrl: postgres.url, adminPassword, rootKey, logLevel: 'trace', loginRateLimit: 1000 },
    {},
  );
  server = await startServer(config, { logger: createLogger({ level: 'trace', destination }) });
  const login = await fetch(`${server.url}/api/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: adminPassword, name: 'canary' }),
  });
  adminToken = ((await login.json()) as { value: string }).value;
});
afterAll(async () => {
  await server?.close();
  await postgres?.stop();
  await rm(dir, { recursive: true, force: true });
});

const base = '/api/secrets/environments/staging';

describe('the canary secret value appears nowhere but where it is used', () => {
  test('set, change, roll back, import, export and read it, and use it for a deployment', async () => {
    expect((await api('POST', `${base}/CANARY_SECRET`, { value: canary, reason: 'canary' })).status).toBe(
      200,
    );
    expect((await api('POST', `${base}/CANARY_SECRET`, { value: canary })).status).toBe(200);
    expect((await api('POST', `${base}/OTHER`, { value: `${canary}-other` })).status).toBe(200);
    expect((await api('POST', `${base}/CANARY_SECRET`, { value: 'interim' })).status).toBe(200);
    expect((await api('POST', `${base}/CANARY_SECRET/rollback`, { toVersion: 1 })).status).toBe(200);
    expect(
      (
        await api('POST', '/api/secrets/environments/production/import', {
          entries: [{ name: 'CANARY_SECRET', value: canary }],
        })
      ).status,
    ).toBe(200);
    expect((await api('GET', `${base}/CANARY_SECRET/value`)).json().value).toBe(canary);
    expect((await api('GET', `${base}/export`)).text).toContain(canary);
    expect((await api('GET', '/api/secrets/matrix')).status).toBe(200);
    expect((await api('GET', `${base}/CANARY_SECRET`)).status).toBe(200);

    // Used for a deployment: resolved, rendered, written to the app's env file, redacted from a log.
    const db = server.store.db;
    const setVersion = await currentSecretSetVersion(db, 'staging');
    const resolved = await resolveSecretSet(db, {
      vault: server.secretVault,
      environment: 'staging',
      setVersion,
      actor: 'system:canary',
      purpose: 'release:canary',
    });
    expect(resolved.values.CANARY_SECRET).toBe(canary);
    const envFile = join(dir, '.env');
    await writeEnvFileAtomically(
      envFile,
      renderLaravelEnv({ secrets: resolved.values, config: { APP_ENV: 'staging' } }),
      {
        uid: 4321,
        gid: 4321,
      },
    );
    expect(await readFile(envFile, 'utf8')).toContain(`CANARY_SECRET=${canary}`); // the app sees it
    expect((await stat(envFile)).mode & 0o777).toBe(0o600);
    const redacted = createRedactor(resolved.values).redact(`deploy step: migrating with ${canary}\n`);
    expect(redacted).toBe('deploy step: migrating with [redacted:CANARY_SECRET]\n');
  });

  test('every error path a request carrying the value can take', async () => {
    const deployer = await api('POST', '/api/users', {
      username: 'canary-deployer',
      password: 'canary-deployer-pw',
    });
    expect(deployer.status).toBe(201);
    await api('POST', '/api/role-bindings', {
      subject: 'user:canary-deployer',
      role: 'deployer',
      scope: 'environment:staging',
    });
    const login = await fetch(`${server.url}/api/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'canary-deployer', password: 'canary-deployer-pw' }),
    });
    const token = ((await login.json()) as { value: string }).value;

    const failures = [
      await api('POST', `${base}/bad-name`, { value: canary }),
      await api('POST', `${base}/CANARY_SECRET`, { value: canary, unexpected: canary }),
      await api('POST', `${base}/CANARY_SECRET`, { value: canary.repeat(3000) }),
      await api('POST', `${base}/CANARY_SECRET`, { value: `${canary}\ud800` }),
      await api('POST', `${base}/CANARY_SECRET`, { value: canary }, token),
      await api('GET', `${base}/CANARY_SECRET/value`, undefined, token),
      await api('GET', `${base}/export`, undefined, token),
      await api('POST', `${base}/import`, { entries: [{ name: 'lower', value: canary }] }),
      await api('POST', `${base}/import`, {
        entries: [
          { name: 'TWICE', value: canary },
          { name: 'TWICE', value: canary },
        ],
      }),
      await api('POST', `${base}/CANARY_SECRET/rollback`, { toVersion: 99 }),
      await api('GET', `${base}/CANARY_SECRET/value?version=99`),
      await api('POST', '/api/secrets/unseal', { rootKey: canary }),
      await api('POST', '/api/secrets/root-key/rotate', { currentRootKey: canary, newRootKey: canary }),
      await api('POST', '/api/secrets/root-key/rotate', { currentRootKey: rootKey, newRootKey: canary }),
      await api('POST', `${base}/CANARY_SECRET`, `{"value": "${canary}", `),
      await api('POST', `${base}/CANARY_SECRET`, `{"value": ${canary}}`),
      await api('POST', `${base}/CANARY_SECRET`, { value: canary.repeat(12_000) }),
    ];
    expect(failures.map((f) => f.status)).toStrictEqual([
      400, 400, 400, 400, 403, 403, 403, 400, 400, 404, 404, 400, 400, 400, 400, 400, 400,
    ]);

    // While sealed, a write carrying the value is refused with 503; then the store is unsealed again.
    server.secretVault.seal();
    expect((await api('POST', `${base}/CANARY_SECRET`, { value: canary })).status).toBe(503);
    expect((await api('GET', `${base}/CANARY_SECRET/value`)).status).toBe(503);
    expect((await api('POST', '/api/secrets/unseal', { rootKey })).status).toBe(200);
    expect((await api('GET', `${base}/CANARY_SECRET/value`)).json().value).toBe(canary);
  });

  test('key rotations leave the value readable and still nowhere in plain text', async () => {
    expect((await api('POST', `${base}/data-key/rotate`)).status).toBe(200);
    const db = server.store.db;
    const until = Date.now() + 30_000;
    while (
      (
        await db
          .selectFrom('secret_data_keys')
          .select('id')
          .where('scope', '=', 'environment:staging')
          .execute()
      ).length > 1
    ) {
      if (Date.now() > until) throw new Error('the re-encryption job did not finish');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const newKey = generateRootKey();
    expect(
      (await api('POST', '/api/secrets/root-key/rotate', { currentRootKey: rootKey, newRootKey: newKey }))
        .status,
    ).toBe(200);
    expect((await api('GET', `${base}/CANARY_SECRET/value`)).json().value).toBe(canary);
  });

  test('scan: logs, audit entries, error bodies, PostgreSQL log and pg_dump hold no form of the value', async () => {
    const forms = [
      canary,
      Buffer.from(canary).toString('hex'),
      Buffer.from(canary).toString('base64'),
      Buffer.from(canary).toString('base64url'),
    ];
    const audit = JSON.stringify(
      await server.store.db.selectFrom('audit_log').selectAll().orderBy('id').execute(),
    );
    const { stdout: dump } = await run(`${POSTGRES_BIN}/pg_dump`, ['--no-owner', '--dbname', postgres.url], {
      maxBuffer: 256 * 1024 * 1024,
    });
    const postgresLog = await readFile(postgres.cluster.logFile, 'utf8').catch(() => '');
    const places: Record<string, string> = {
      'server log': logLines.join(''),
      'audit log': audit,
      'API error bodies': errorBodies.join('\n'),
      'PostgreSQL log': postgresLog,
      pg_dump: dump,
    };
    // The scan looks at real material: the places hold what they should.
    expect(logLines.length).toBeGreaterThan(30);
    expect(places['server log']).toContain('"route":"/api/secrets/environments/:environment/:name/value"');
    expect(errorBodies.length).toBeGreaterThanOrEqual(19);
    expect(audit).toContain('"action":"secrets.read"');
    expect(audit).toContain('"action":"secrets.resolve"');
    expect(dump).toContain('COPY public.secret_versions');
    expect(dump).toContain('CANARY_SECRET');
    const found = Object.entries(places).flatMap(([place, text]) =>
      forms
        .filter((form) => text.includes(form))
        .map((form) => `${place} contains ${form === canary ? 'the value' : 'an encoding of it'}`),
    );
    expect(found).toStrictEqual([]);
  });
});
