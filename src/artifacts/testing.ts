/** Fixtures for tests that need real .deb files. */
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDeb, PackageDefinition } from './deb-builder.ts';

/** Options for a small test package. */
export interface TestDebOptions {
  readonly name?: string;
  readonly version: string;
  /** Bytes of payload (a file of random-ish content), to make large packages. @default 64 */
  readonly payloadBytes?: number;
  /** Text the installed file holds (makes two builds of one version differ). @default the version */
  readonly content?: string;
  /** A postinst that writes a marker file, to see maintainer scripts run. @default true */
  readonly postinst?: boolean;
  readonly outDir?: string;
}

/** Builds a small real .deb (installs /opt/NAME/hello.txt and /etc/NAME/NAME.conf as a conffile). */
export async function buildTestDeb(options: TestDebOptions): Promise<string> {
  const name = options.name ?? 'slipway-test-pkg';
  const workspace = await mkdtemp(join(tmpdir(), 'slipway-testdeb-'));
  try {
    await mkdir(join(workspace, 'app'), { recursive: true });
    await writeFile(join(workspace, 'app', 'hello.txt'), `${options.content ?? options.version}\n`);
    if (options.payloadBytes) {
      const chunk = Buffer.alloc(1 << 20);
      for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 2654435761) >>> 24;
      const parts: Buffer[] = [];
      for (let left = options.payloadBytes; left > 0; left -= chunk.length) {
        parts.push(left >= chunk.length ? chunk : chunk.subarray(0, left));
      }
      await writeFile(join(workspace, 'app', 'payload.bin'), Buffer.concat(parts));
    }
    await writeFile(join(workspace, 'app.conf'), 'setting = 1\n');
    await writeFile(
      join(workspace, 'postinst'),
      `#!/bin/sh\nset -e\nif [ "$1" = configure ]; then echo "configured ${name} $2" > "\${DPKG_ROOT:-}/opt/${name}/postinst-ran"; fi\nexit 0\n`,
    );
    await chmod(join(workspace, 'postinst'), 0o755);
    const definition = PackageDefinition.parse({
      name,
      description: `Slipway test package\nUsed by Slipway's tests only.`,
      maintainer: 'Slipway tests <tests@example.org>',
      architecture: 'all',
      files: [
        { from: 'app', to: `/opt/${name}` },
        { from: 'app.conf', to: `/etc/${name}/${name}.conf` },
      ],
      conffiles: [`/etc/${name}/${name}.conf`],
      scripts: options.postinst === false ? {} : { postinst: 'postinst' },
    });
    const outDir = options.outDir ?? (await mkdtemp(join(tmpdir(), 'slipway-testdeb-out-')));
    const built = await buildDeb(definition, { workspace, version: options.version, outDir });
    return built.path;
  } finally {
    await rm(workspace, { recursive: true, force: true });
  }
}
