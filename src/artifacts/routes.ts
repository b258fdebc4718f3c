import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import {
  type AnyRoute,
  defineRoute,
  environmentScope,
  InvalidInputError,
  NotFoundError,
  PLATFORM,
} from '../core/index.ts';
import { PACKAGES_DIR } from './apt-index.ts';
import type { ArtifactRepository } from './repository.ts';
import {
  AppName,
  Artifact,
  ArtifactDetails,
  Channel,
  ChannelName,
  DebianVersion,
  Sha256Hex,
  UploadResult,
} from './schema.ts';
import { sendFile } from './send-file.ts';

/** What the artifact routes need. */
export interface ArtifactRouteOptions {
  readonly repository: ArtifactRepository;
  /** The URL clients reach this server at, for sources lines; else the request's own origin. */
  readonly publicUrl?: string;
}

const AppParams = z.strictObject({ app: AppName });
const VersionParams = z.strictObject({ app: AppName, version: DebianVersion });
const DEB_TYPE = 'application/vnd.debian.binary-package';

/** Where a client should point apt for a channel. */
export function sourcesLine(baseUrl: string, channel: string): string {
  return `deb [signed-by=/etc/apt/keyrings/slipway.asc] ${baseUrl.replace(/\/+$/, '')}/apt ${channel} main`;
}

function originOf(reply: FastifyReply, publicUrl: string | undefined): string {
  return publicUrl ?? `${reply.request.protocol}://${reply.request.host}`;
}

function sendIndex(reply: FastifyReply, data: Buffer, contentType: string): FastifyReply {
  return reply.code(200).header('cache-control', 'no-cache').type(contentType).send(data);
}

