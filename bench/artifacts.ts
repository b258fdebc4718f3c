/**
 * Artifact repository benchmark.
 * 1. Upload and download of a 200 MB .deb through the built server (its own process, embedded
 *    PostgreSQL), against a plain `cp` of the same file on the same disk in the same run (and `cp`
 *    followed by `sync`, since an upload is synced before it becomes visible). Target: >= 0.5 of cp.
 *    The server's peak resident memory during the transfers is read from /proc (VmRSS sampled, and
 *    VmHWM) against its resident memory before them: it must stay flat whatever the file's size.
 * 2. The signed APT index of a channel holding 5,000 versions: building Packages, Packages.gz,
 *    Release, InRelease and Release.gpg alone, and a whole promotion (read the channel from
 *    PostgreSQL, build, sign, store). Target: < 1 s.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
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

/** A .deb of `megabytes` of random payload, stored uncompressed so the file has that size. */
async function bigDeb(dir: string, megabytes: number): Promise<string> {
  const stage = join(dir, 'stage');
  await mkdir(join(stage, 'DEBIAN'), { recursive: true });
  await mkdir(join(stage, 'opt', 'big'), { recursive: true });
  const out = createWriteStream(join(stage, 'opt', 'big', 'payload.bin'));
  for (let i = 0; i < megabytes; i++) {
    if (!out.write(randomBytes(1 << 20)))
      await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve) => out.end(() => resolve()));
  await writeFile(
    join(stage, 'DEBIAN', 'control'),
    'Package: big-app\nVersion: 1.0.0\nArchitecture: all\nMaintainer: Bench <bench@example.org>\nDescription: big\n',
  );
  const deb = join(dir, 'big-app_1.0.0_all.deb');
  execFileSync('dpkg-deb', ['--root-owner-group', '-Znone', '--build', stage, deb], { stdio: 'ignore' });
  await rm(stage, { recursive: true, force: true });
  return deb;
}

async function transfers() {
  const server = await startBenchServer({ adminPassword: PASSWORD });
  let sampler: NodeJS.Timeout | undefined;
  const work = await mkdtemp(join(server.dataDir, '..', 'work-'));
  try {
    const login = await fetch(`${server.url}/api/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: PASSWORD, name: 'bench' }),
    });
    const { value: token } = (await login.json()) as { value: string };
    const deb = await bigDeb(work, SIZE_MB);
    const { size } = await stat(deb);
    const mb = size / 1024 / 1024;

    // Baselines on the same disk: cp, and cp then sync.
    let started = performance.now();
    execFileSync('cp', [deb, join(work, 'copy-1.deb')]);
    const cpMs = performance.now() - started;
    started = performance.now();
    execFileSync('cp', [deb, join(work, 'copy-2.deb')]);
    execFileSync('sync', [join(work, 'copy-2.deb')]);
    const cpSyncMs = performance.now() - started;
    await rm(join(work, 'copy-1.deb'));
    await rm(join(work, 'copy-2.deb'));
    // The runtime's own floor: a bare Node HTTP server streaming the file to curl, nothing else.
    const plain = createServer((_request, response) => {
      createReadStream(deb, { highWaterMark: 1 << 20 }).pipe(response);
    });
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    started = performance.now();
    await execFileAsync('curl', [
      '--silent',
      '-o',
      join(work, 'plain.deb'),
      `http://127.0.0.1:${(plain.address() as { port: number }).port}/`,
    ]);
    const plainMs = performance.now() - started;
    plain.close();
    await rm(join(work, 'plain.deb'));

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

    // curl is the client: the figures are the server's, not a JavaScript client's.
    started = performance.now();
    const { stdout: uploaded } = await execFileAsync('curl', [
      '--silent',
      '--show-error',
      '--fail-with-body',
      '-X',
      'POST',
      '-H',
      `Authorization: Bearer ${token}`,
      '-H',
      'Content-Type: application/vnd.debian.binary-package',
      // Streamed from the file (--data-binary would read it all into memory first).
      '-H',
      'Expect:',
      '--upload-file',
      deb,
      `${server.url}/api/artifacts/big-app`,
    ]);
    const uploadMs = performance.now() - started;
    if (!uploaded.includes('"created":true')) throw new Error(`upload: ${uploaded}`);

    const target = join(work, 'downloaded.deb');
    started = performance.now();
    await execFileAsync('curl', [
      '--silent',
      '--show-error',
      '--fail',
      '-H',
      `Authorization: Bearer ${token}`,
      '-o',
      target,
      `${server.url}/api/artifacts/big-app/1.0.0/file`,
    ]);
    const downloadMs = performance.now() - started;
    clearInterval(sampler);
    sampler = undefined;
    const after = memoryOf(pid);

    const digest = (path: string) =>
      new Promise<string>((resolve) => {
        const hash = createHash('sha256');
        createReadStream(path)
          .on('data', (chunk) => hash.update(chunk))
          .on('end', () => resolve(hash.digest('hex')));
      });
    if ((await digest(target)) !== (await digest(deb)))
      throw new Error('the download differs from the upload');

    return {
      rows: [
        {
          transfer: 'cp (baseline)',
          MB: Math.round(mb),
          s: seconds(cpMs),
          'MB/s': Math.round(mb / (cpMs / 1000)),
          'x cp': 1,
        },
        {
          transfer: 'cp + sync',
          MB: Math.round(mb),
          s: seconds(cpSyncMs),
          'MB/s': Math.round(mb / (cpSyncMs / 1000)),
          'x cp': Math.round((cpMs / cpSyncMs) * 100) / 100,
        },
        {
          transfer: 'bare Node HTTP server -> curl (reference)',
          MB: Math.round(mb),
          s: seconds(plainMs),
          'MB/s': Math.round(mb / (plainMs / 1000)),
          'x cp': Math.round((cpMs / plainMs) * 100) / 100,
        },
        {
          transfer: 'upload (HTTP, hashed, synced)',
          MB: Math.round(mb),
          s: seconds(uploadMs),
          'MB/s': Math.round(mb / (uploadMs / 1000)),
          'x cp': Math.round((cpMs / uploadMs) * 100) / 100,
        },
        {
          transfer: 'download (HTTP)',
          MB: Math.round(mb),
          s: seconds(downloadMs),
          'MB/s': Math.round(mb / (downloadMs / 1000)),
          'x cp': Math.round((cpMs / downloadMs) * 100) / 100,
        },
      ],
      memory: {
        rssBeforeMiB: Math.round(before.rss / 1048576),
        rssPeakMiB: Math.round(peak / 1048576),
        hwmAfterMiB: Math.round(after.hwm / 1048576),
      },
      ratios: { upload: cpMs / uploadMs, download: cpMs / downloadMs },
    };
  } finally {
    if (sampler) clearInterval(sampler);
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
report(`artifacts: ${SIZE_MB} MB upload and download against cp on the same disk`, moved.rows, {
  uploadVsCp: Math.round(moved.ratios.upload * 100) / 100,
  downloadVsCp: Math.round(moved.ratios.download * 100) / 100,
  ...moved.memory,
  target: '>= 0.5 of cp',
  met: moved.ratios.upload >= 0.5 && moved.ratios.download >= 0.5,
});
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
