import { runSql } from '../../src/replication/testing.ts';
import type { MatrixContext, MatrixModule } from './types.ts';

const PLATFORM = 'platform';
const base = '/api/replication/links';

/** A database URL in the test server's own cluster. */
function databaseUrl(context: MatrixContext, database: string): string {
  const url = new URL(context.server.postgres.url);
  url.pathname = `/${database}`;
  return url.toString();
}

/**
 * The replication routes. Each case prepares its link once (two databases in the test server's own
 * cluster): a denied caller is refused before anything runs, so only the one allowed call acts on it.
 */
export const replicationMatrix: MatrixModule = {
  covers: [
    'GET /api/replication/links',
    'GET /api/replication/links/:name',
    'POST /api/replication/links',
    'POST /api/replication/links/:name/start',
    'POST /api/replication/links/:name/stop',
    'POST /api/replication/links/:name/verify',
    'POST /api/replication/links/:name/resync',
    'POST /api/replication/links/:name/promote',
    'POST /api/replication/links/:name/ddl',
    'POST /api/replication/links/:name/reverse',
    'DELETE /api/replication/links/:name',
  ],
  cases: (context) => {
    const prepared = new Map<string, Promise<{ source: string; target: string }>>();
    /** Two databases with one table, made once per name. */
    const databases = (name: string) => {
      let ready = prepared.get(name);
      if (!ready) {
        ready = (async () => {
          const [source, target] = [`${name}_source`, `${name}_target`].map((d) => d.replaceAll('-', '_'));
          await runSql(context.server.postgres.url, `CREATE DATABASE ${source}`);
          await runSql(context.server.postgres.url, `CREATE DATABASE ${target}`);
          const urls = { source: databaseUrl(context, source!), target: databaseUrl(context, target!) };
          for (const url of [urls.source, urls.target]) {
            await runSql(url, 'CREATE TABLE items (id integer PRIMARY KEY, label text)');
          }
          await runSql(urls.source, `INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, 20) i`);
          return urls;
        })();
        prepared.set(name, ready);
      }
      return ready;
    };
    const links = new Map<string, Promise<void>>();
    /** A link made once by the administrator (and promoted, when asked). */
    const link = (name: string, options: { promoted?: boolean; settled?: boolean } = {}) => {
      let ready = links.get(name);
      if (!ready) {
        ready = (async () => {
          const urls = await databases(name);
          const created = await context.admin('POST', base, { name, ...urls, tables: ['public.items'] });
          if (created.statusCode !== 201) throw new Error(`creating link ${name} failed: ${created.body}`);
          if (options.settled) {
            for (let i = 0; i < 300; i++) {
              const shown = await context.admin('GET', `${base}/${name}`);
              if (shown.json().health === 'replicating') break;
              await new Promise((resolve) => setTimeout(resolve, 100));
            }
          }
          if (options.promoted) {
            const promoted = await context.admin('POST', `${base}/${name}/promote`);
            if (promoted.statusCode !== 200)
              throw new Error(`promoting link ${name} failed: ${promoted.body}`);
          }
        })();
        links.set(name, ready);
      }
      return ready;
    };
    const on =
      (name: string, action: string, method = 'POST', body?: unknown, promoted = false) =>
      async () => {
        await link(name, { promoted, settled: name === 'rm-ddl' });
        return { method, path: `${base}/${name}${action}`, ...(body === undefined ? {} : { body }) };
      };
    return [
      {
        name: 'list replication links',
        needs: { role: 'viewer', scope: PLATFORM },
        request: async () => ({ method: 'GET', path: base }),
      },
      {
        name: 'show a replication link',
        needs: { role: 'viewer', scope: PLATFORM },
        request: on('rm-shared', '', 'GET'),
      },
      {
        name: 'create a replication link',
        needs: { role: 'admin', scope: PLATFORM },
        request: async () => ({
          method: 'POST',
          path: base,
          body: { name: 'rm-created', ...(await databases('rm-created')), schema: 'public' },
        }),
      },
      {
        name: 'stop a replication link',
        needs: { role: 'admin', scope: PLATFORM },
        request: on('rm-shared', '/stop'),
      },
      {
        name: 'start a replication link',
        needs: { role: 'admin', scope: PLATFORM },
        request: on('rm-shared', '/start'),
      },
      {
        name: 'verify a replication link',
        needs: { role: 'admin', scope: PLATFORM },
        request: on('rm-shared', '/verify'),
      },
      {
        name: 'resync a table',
        needs: { role: 'admin', scope: PLATFORM },
        request: on('rm-shared', '/resync', 'POST', { table: 'public.items' }),
      },
      {
        name: 'apply a schema change through a link',
        needs: { role: 'admin', scope: PLATFORM },
        request: on('rm-ddl', '/ddl', 'POST', {
          script: 'CREATE INDEX IF NOT EXISTS items_label ON items (label)',
        }),
      },
      {
        name: 'promote a replica',
        needs: { role: 'admin', scope: PLATFORM },
        request: on('rm-promote', '/promote'),
      },
      {
        name: 'reverse a promoted link',
        needs: { role: 'admin', scope: PLATFORM },
        request: on('rm-reverse', '/reverse', 'POST', undefined, true),
      },
      {
        name: 'drop a replication link',
        needs: { role: 'admin', scope: PLATFORM },
        request: on('rm-drop', '', 'DELETE'),
      },
    ];
  },
};