/** The artifact repository's HTTP routes: versions, uploads, downloads, promotion, and APT per channel. */
export function artifactRoutes(options: ArtifactRouteOptions): AnyRoute[] {
  const { repository } = options;
  return [
    defineRoute({
      method: 'GET',
      path: '/api/artifacts',
      summary:
        'List artifact versions, newest first (by app, channel, or a search of version, package and commit)',
      tags: ['artifacts'],
      access: { role: 'viewer', scope: PLATFORM },
      query: z.strictObject({
        app: AppName.optional(),
        channel: ChannelName.optional(),
        search: z.string().min(1).max(100).optional(),
        limit: z.coerce.number().int().min(1).max(1000).default(100),
      }),
      response: z.array(Artifact),
      async handler({ input, db }) {
        return repository.list(input.query, db);
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/artifacts/:app/:version',
      summary: 'Show one artifact version: its file, build metadata, control fields and channels',
      tags: ['artifacts'],
      access: { role: 'viewer', scope: PLATFORM },
      params: VersionParams,
      response: ArtifactDetails,
      async handler({ input, db }) {
        return repository.get(input.params.app, input.params.version, db);
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/artifacts/:app/:version/file',
      summary: 'Download the .deb of a version (Range requests supported)',
      tags: ['artifacts'],
      access: { role: 'viewer', scope: PLATFORM },
      params: VersionParams,
      raw: true,
      async handler({ input, reply }) {
        const file = await repository.file(input.params.app, input.params.version);
        sendFile(reply, file, { contentType: DEB_TYPE, attachment: true });
        return undefined;
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/artifacts/:app',
      summary:
        'Upload a .deb (the request body, streamed); its control file names the version. 201 when stored, 200 when the same file was there already',
      tags: ['artifacts'],
      access: { role: 'developer', scope: PLATFORM },
      params: AppParams,
      query: z.strictObject({ sha256: Sha256Hex.optional() }),
      rawBody: 'stream',
      raw: true,
      // Receiving a large file must not hold a database transaction open.
      transaction: false,
      audit: { action: 'artifacts.upload', target: ({ params }) => `app:${params.app}` },
      async handler(context) {
        const { app } = context.input.params;
        const lengthHeader = context.reply.request.headers['content-length'];
        const expectedSize = lengthHeader !== undefined ? Number(lengthHeader) : undefined;
        if (expectedSize !== undefined && !Number.isSafeInteger(expectedSize)) {
          throw new InvalidInputError('Cannot read the upload: its Content-Length is not a number', {
            hint: 'Send the file with a correct Content-Length, or chunked',
          });
        }
        if (expectedSize !== undefined && expectedSize > repository.maxArtifactBytes) {
          throw new InvalidInputError(
            `Cannot store the upload: it has ${expectedSize} bytes, more than the limit of ${repository.maxArtifactBytes}`,
            { hint: 'Upload a smaller file, or raise the limit on the server', retryable: false },
          );
        }
        const result = await repository.store(context.bodyStream!, {
          app,
          actor: context.principal?.username,
          ...(expectedSize !== undefined ? { expectedSize } : {}),
          ...(context.input.query.sha256 ? { expectedSha256: context.input.query.sha256 } : {}),
        });
        context.audit.target = `artifact:${app}@${result.artifact.version}`;
        context.audit.details = { sha256: result.artifact.sha256, created: result.created };
        context.reply.code(result.created ? 201 : 200).send(UploadResult.parse(result));
        return undefined;
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/artifacts/:app/:version/promote',
      summary: "Promote a version to an environment's channel (its APT repository); idempotent",
      tags: ['artifacts'],
      access: { role: 'deployer', scope: ({ body }) => environmentScope(body.channel) },
      params: VersionParams,
      body: z.strictObject({ channel: ChannelName }),
      response: z.object({
        artifact: Artifact,
        channel: z.string(),
        revision: z.number().int(),
        alreadyPromoted: z.boolean(),
      }),
      successStatus: 200,
      audit: {
        action: 'artifacts.promote',
        target: ({ params }) => `artifact:${params.app}@${params.version}`,
      },
      async handler(context) {
        const { app, version } = context.input.params;
        const { channel } = context.input.body;
        const result = await repository.promote(
          { app, version, channel, ...(context.principal ? { actor: context.principal.username } : {}) },
          context.db,
        );
        context.audit.details = {
          channel,
          revision: result.revision,
          alreadyPromoted: result.alreadyPromoted,
        };
        return { ...result, channel };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/channels',
      summary: 'List channels with their index revision, size and the apt sources line',
      tags: ['artifacts'],
      access: { role: 'viewer', scope: PLATFORM },
      response: z.array(Channel),
      async handler({ db, reply }) {
        const origin = originOf(reply, options.publicUrl);
        return (await repository.apt.channels(db)).map((c) => ({
          ...c,
          sourcesLine: sourcesLine(origin, c.name),
        }));
      },
    }),
    ...aptRoutes(repository),
  ];
}

/** The APT repository: signed indexes and pool files per channel, and the public key for signed-by. */
function aptRoutes(repository: ArtifactRepository): AnyRoute[] {
  // Each host's agent reads the channel named like its environment (apt with its host credential as
  // the Basic password), and no other channel: reviewed exception, see RouteAccess.
  const channelAccess = {
    role: 'viewer' as const,
    scope: ({ params }: { params: { channel: string } }) => environmentScope(params.channel),
    agents: true as const,
  };
  return [
    defineRoute({
      method: 'GET',
      path: '/apt/slipway.asc',
      summary: "The repository's public OpenPGP key, ASCII-armoured (for apt's signed-by)",
      tags: ['apt'],
      access: 'authenticated',
      raw: true,
      async handler({ reply }) {
        sendIndex(reply, Buffer.from((await repository.key.publicKey()).armored), 'application/pgp-keys');
        return undefined;
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/apt/slipway.gpg',
      summary: "The repository's public OpenPGP key, binary (for apt's signed-by)",
      tags: ['apt'],
      access: 'authenticated',
      raw: true,
      async handler({ reply }) {
        sendIndex(reply, Buffer.from((await repository.key.publicKey()).binary), 'application/octet-stream');
        return undefined;
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/apt/dists/:channel/:file',
      summary: "A channel's signed Release file: InRelease, Release or Release.gpg",
      tags: ['apt'],
      access: channelAccess,
      params: z.strictObject({ channel: ChannelName, file: z.enum(['InRelease', 'Release', 'Release.gpg']) }),
      raw: true,
      async handler({ input, reply }) {
        const data = await repository.apt.file(input.params.channel, input.params.file);
        sendIndex(
          reply,
          data,
          input.params.file === 'Release.gpg' ? 'application/pgp-signature' : 'text/plain',
        );
        return undefined;
      },
    }),
    defineRoute({
      method: 'GET',
      path: `/apt/dists/:channel/${PACKAGES_DIR}/:file`,
      summary: "A channel's Packages index, plain or gzip-compressed",
      tags: ['apt'],
      access: channelAccess,
      params: z.strictObject({ channel: ChannelName, file: z.enum(['Packages', 'Packages.gz']) }),
      raw: true,
      async handler({ input, reply }) {
        const data = await repository.apt.file(input.params.channel, input.params.file);
        sendIndex(reply, data, input.params.file === 'Packages.gz' ? 'application/gzip' : 'text/plain');
        return undefined;
      },
    }),
    defineRoute({
      method: 'GET',
      path: `/apt/dists/:channel/${PACKAGES_DIR}/by-hash/SHA256/:hash`,
      summary: 'A Packages index by its SHA-256, from the current or a recent index revision',
      tags: ['apt'],
      access: channelAccess,
      params: z.strictObject({ channel: ChannelName, hash: Sha256Hex }),
      raw: true,
      async handler({ input, reply }) {
        const data = await repository.apt.byHash(input.params.channel, input.params.hash);
        if (!data) {
          throw new NotFoundError(
            `Cannot find an index with SHA-256 ${input.params.hash} in channel "${input.params.channel}"`,
            {
              hint: 'Run `apt-get update` again: the channel has changed since',
            },
          );
        }
        sendIndex(reply, data, 'application/octet-stream');
        return undefined;
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/apt/pool/:channel/*',
      summary: 'A package file of a channel (only versions promoted to it; Range requests supported)',
      tags: ['apt'],
      access: channelAccess,
      params: z.strictObject({ channel: ChannelName, '*': z.string().min(1).max(500) }),
      raw: true,
      async handler({ input, reply }) {
        const path = `pool/${input.params.channel}/${input.params['*']}`;
        const file = await repository.poolFile(input.params.channel, path);
        if (!file) {
          throw new NotFoundError(`Cannot find "${path}" in channel "${input.params.channel}"`, {
            hint: 'Run `apt-get update`: the channel index names the files it holds',
          });
        }
        sendFile(reply, file, { contentType: DEB_TYPE });
        return undefined;
      },
    }),
  ];
}
