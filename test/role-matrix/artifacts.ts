import { readFile } from 'node:fs/promises';
import { buildTestDeb } from '../../src/artifacts/testing.ts';
import type { MatrixContext, MatrixModule } from './types.ts';

const APP = 'matrix-pkg';
const VERSION = '1.0.0~b1+g0123456789ab';
const STAGING = { role: 'viewer' as const, scope: 'environment:staging' };

/**
 * The artifact repository: reading is for viewers of the platform, uploading for developers,
 * promoting to a channel for deployers of that channel's environment, and a channel's APT
 * repository for viewers of its environment.
 */
export const artifactsMatrix: MatrixModule = {
  covers: [
    'GET /api/artifacts',
    'GET /api/artifacts/:app/:version',
    'GET /api/artifacts/:app/:version/file',
    'POST /api/artifacts/:app',
    'POST /api/artifacts/:app/:version/promote',
    'GET /api/channels',
    'GET /apt/dists/:channel/:file',
    'GET /apt/dists/:channel/main/binary-amd64/:file',
    'GET /apt/dists/:channel/main/binary-amd64/by-hash/SHA256/:hash',
    'GET /apt/pool/:channel/*',
  ],
  cases: (context) => {
    const prepared = prepare(context);
    const encoded = encodeURIComponent(VERSION);
    return [
      {
        name: 'list artifacts',
        needs: { role: 'viewer', scope: 'platform' },
        request: async () => ({ method: 'GET', path: '/api/artifacts' }),
      },
      {
        name: 'show an artifact',
        needs: { role: 'viewer', scope: 'platform' },
        request: async () => {
          await prepared();
          return { method: 'GET', path: `/api/artifacts/${APP}/${encoded}` };
        },
      },
      {
        name: 'download an artifact',
        needs: { role: 'viewer', scope: 'platform' },
        request: async () => {
          await prepared();
          return { method: 'GET', path: `/api/artifacts/${APP}/${encoded}/file` };
        },
      },
      {
        name: 'upload an artifact (the same file again is a success too)',
        needs: { role: 'developer', scope: 'platform' },
        request: async () => ({
          method: 'POST',
          path: `/api/artifacts/${APP}`,
          body: (await prepared()).deb,
        }),
      },
      {
        name: 'promote to staging',
        needs: { role: 'deployer', scope: 'environment:staging' },
        request: async () => {
          await prepared();
          return {
            method: 'POST',
            path: `/api/artifacts/${APP}/${encoded}/promote`,
            body: { channel: 'staging' },
          };
        },
      },
      {
        name: 'list channels',
        needs: { role: 'viewer', scope: 'platform' },
        request: async () => ({ method: 'GET', path: '/api/channels' }),
      },
      {
        name: "read staging's InRelease",
        needs: STAGING,
        request: async () => {
          await prepared();
          return { method: 'GET', path: '/apt/dists/staging/InRelease' };
        },
      },
      {
        name: "read staging's Packages",
        needs: STAGING,
        request: async () => {
          await prepared();
          return { method: 'GET', path: '/apt/dists/staging/main/binary-amd64/Packages.gz' };
        },
      },
      {
        name: "read staging's Packages by hash",
        needs: STAGING,
        request: async () => ({
          method: 'GET',
          path: `/apt/dists/staging/main/binary-amd64/by-hash/SHA256/${(await prepared()).packagesSha256}`,
        }),
      },
      {
        name: "fetch a package from staging's pool",
        needs: STAGING,
        request: async () => ({ method: 'GET', path: `/apt/${(await prepared()).poolPath}` }),
      },
    ];
  },
};

/** Uploads the package once and promotes it to staging; later calls reuse what was made. */
function prepare(context: MatrixContext) {
  let made: Promise<{ deb: Buffer; poolPath: string; packagesSha256: string }> | undefined;
  return () => {
    made ??= (async () => {
      const deb = await readFile(await buildTestDeb({ name: APP, version: VERSION }));
      const uploaded = await context.admin('POST', `/api/artifacts/${APP}`, deb);
      if (uploaded.statusCode >= 300) throw new Error(`upload failed: ${uploaded.body}`);
      const promoted = await context.admin(
        'POST',
        `/api/artifacts/${APP}/${encodeURIComponent(VERSION)}/promote`,
        {
          channel: 'staging',
        },
      );
      if (promoted.statusCode !== 200) throw new Error(`promotion failed: ${promoted.body}`);
      const packages = await context.admin('GET', '/apt/dists/staging/main/binary-amd64/Packages');
      const poolPath = /^Filename: (.+)$/m.exec(packages.body)?.[1];
      if (!poolPath) throw new Error(`no Filename in Packages: ${packages.body}`);
      const { createHash } = await import('node:crypto');
      const packagesSha256 = createHash('sha256').update(packages.rawPayload).digest('hex');
      return { deb, poolPath, packagesSha256 };
    })();
    return made;
  };
}
