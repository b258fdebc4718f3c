import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import type { Artifact, ArtifactDetails, Channel } from '../../artifacts/index.ts';
import { closed, ErrorCode, SlipwayError, UnavailableError } from '../../core/index.ts';
import { type ApiClient, query } from '../api-client.ts';
import { apiFor, globals } from '../context.ts';
import { printObject, printTable, say } from '../output.ts';

/**
 * Sends a request whose body or answer is not JSON (an upload, a download, a stream of events) and
 * returns the response once it is a success; error answers become SlipwayErrors as in ApiClient.
 */
export async function rawRequest(
  api: ApiClient,
  method: string,
  path: string,
  init: { headers?: Record<string, string>; body?: Readable; signal?: AbortSignal } = {},
): Promise<Response> {
  const headers: Record<string, string> = { ...init.headers };
  if (api.target.token) headers.authorization = `Bearer ${api.target.token}`;
  let response: Response;
  try {
    response = await fetch(new URL(path, api.target.server), {
      method,
      headers,
      ...(init.body ? { body: Readable.toWeb(init.body) as ReadableStream, duplex: 'half' } : {}),
      ...(init.signal ? { signal: init.signal } : {}),
    } as RequestInit);
  } catch (error) {
    throw new UnavailableError(`Cannot reach the Slipway server at ${api.target.server}`, {
      hint: 'Start it with `slipway server`, or point the CLI at it with --server or SLIPWAY_URL',
      cause: error,
    });
  }
  if (response.ok) return response;
  const text = await response.text();
  let error: { code?: string; message?: string; hint?: string; details?: unknown } | undefined;
  try {
    error = (JSON.parse(text) as { error?: typeof error }).error;
  } catch {
    error = undefined;
  }
  if (error?.code && error.message) {
    throw new SlipwayError(error.code as ErrorCode, error.message, {
      ...(error.hint ? { hint: error.hint } : {}),
      details: error.details,
    });
  }
  throw new SlipwayError(
    ErrorCode.Internal,
    `The server answered ${response.status} ${response.statusText}`,
    {
      hint: 'Check that --server points at a Slipway server',
    },
  );
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function artifactRow(a: Artifact) {
  return {
    app: a.app,
    version: a.version,
    size: a.size,
    commit: a.metadata.commit?.slice(0, 12),
    run: a.metadata.run,
    channels: a.channels,
    created: a.createdAt,
  };
}

/** artifacts list|show|download|upload|promote|channels|apt-source. */
export function registerArtifactsCommands(program: Command): void {
  const artifacts = program
    .command('artifacts')
    .description('The artifact repository: versions, channels and APT');

  artifacts
    .command('list')
    .description('List artifact versions, newest first')
    .option('--app <app>', 'only this app')
    .option('--channel <channel>', 'only versions promoted to this channel')
    .option('--search <text>', 'versions, package names or commits containing this')
    .option('--limit <n>', 'how many', '50')
    .action(async (options: Record<string, string | undefined>, command: Command) => {
      const list = await (await apiFor(command)).get<Artifact[]>(
        `/api/artifacts${query({ app: options.app, channel: options.channel, search: options.search, limit: options.limit })}`,
      );
      printTable(
        list.map(artifactRow),
        ['app', 'version', 'size', 'commit', 'run', 'channels', 'created'],
        Boolean(globals(command).json),
        list,
      );
    });

  artifacts
    .command('show <app> <version>')
    .description('Show a version: file, build metadata, control fields, channels')
    .action(async (app: string, version: string, _o: unknown, command: Command) => {
      const artifact = await (await apiFor(command)).get<ArtifactDetails>(
        `/api/artifacts/${encodeURIComponent(app)}/${encodeURIComponent(version)}`,
      );
      printObject(artifact as unknown as Record<string, unknown>, Boolean(globals(command).json));
    });

  artifacts
    .command('download <app> <version>')
    .description('Download the .deb of a version (checked against its SHA-256)')
    .option('-o, --output <file>', 'where to write it (default: its own file name, here)')
    .action(async (app: string, version: string, options: { output?: string }, command: Command) => {
      const api = await apiFor(command);
      const path = `/api/artifacts/${encodeURIComponent(app)}/${encodeURIComponent(version)}`;
      const artifact = await api.get<ArtifactDetails>(path);
      const target = resolve(options.output ?? artifact.filename);
      const partial = `${target}.partial`;
      const response = await rawRequest(api, 'GET', `${path}/file`);
      const hash = createHash('sha256');
      const body = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream);
      body.on('data', (chunk: Buffer) => hash.update(chunk));
      const file = createWriteStream(partial, { mode: 0o644 });
      try {
        await pipeline(body, file);
        const digest = hash.digest('hex');
        if (digest !== artifact.sha256) {
          throw new SlipwayError(
            ErrorCode.Unavailable,
            `Cannot keep the download: its SHA-256 is ${digest}, the repository says ${artifact.sha256}`,
            { hint: 'Download it again' },
          );
        }
        await rename(partial, target);
      } finally {
        await closed(file); // a late open would create the partial file again
        await rm(partial, { force: true });
      }
      if (globals(command).json)
        return printObject({ file: target, sha256: artifact.sha256, size: artifact.size }, true);
      say(false, `Downloaded ${target} (${artifact.size} bytes, sha256 ${artifact.sha256})`);
    });

  artifacts
    .command('upload <app> <file>')
    .description('Upload a .deb built elsewhere; its control file names the version')
    .action(async (app: string, file: string, _o: unknown, command: Command) => {
      const api = await apiFor(command);
      const path = resolve(file);
      const { size } = await stat(path);
      const sha256 = await sha256OfFile(path);
      const response = await rawRequest(
        api,
        'POST',
        `/api/artifacts/${encodeURIComponent(app)}?sha256=${sha256}`,
        {
          headers: {
            'content-type': 'application/vnd.debian.binary-package',
            'content-length': String(size),
          },
          body: createReadStream(path),
        },
      );
      const result = (await response.json()) as { artifact: Artifact; created: boolean };
      if (globals(command).json) return printObject(result as unknown as Record<string, unknown>, true);
      say(
        false,
        `${result.created ? 'Stored' : 'Already stored'} ${basename(path)} as ${result.artifact.app} ${result.artifact.version}`,
      );
    });

  artifacts
    .command('promote <app> <version>')
    .description("Add a version to an environment's channel (its APT repository)")
    .requiredOption('--channel <environment>', 'the channel, named after its environment')
    .action(async (app: string, version: string, options: { channel: string }, command: Command) => {
      const result = await (await apiFor(command)).post<{
        channel: string;
        revision: number;
        alreadyPromoted: boolean;
      }>(`/api/artifacts/${encodeURIComponent(app)}/${encodeURIComponent(version)}/promote`, {
        channel: options.channel,
      });
      if (globals(command).json) return printObject(result as unknown as Record<string, unknown>, true);
      say(
        false,
        result.alreadyPromoted
          ? `${app} ${version} is already in channel ${result.channel}`
          : `Promoted ${app} ${version} to channel ${result.channel} (index revision ${result.revision})`,
      );
    });

  artifacts
    .command('channels')
    .description('List channels and their apt sources lines')
    .action(async (_o: unknown, command: Command) => {
      const list = await (await apiFor(command)).get<Channel[]>('/api/channels');
      printTable(
        list as unknown as Record<string, unknown>[],
        ['name', 'artifacts', 'revision', 'updatedAt', 'sourcesLine'],
        Boolean(globals(command).json),
      );
    });

  artifacts
    .command('apt-source <channel>')
    .description('How to point apt at a channel: the key, the sources line and auth.conf')
    .action(async (channel: string, _o: unknown, command: Command) => {
      const api = await apiFor(command);
      const list = await api.get<Channel[]>('/api/channels');
      const found = list.find((c) => c.name === channel);
      const base = api.target.server.replace(/\/+$/, '');
      const { host, protocol } = new URL(base);
      // apt sends credentials over plain HTTP only when the machine line names the scheme.
      const machine = protocol === 'http:' ? `http://${host}/apt` : `${host}/apt`;
      const lines = [
        '# 1. The repository key (signed-by):',
        `curl -fsS -H "Authorization: Bearer $SLIPWAY_TOKEN" ${base}/apt/slipway.asc -o /etc/apt/keyrings/slipway.asc`,
        '# 2. The channel:',
        `echo '${found?.sourcesLine ?? `deb [signed-by=/etc/apt/keyrings/slipway.asc] ${base}/apt ${channel} main`}' > /etc/apt/sources.list.d/slipway-${channel}.list`,
        '# 3. Read access: a token of a user holding viewer (or more) on environment:' + channel,
        `printf 'machine ${machine}\\nlogin slipway\\npassword %s\\n' "$SLIPWAY_TOKEN" > /etc/apt/auth.conf.d/slipway.conf`,
        'chmod 600 /etc/apt/auth.conf.d/slipway.conf && apt-get update',
      ];
      if (globals(command).json) return printObject({ channel, exists: Boolean(found), lines }, true);
      if (!found) say(false, `# Channel ${channel} has no version yet: promote one first.`);
      for (const line of lines) say(false, line);
    });
}
