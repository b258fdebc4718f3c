import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { buildDeb, isExcluded, PackageDefinition } from './deb-builder.ts';

const run = promisify(execFile);
let workspace: string;
let out: string;

beforeEach(async () => {
  workspace = await mkdtemp(join(tmpdir(), 'slipway-debws-'));
  out = await mkdtemp(join(tmpdir(), 'slipway-debout-'));
  await mkdir(join(workspace, 'app', 'storage', 'logs'), { recursive: true });
  await mkdir(join(workspace, 'app', 'node_modules', 'x'), { recursive: true });
  await mkdir(join(workspace, 'debian'));
  await writeFile(join(workspace, 'app', 'index.php'), '<?php echo 1;\n');
  await writeFile(join(workspace, 'app', 'run.sh'), '#!/bin/sh\n', { mode: 0o700 });
  await writeFile(join(workspace, 'app', 'storage', 'logs', 'old.log'), 'old\n');
  await writeFile(join(workspace, 'app', 'storage', 'logs', '.gitkeep'), '');
  await writeFile(join(workspace, 'app', 'node_modules', 'x', 'index.js'), '');
  await symlink('index.php', join(workspace, 'app', 'link.php'));
  await writeFile(join(workspace, 'debian', 'app.ini'), 'a = 1\n', { mode: 0o600 });
  for (const script of ['preinst', 'postinst', 'prerm', 'postrm']) {
    await writeFile(join(workspace, 'debian', script), '#!/bin/sh\nexit 0\n', { mode: 0o644 });
  }
});
afterEach(async () => {
  await rm(workspace, { recursive: true, force: true });
  await rm(out, { recursive: true, force: true });
});

const definition = (overrides: Record<string, unknown> = {}) =>
  PackageDefinition.parse({
    name: 'demo-app',
    description: 'Demo app\nIt does things.\n\nOn two paragraphs.',
    maintainer: 'Team <team@example.org>',
    section: 'web',
    architecture: 'all',
    depends: ['php-cli (>= 2:8.2)', 'haproxy | nginx'],
    recommends: ['phpunit'],
    files: [
      { from: 'app', to: '/opt/demo-app', exclude: ['node_modules', 'storage/logs/*'] },
      { from: 'debian/app.ini', to: '/etc/demo-app/app.ini' },
    ],
    conffiles: ['/etc/demo-app/app.ini'],
    scripts: {
      preinst: 'debian/preinst',
      postinst: 'debian/postinst',
      prerm: 'debian/prerm',
      postrm: 'debian/postrm',
    },
    ...overrides,
  });

describe('buildDeb()', () => {
  test('dpkg-deb --info and --contents show what the definition says', async () => {
    const built = await buildDeb(definition(), { workspace, version: '1.2.0~b3+gabcdef012345', outDir: out });
    expect(built.filename).toBe('demo-app_1.2.0~b3+gabcdef012345_all.deb');
    const info = (await run('dpkg-deb', ['--info', built.path])).stdout;
    expect(info).toContain('Package: demo-app');
    expect(info).toContain('Version: 1.2.0~b3+gabcdef012345');
    expect(info).toContain('Depends: php-cli (>= 2:8.2), haproxy | nginx');
    expect(info).toContain('Recommends: phpunit');
    expect(info).toMatch(/Description: Demo app\n {2}It does things.\n {2}.\n {2}On two paragraphs./);
    for (const script of ['preinst', 'postinst', 'prerm', 'postrm', 'conffiles'])
      expect(info).toContain(` ${script}`);
    const conffiles = (await run('dpkg-deb', ['--ctrl-tarfile', built.path])).stdout;
    expect(conffiles).toContain('/etc/demo-app/app.ini');
    const contents = (await run('dpkg-deb', ['--contents', built.path])).stdout;
    expect(contents).toMatch(/-rw-r--r-- root\/root .* \.\/opt\/demo-app\/index\.php/);
    expect(contents).toMatch(/-rwxr-xr-x root\/root .* \.\/opt\/demo-app\/run\.sh/);
    expect(contents).toMatch(/-rw-r--r-- root\/root .* \.\/etc\/demo-app\/app\.ini/);
    expect(contents).toMatch(/\.\/opt\/demo-app\/link\.php -> index\.php/);
    expect(contents).toContain('./opt/demo-app/storage/logs/\n');
    expect(contents).not.toContain('old.log');
    expect(contents).not.toContain('node_modules');
    expect(contents).not.toContain('.gitkeep');
  });

  test('a path through a symbolic link out of the workspace is refused, naming the key', async () => {
    await symlink('/etc', join(workspace, 'escape'));
    await expect(
      buildDeb(definition({ files: [{ from: 'escape/passwd', to: '/opt/x/passwd' }], conffiles: [] }), {
        workspace,
        version: '1.0.0',
        outDir: out,
      }),
    ).rejects.toThrow(
      'Cannot build the package: package.files[0].from: "escape" is not a directory (a symbolic link is not followed)',
    );
  });

  test('a conffile the package does not install is refused', async () => {
    await expect(
      buildDeb(definition({ conffiles: ['/etc/demo-app/missing.ini'] }), {
        workspace,
        version: '1.0.0',
        outDir: out,
      }),
    ).rejects.toThrow('package.conffiles[0]: "/etc/demo-app/missing.ini" is not a file the package installs');
  });

  test('a missing maintainer script is refused', async () => {
    await chmod(join(workspace, 'debian'), 0o755);
    await rm(join(workspace, 'debian', 'postrm'));
    await expect(buildDeb(definition(), { workspace, version: '1.0.0', outDir: out })).rejects.toThrow(
      'package.scripts.postrm: "debian/postrm" does not exist in the build\'s workspace',
    );
  });
});

describe('PackageDefinition', () => {
  test('refuses relative install paths, ".." and bad relations', () => {
    const result = PackageDefinition.safeParse({
      name: 'x1',
      description: 'd',
      maintainer: 'A <a@b.c>',
      architecture: 'all',
      files: [{ from: '../x', to: 'opt/x' }],
      depends: ['not a relation!'],
    });
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toStrictEqual([
      'depends.0: use a Debian relation, like "php-cli" or "php-cli (>= 2:8.2)"',
      'files.0.from: use a path inside the app\'s directory (no "..")',
      'files.0.to: use an absolute path on the target host, like "/opt/my-app"',
    ]);
  });
});

describe('isExcluded()', () => {
  test('"*" stays within a segment and a match covers everything below', () => {
    expect(isExcluded('storage/logs/a.log', ['storage/logs/*'])).toBe(true);
    expect(isExcluded('storage/logs', ['storage/logs/*'])).toBe(false);
    expect(isExcluded('node_modules/a/b.js', ['node_modules'])).toBe(true);
    expect(isExcluded('app/node_modules', ['node_modules'])).toBe(false);
    expect(isExcluded('bootstrap/cache/config.php', ['bootstrap/cache/*.php'])).toBe(true);
    expect(isExcluded('bootstrap/cache/.gitkeep', ['bootstrap/cache/*.php'])).toBe(false);
  });
});
