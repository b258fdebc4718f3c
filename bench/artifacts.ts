/**
 * Artifact repository benchmark.
 * 1. Upload and download of a 200 MB .deb through the built server (its own process, embedded
 *    PostgreSQL), against a plain `cp` of the same file on the same disk in the same run (and `cp`
 *    followed by `sync`, since an upload is synced before it becomes visible). Target: >= 0.5 of cp.
 *    Same-run references show what this machine allows whatever the server does: a bare Node http
 *    server receiving into a file and piping a file out, and curl copying the file over file://
 *    (a download's ceiling: curl writes what it receives in small pieces). Interleaved rounds, medians.
 *    The server's peak resident memory during the transfers is read from /proc (VmRSS sampled, and
 *    VmHWM) against its resident memory before them: it must stay flat whatever the file's size.
 * 2. The signed APT index of a channel holding 5,000 versions: building Packages, Packages.gz,
 *    Release, InRelease and Release.gpg alone, and a whole promotion (read the channel from
 *    PostgreSQL, build, sign, store). Target: < 1 s.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import {
  ArtifactRepository,
  artifactsMigrations,
  buildAptIndex,
  SigningKey,
} from '../src/artifacts/index.ts';
import { migrateToLatest, openDatabase } from '../src/store/index.ts';
import { startPostgres } from '../src/store/testing.ts';
import { removeBenchDir, report, startBenchServer } from './support.ts';

const execFileAsync = promisify(execFile);
const SIZE_MB = Number(process.env.BENCH_ARTIFACT_MB ?? 200);
const VERSIONS = 5000;
/** Interleaved rounds of every transfer; the figures are medians. */
const ROUNDS = Number(process.env.BENCH_ARTIFACT_ROUNDS ?? 5);
const PASSWORD = 'bench-admin-password';

function seconds(ms: number): number {
  return Math.round(ms) / 1000;
}

