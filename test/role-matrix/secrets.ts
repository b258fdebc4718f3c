import { generateRootKey } from '../../src/secrets/index.ts';
import type { MatrixContext, MatrixModule } from './types.ts';

const STAGING = 'environment:staging';
const base = '/api/secrets/environments/staging';

/**
 * The secrets routes. The server under test may start sealed: the first case unseals it with a key
 * of its own, and the cases keep track of the root key as allowed callers rotate it.
 */
export const secretsMatrix: MatrixModule = {
  covers: [
    'POST /api/secrets/unseal',
    'POST /api/secrets/root-key/rotate',
    'GET /api/secrets/environments/:environment',
    'GET /api/secrets/environments/:environment/export',
    'POST /api/secrets/environments/:environment/import',
    'POST /api/secrets/environments/:environment/data-key/rotate',
    'GET /api/secrets/environments/:environment/sets',
    'GET /api/secrets/environments/:environment/sets/:version',
    'GET /api/secrets/environments/:environment/:name',
    'GET /api/secrets/environments/:environment/:name/value',
    'POST /api/secrets/environments/:environment/:name',
    'POST /api/secrets/environments/:environment/:name/rollback',
    'DELETE /api/secrets/environments/:environment/:name',
    'POST /api/secrets/environments/:environment/:name/restore',
  ],
  cases: (context) => {
    const keys = rootKeyTracker(context);
    const set = async (name: string, value: string) => {
      await keys.ready();
      const response = await context.admin('POST', `${base}/${name}`, { value });
      if (response.statusCode !== 200) throw new Error(`setting ${name} failed: ${response.body}`);
    };
    return [
      {
        name: 'unseal the secret store',
        needs: { role: 'admin', scope: 'platform' },
        request: async () => ({
          method: 'POST',
          path: '/api/secrets/unseal',
          body: { rootKey: await keys.current() },
        }),
      },
      {
        name: 'rotate the root key',
        needs: { role: 'admin', scope: 'platform' },
        request: async () => {
          const currentRootKey = await keys.current();
          return {
            method: 'POST',
            path: '/api/secrets/root-key/rotate',
            body: { currentRootKey, newRootKey: keys.propose() },
          };
        },
      },
      {
        name: 'list secrets',
        needs: { role: 'viewer', scope: STAGING },
        request: async () => {
          await keys.ready();
          return { method: 'GET', path: base };
        },
      },
      {
        name: 'export secrets',
        needs: { role: 'admin', scope: STAGING },
        request: async () => {
          await keys.ready();
          return { method: 'GET', path: `${base}/export` };
        },
      },
      {
        name: 'import secrets',
        needs: { role: 'admin', scope: STAGING },
        request: async (n) => {
          await keys.ready();
          return {
            method: 'POST',
            path: `${base}/import`,
            body: { entries: [{ name: `IMPORTED_${n}`, value: `v${n}` }] },
          };
        },
      },
      {
        name: 'rotate a data key',
        needs: { role: 'admin', scope: STAGING },
        request: async () => {
          await keys.ready();
          return { method: 'POST', path: `${base}/data-key/rotate` };
        },
      },
      {
        name: 'list secret set versions',
        needs: { role: 'viewer', scope: STAGING },
        request: async () => {
          await keys.ready();
          return { method: 'GET', path: `${base}/sets` };
        },
      },
      {
        name: 'show a secret set version',
        needs: { role: 'viewer', scope: STAGING },
        request: async (n) => {
          await set(`SET_${n}`, 'x');
          return { method: 'GET', path: `${base}/sets/1` };
        },
      },
      {
        name: 'show a secret and its history',
        needs: { role: 'viewer', scope: STAGING },
        request: async (n) => {
          await set(`SHOWN_${n}`, 'x');
          return { method: 'GET', path: `${base}/SHOWN_${n}` };
        },
      },
      {
        name: 'read a secret value',
        needs: { role: 'admin', scope: STAGING },
        request: async (n) => {
          await set(`READ_${n}`, `value-${n}`);
          return { method: 'GET', path: `${base}/READ_${n}/value` };
        },
      },
      {
        name: 'set a secret',
        needs: { role: 'admin', scope: STAGING },
        request: async (n) => {
          await keys.ready();
          return {
            method: 'POST',
            path: `${base}/WRITTEN_${n}`,
            body: { value: `value-${n}`, reason: 'matrix' },
          };
        },
      },
      {
        name: 'roll back a secret',
        needs: { role: 'admin', scope: STAGING },
        request: async (n) => {
          await set(`ROLLED_${n}`, 'one');
          await set(`ROLLED_${n}`, 'two');
          return { method: 'POST', path: `${base}/ROLLED_${n}/rollback`, body: { toVersion: 1 } };
        },
      },
      {
        name: 'delete a secret',
        needs: { role: 'admin', scope: STAGING },
        request: async (n) => {
          await set(`DELETED_${n}`, 'x');
          return { method: 'DELETE', path: `${base}/DELETED_${n}` };
        },
      },
      {
        name: 'restore a secret',
        needs: { role: 'admin', scope: STAGING },
        request: async (n) => {
          await set(`RESTORED_${n}`, 'x');
          await context.admin('DELETE', `${base}/RESTORED_${n}`);
          return { method: 'POST', path: `${base}/RESTORED_${n}/restore`, body: {} };
        },
      },
    ];
  },
};

/**
 * The root key of the server under test: unseals it once, and learns whether a proposed rotation
 * happened (only allowed callers' rotations do) by asking the server to unseal with the proposal.
 */
function rootKeyTracker(context: MatrixContext) {
  let current: string | undefined;
  let proposed: string | undefined;
  const ready = async () => {
    if (current) return;
    current = generateRootKey();
    const status = (await context.admin('GET', '/api/secrets/status')).json();
    if (!status.sealed) throw new Error('the server under test holds a root key the matrix does not know');
    const unsealed = await context.admin('POST', '/api/secrets/unseal', { rootKey: current });
    if (unsealed.statusCode !== 200) throw new Error(`unsealing failed: ${unsealed.body}`);
  };
  return {
    ready,
    async current(): Promise<string> {
      await ready();
      if (proposed) {
        const probe = await context.admin('POST', '/api/secrets/unseal', { rootKey: proposed });
        if (probe.statusCode === 200) current = proposed;
        proposed = undefined;
      }
      return current!;
    },
    propose(): string {
      proposed = generateRootKey();
      return proposed;
    },
  };
}