function memoryOf(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/**
 * Debs of `megabytes` of random payload, one per version, stored uncompressed so each file has that
 * size (the same payload: only the control file's version differs).
 */
async function bigDebs(dir: string, megabytes: number, versions: readonly string[]): Promise<string[]> {
  const stage = join(dir, 'stage');
  await mkdir(join(stage, 'DEBIAN'), { recursive: true });
  await mkdir(join(stage, 'opt', 'big'), { recursive: true });
  const out = createWriteStream(join(stage, 'opt', 'big', 'payload.bin'));
  for (let i = 0; i < megabytes; i++) {
    if (!out.write(randomBytes(1 << 20)))
      await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve) => out.end(() => resolve()));
  const debs: string[] = [];
  for (const version of versions) {
    await writeFile(
      join(stage, 'DEBIAN', 'control'),
      `Package: big-app\nVersion: ${version}\nArchitecture: all\nMaintainer: Bench <bench@example.org>\nDescription: big\n`,
    );
    const deb = join(dir, `big-app_${version}_all.deb`);
    execFileSync('dpkg-deb', ['--root-owner-group', '-Znone', '--build', stage, deb], { stdio: 'ignore' });
    debs.push(deb);
  }
  await rm(stage, { recursive: true, force: true });
  return debs;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function digestOf(path: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/** Milliseconds `work` takes. */
async function timed(work: () => unknown): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

/**
 * The references: what the same client (curl) and the same runtime (Node's http server) reach on this
 * machine with nothing of Slipway's in the way. A bare server, in a process of its own like Slipway's,
 * that only receives a body into a file (no hash, no sync, no checks), or only pipes the file out; and
 * curl copying the file with no network at all (file://), the ceiling of a download curl writes to disk.
 */
const REFERENCE_SERVER = `
const { createServer } = require('node:http');
const { createReadStream, createWriteStream, statSync } = require('node:fs');
const { pipeline } = require('node:stream/promises');
const [file, into] = process.argv.slice(1);
const server = createServer((request, response) => {
  if (request.method === 'PUT') {
    pipeline(request, createWriteStream(into, { highWaterMark: 1 << 20 })).then(
      () => response.end('stored\\n'),
      (error) => response.writeHead(500).end(String(error)),
    );
    return;
  }
  response.setHeader('content-length', String(statSync(file).size));
  createReadStream(file, { highWaterMark: 1 << 20 }).pipe(response);
});
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
`;

async function startReferenceServer(file: string, into: string) {
  const child = spawn(process.execPath, ['-e', REFERENCE_SERVER, file, into], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (chunk) => resolve(Number(String(chunk).trim())));
    child.once('exit', (code) => reject(new Error(`the reference server exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}/`, close: () => child.kill() };
}

const CURL = ['--silent', '--show-error', '--fail-with-body'];
// Streamed from the file (--data-binary would read it all into memory first); no 100-continue wait.
const CURL_UPLOAD = ['-H', 'Expect:', '--upload-file'];

async function transfers() {
  const server = await startBenchServer({ adminPassword: PASSWORD });
  let sampler: NodeJS.Timeout | undefined;
  const work = await mkdtemp(join(server.dataDir, '..', 'work-'));
  let reference: Awaited<ReturnType<typeof startReferenceServer>> | undefined;
  try {
    const login = await fetch(`${server.url}/api/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: PASSWORD, name: 'bench' }),
    });
    const { value: token } = (await login.json()) as { value: string };
    const versions = Array.from({ length: ROUNDS }, (_, i) => `1.0.${i}`);
    const debs = await bigDebs(work, SIZE_MB, versions);
    const { size } = await stat(debs[0]!);
    const mb = size / 1024 / 1024;
    const copy = join(work, 'copy.deb');
    reference = await startReferenceServer(debs[0]!, copy);

    const pid = server.child.pid!;
    let serverStderr = '';
    server.child.stderr?.on('data', (chunk) => {
      serverStderr = `${serverStderr}${chunk}`.slice(-4000);
    });
    server.child.once('exit', (code, signal) => {
      if (sampler === undefined) return; // stopped by this benchmark, after the transfers
      process.stderr.write(`the server exited (${code ?? signal}) during the transfers:\n${serverStderr}\n`);
    });
    const before = memoryOf(pid);
    let peak = before.rss;
    sampler = setInterval(() => {
      peak = Math.max(peak, memoryOf(pid).rss);
    }, 20);

    // Interleaved rounds, so that a burst of load elsewhere on the machine hits every transfer alike;
    // each figure below is the median of its rounds. Every round uploads a new version (201 Created),
    // then downloads it.
    const ms: Record<string, number[]> = {};
    const record = (name: string, value: number) => {
      ms[name] = [...(ms[name] ?? []), value];
    };
    const auth = ['-H', `Authorization: Bearer ${token}`];
    for (let round = 0; round < ROUNDS; round++) {
      const deb = debs[round]!;
      record('cp', await timed(() => execFileSync('cp', [deb, copy])));
      await rm(copy);
      record(
        'cpSync',
        await timed(() => {
          execFileSync('cp', [deb, copy]);
          execFileSync('sync', [copy]);
        }),
      );
      await rm(copy);
      record('curlFile', await timed(() => execFileAsync('curl', [...CURL, '-o', copy, `file://${deb}`])));
      await rm(copy);
      record(
        'plainUpload',
        await timed(() => execFileAsync('curl', [...CURL, ...CURL_UPLOAD, deb, reference!.url])),
      );
      await rm(copy);
      record(
        'plainDownload',
        await timed(() => execFileAsync('curl', [...CURL, '-o', copy, reference!.url])),
      );
      await rm(copy);

      // curl is the client: the figures are the server's, not a JavaScript client's.
      let uploaded = '';
      record(
        'upload',
        await timed(async () => {
          ({ stdout: uploaded } = await execFileAsync('curl', [
            ...CURL,
            ...auth,
            '-X',
            'POST',
            '-H',
            'Content-Type: application/vnd.debian.binary-package',
            ...CURL_UPLOAD,
            deb,
            `${server.url}/api/artifacts/big-app`,
          ]));
        }),
      );
      if (!uploaded.includes('"created":true')) throw new Error(`upload: ${uploaded}`);
      const target = join(work, 'downloaded.deb');
      record(
        'download',
        await timed(() =>
          execFileAsync('curl', [
            ...CURL,
            ...auth,
            '-o',
            target,
            `${server.url}/api/artifacts/big-app/${versions[round]}/file`,
          ]),
        ),
      );
      if ((await digestOf(target)) !== (await digestOf(deb)))
        throw new Error('the download differs from the upload');
      await rm(target);
    }
    clearInterval(sampler);
    sampler = undefined;
    const after = memoryOf(pid);

    const cpMs = median(ms.cp!);
    const row = (transfer: string, name: string, references: Record<string, string> = {}) => {
      const each = ms[name]!;
      const middle = median(each);
      const ratio = (of: string) => Math.round((median(ms[of]!) / middle) * 100) / 100;
      return {
        transfer,
        MB: Math.round(mb),
        's (median)': seconds(middle),
        'MB/s': Math.round(mb / (middle / 1000)),
        'MB/s each round': each.map((t) => Math.round(mb / (t / 1000))).join(' '),
        'x cp': Math.round((cpMs / middle) * 100) / 100,
        'x reference': Object.entries(references)
          .map(([label, of]) => `${ratio(of)} of ${label}`)
          .join(', '),
      };
    };
    return {
      rows: [
        row('cp (baseline: copy_file_range in the kernel)', 'cp'),
        row('cp + sync', 'cpSync'),
        row('curl file:// -> file (the client alone, no network)', 'curlFile'),
        row('bare Node server <- curl: receive to file (reference)', 'plainUpload'),
        row('bare Node server -> curl: pipe file (reference)', 'plainDownload'),
        row('upload (HTTP, hashed, synced, inspected, stored)', 'upload', {
          'bare receive': 'plainUpload',
          'cp+sync': 'cpSync',
        }),
        row('download (HTTP, authenticated, ETag, Range-capable)', 'download', {
          'bare pipe': 'plainDownload',
          'curl file://': 'curlFile',
        }),
      ],
      memory: {
        rssBeforeMiB: Math.round(before.rss / 1048576),
        rssPeakMiB: Math.round(peak / 1048576),
        hwmAfterMiB: Math.round(after.hwm / 1048576),
      },
      ratios: {
        upload: cpMs / median(ms.upload!),
        download: cpMs / median(ms.download!),
        uploadVsBare: median(ms.plainUpload!) / median(ms.upload!),
        downloadVsBare: median(ms.plainDownload!) / median(ms.download!),
      },
    };
  } finally {
    if (sampler) clearInterval(sampler);
    reference?.close();
    await server.stop();
    await removeBenchDir(server.dataDir);
  }
}

async function aptIndex() {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-bench-apt-'));
  const postgres = await startPostgres();
  const database = openDatabase({ connectionString: postgres.url }, { maxConnections: 4 });
  try {
    await migrateToLatest(database.db, [artifactsMigrations]);
    const control = (n: number) =>
      `Package: app-${n % 50}\nVersion: 1.0.0~b${n}+g${n.toString(16).padStart(12, '0')}\nArchitecture: all\nMaintainer: Bench <bench@example.org>\nInstalled-Size: 20480\nDepends: php-cli (>= 2:8.2), php-fpm, php-pgsql, php-mbstring, php-xml, php-curl, php-laravel-framework (>= 8.83), haproxy (>= 2.2)\nRecommends: phpunit\nSection: web\nPriority: optional\nSlipway-App: app-${n % 50}\nSlipway-Commit: ${createHash('sha1').update(String(n)).digest('hex')}\nSlipway-Build: ${n}\nDescription: Laravel reference application (organisations, users, events, account analysis)`;
    const entries = Array.from({ length: VERSIONS }, (_, n) => ({
      control: control(n),
      packageName: `app-${n % 50}`,
      filename: `app-${n % 50}_1.0.0~b${n}+g${n.toString(16).padStart(12, '0')}_all.deb`,
      size: 20_000_000 + n,
      sha256: createHash('sha256').update(String(n)).digest('hex'),
    }));
    const key = new SigningKey(join(dir, 'key.asc'));
    await key.publicKey(); // make the key first: its generation is not part of an index
    let started = performance.now();
    const index = await buildAptIndex('staging', entries, { key, now: new Date() });
    const buildMs = performance.now() - started;

    // A channel of 5,000 versions in PostgreSQL, then one more promotion: read, build, sign, store.
    await sql`INSERT INTO artifact_channels (name, revision) VALUES ('staging', 1)`.execute(database.db);
    for (let from = 0; from < VERSIONS; from += 1000) {
      const rows = entries.slice(from, from + 1000).map((e, i) => ({
        id: crypto.randomUUID(),
        app: e.packageName,
        package: e.packageName,
        version: `1.0.0~b${from + i}+g${(from + i).toString(16).padStart(12, '0')}`,
        architecture: 'all',
        sha256: e.sha256,
        size: e.size,
        filename: e.filename,
        control: e.control,
        metadata: '{}',
      }));
      await database.db
        .insertInto('artifacts' as any)
        .values(rows)
        .execute();
    }
    await sql`INSERT INTO artifact_channel_entries (channel, artifact_id) SELECT 'staging', id FROM artifacts`.execute(
      database.db,
    );
    const repository = new ArtifactRepository({ db: database.db, dir });
    await repository.key.publicKey();
    // One more version to promote, stored as a real blob-less row.
    await database.db
      .insertInto('artifacts' as any)
      .values({
        ...{ id: crypto.randomUUID(), app: 'app-x', package: 'app-x', version: '2.0.0', architecture: 'all' },
        sha256: 'f'.repeat(64),
        size: 1,
        filename: 'app-x_2.0.0_all.deb',
        control: 'Package: app-x\nVersion: 2.0.0\nArchitecture: all\nDescription: x',
        metadata: '{}',
      })
      .execute();
    started = performance.now();
    const promoted = await repository.promote({ app: 'app-x', version: '2.0.0', channel: 'staging' });
    const promoteMs = performance.now() - started;
    const packages = await repository.apt.file('staging', 'Packages');
    return {
      rows: [
        {
          measure: `Packages + gzip + Release + 2 signatures, ${VERSIONS} versions`,
          ms: Math.round(buildMs),
          'Packages KB': Math.round(index.packages.length / 1024),
          'gz KB': Math.round(index.packagesGz.length / 1024),
        },
        {
          measure: `promotion into a channel of ${VERSIONS} versions (PostgreSQL read, build, sign, store)`,
          ms: Math.round(promoteMs),
          'Packages KB': Math.round(packages.length / 1024),
          'gz KB': '-',
        },
      ],
      buildMs,
      promoteMs,
      revision: promoted.revision,
    };
  } finally {
    await database.close();
    await postgres.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

const moved = await transfers();
const round2 = (n: number) => Math.round(n * 100) / 100;
report(
  `artifacts: ${SIZE_MB} MB upload and download against cp on the same disk (median of ${ROUNDS} interleaved rounds)`,
  moved.rows,
  {
    uploadVsCp: round2(moved.ratios.upload),
    downloadVsCp: round2(moved.ratios.download),
    uploadVsBareNode: round2(moved.ratios.uploadVsBare),
    downloadVsBareNode: round2(moved.ratios.downloadVsBare),
    ...moved.memory,
    target: '>= 0.5 of cp',
    met: moved.ratios.upload >= 0.5 && moved.ratios.download >= 0.5,
  },
);
process.stdout.write(
  `target >= 0.5x of cp: upload ${round2(moved.ratios.upload)}x, download ${round2(moved.ratios.download)}x -> ${
    moved.ratios.upload >= 0.5 && moved.ratios.download >= 0.5 ? 'met' : 'NOT met'
  }\n`,
);
process.stdout.write(
  `server memory: ${moved.memory.rssBeforeMiB} MiB before, ${moved.memory.rssPeakMiB} MiB peak during the transfers (VmHWM ${moved.memory.hwmAfterMiB} MiB)\n`,
);
const apt = await aptIndex();
report(`artifacts: signed APT index of ${VERSIONS} versions`, apt.rows, {
  buildMs: Math.round(apt.buildMs),
  promoteMs: Math.round(apt.promoteMs),
  targetMs: 1000,
  met: apt.promoteMs < 1000 && apt.buildMs < 1000,
});
