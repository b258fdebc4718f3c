import { execFile } from 'node:child_process';
import {
  chmod,
  copyFile,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readlink,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';
import { InvalidInputError } from '../core/index.ts';
import { debFilename } from './deb-control.ts';

const execFileAsync = promisify(execFile);

const RelativePath = z
  .string()
  .min(1)
  .refine(
    (p) => !p.startsWith('/'),
    'use a path relative to the directory of slipway.yaml, without a leading "/"',
  )
  .refine((p) => !p.split('/').includes('..'), 'use a path inside the app\'s directory (no "..")');

const AbsolutePath = z
  .string()
  .min(2)
  .refine((p) => p.startsWith('/'), 'use an absolute path on the target host, like "/opt/my-app"')
  .refine((p) => !p.split('/').includes('..'), 'use a path without ".."');

/** A Debian package relation: "php-cli (>= 2:8.2)", "a | b". */
const Relation = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9+.-]+(:[a-z0-9]+)?( *\((<<|<=|=|>=|>>) *[A-Za-z0-9.+~:-]+\))?( *\| *[a-z0-9][a-z0-9+.-]+(:[a-z0-9]+)?( *\((<<|<=|=|>=|>>) *[A-Za-z0-9.+~:-]+\))?)*$/,
    'use a Debian relation, like "php-cli" or "php-cli (>= 2:8.2)"',
  );

/** The maintainer scripts dpkg runs, with dpkg's arguments, around installing and removing. */
export const MAINTAINER_SCRIPTS = ['preinst', 'postinst', 'prerm', 'postrm'] as const;

/** How to build an app's .deb: slipway.yaml's `package` section. */
export const PackageDefinition = z.strictObject({
  /** The Debian package name. */
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9+.-]+$/, 'use a Debian package name: lowercase letters, digits, "+", "-", "."'),
  /** One line, or a first line (the synopsis) followed by a longer text. */
  description: z.string().min(1),
  maintainer: z.string().regex(/^[^<>\n]+ <[^<>\s]+@[^<>\s]+>$/, 'use "Name <email@example.org>"'),
  /** @default 'misc' */
  section: z
    .string()
    .regex(/^[a-z0-9/-]+$/)
    .default('misc'),
  /** @default 'optional' */
  priority: z.enum(['required', 'important', 'standard', 'optional', 'extra']).default('optional'),
  /** "all" for an app without compiled code. */
  architecture: z.enum(['all', 'amd64', 'arm64']),
  /** The OS user the app's processes run as (created by preinst; used by the agent). */
  user: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]*$/, 'use a Unix user name')
    .optional(),
  depends: z.array(Relation).default([]),
  pre_depends: z.array(Relation).default([]),
  recommends: z.array(Relation).default([]),
  suggests: z.array(Relation).default([]),
  conflicts: z.array(Relation).default([]),
  provides: z.array(Relation).default([]),
  replaces: z.array(Relation).default([]),
  homepage: z.url().optional(),
  /** What goes into the package: a file or directory of the build, and where it is installed. */
  files: z
    .array(
      z.strictObject({
        from: RelativePath,
        to: AbsolutePath,
        /** Paths under `from` to leave out: "*" matches within one path segment; a match covers everything below it. */
        exclude: z.array(z.string().min(1)).default([]),
      }),
    )
    .min(1, 'list at least one file or directory to install'),
  /** Installed files that are configuration: dpkg keeps local changes on upgrade. */
  conffiles: z.array(AbsolutePath).default([]),
  /** Maintainer scripts, as paths in the repository. */
  scripts: z
    .strictObject({
      preinst: RelativePath.optional(),
      postinst: RelativePath.optional(),
      prerm: RelativePath.optional(),
      postrm: RelativePath.optional(),
    })
    .default({}),
});
export type PackageDefinition = z.infer<typeof PackageDefinition>;

/** How one .deb is built. */
export interface BuildDebOptions {
  /** The build's workspace: every `from` and script path is inside it. */
  readonly workspace: string;
  readonly version: string;
  /** Where the .deb is written (a staging directory is made and removed there too). */
  readonly outDir: string;
  /** Extra control fields, such as "Slipway-Commit". */
  readonly extraFields?: Readonly<Record<string, string>>;
  readonly log?: (line: string) => void;
}

/** What was built. */
export interface BuiltDeb {
  readonly path: string;
  readonly filename: string;
  readonly files: number;
}

/** A problem with the package definition found while building; the path names the YAML key. */
export class PackageBuildError extends InvalidInputError {
  constructor(path: string, message: string, hint: string) {
    super(`Cannot build the package: ${path}: ${message}`, {
      hint,
      details: [{ path, message }],
      retryable: false,
    });
  }
}

/** gitignore-like: "*" stays within a path segment; a match covers everything below it. */
export function isExcluded(relativePath: string, patterns: readonly string[]): boolean {
  return patterns.some((pattern) => {
    const source = pattern
      .replace(/^\/+|\/+$/g, '')
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('[^/]*');
    return new RegExp(`^${source}(/.*)?$`).test(relativePath);
  });
}

/**
 * Resolves a path in the workspace without following symbolic links on the way: a build cannot point
 * the packager (which runs as Slipway's user) at files outside its workspace.
 */
async function safeSource(workspace: string, relative: string, keyPath: string) {
  const parts = relative.split('/').filter((p) => p !== '' && p !== '.');
  let current = workspace;
  for (const [index, part] of parts.entries()) {
    current = join(current, part);
    const info = await lstat(current).catch(() => undefined);
    if (!info) {
      throw new PackageBuildError(
        keyPath,
        `"${relative}" does not exist in the build's workspace`,
        'Check the path, and that a build step creates it',
      );
    }
    if (index < parts.length - 1 && !info.isDirectory()) {
      throw new PackageBuildError(
        keyPath,
        `"${parts.slice(0, index + 1).join('/')}" is not a directory (a symbolic link is not followed)`,
        'Point at the real path inside the repository',
      );
    }
  }
  return { path: current, info: await lstat(current) };
}

/** Debian's usual modes: directories 0755, files 0755 when executable by anyone, else 0644. */
function normalMode(mode: number, isDirectory: boolean): number {
  if (isDirectory) return 0o755;
  return mode & 0o111 ? 0o755 : 0o644;
}

async function copyTree(
  source: string,
  target: string,
  exclude: readonly string[],
  relative: string,
  counter: { files: number; bytes: number },
  log?: (line: string) => void,
): Promise<void> {
  await mkdir(target, { recursive: true, mode: 0o755 });
  await chmod(target, 0o755);
  for (const entry of await readdir(source, { withFileTypes: true })) {
    const childRelative = relative ? `${relative}/${entry.name}` : entry.name;
    if (isExcluded(childRelative, exclude)) continue;
    const from = join(source, entry.name);
    const to = join(target, entry.name);
    if (entry.isDirectory()) {
      await copyTree(from, to, exclude, childRelative, counter, log);
    } else if (entry.isFile()) {
      const info = await lstat(from);
      await copyFile(from, to);
      await chmod(to, normalMode(info.mode, false));
      counter.files += 1;
      counter.bytes += info.size;
    } else if (entry.isSymbolicLink()) {
      // Kept as a link: the package installs the link, never what it points at on the build host.
      await symlink(await readlink(from), to);
      counter.files += 1;
    } else {
      log?.(`skipping "${childRelative}": not a file, directory or symbolic link`);
    }
  }
}

function controlValue(values: readonly string[]): string {
  return values.join(', ');
}

function descriptionField(text: string): string {
  const [first = '', ...rest] = text.trim().split('\n');
  const body = rest.join('\n').trim();
  if (!body) return first.trim();
  // Debian's extended description: every line indented by one space, an empty line written " .".
  const lines = body.split('\n').map((line) => (line.trim() === '' ? ' .' : ` ${line.trimEnd()}`));
  return [first.trim(), ...lines].join('\n');
}

/**
 * Builds a .deb from a package definition with `dpkg-deb --root-owner-group`: files copied into a
 * staging root (modes normalised, owned by root in the archive), DEBIAN/control from the definition,
 * conffiles and maintainer scripts. `dpkg-deb --info` and `--contents` then show what was defined.
 * @throws PackageBuildError naming the key of the definition that is wrong
 */
export async function buildDeb(definition: PackageDefinition, options: BuildDebOptions): Promise<BuiltDeb> {
  await mkdir(options.outDir, { recursive: true });
  const stage = await mkdtemp(join(options.outDir, 'stage-'));
  try {
    const counter = { files: 0, bytes: 0 };
    for (const [index, entry] of definition.files.entries()) {
      const keyPath = `package.files[${index}].from`;
      const { path, info } = await safeSource(options.workspace, entry.from, keyPath);
      const target = join(stage, entry.to);
      if (info.isDirectory()) {
        await copyTree(path, target, entry.exclude, '', counter, options.log);
      } else if (info.isFile()) {
        await mkdir(dirname(target), { recursive: true, mode: 0o755 });
        await copyFile(path, target);
        await chmod(target, normalMode(info.mode, false));
        counter.files += 1;
        counter.bytes += info.size;
      } else {
        throw new PackageBuildError(
          keyPath,
          `"${entry.from}" is not a file or directory`,
          'Point at a real file',
        );
      }
    }
    // Directories made on the way (/opt, /etc/…) get Debian's usual mode too.
    await normaliseDirectories(stage);

    const control = join(stage, 'DEBIAN');
    await mkdir(control, { mode: 0o755 });
    for (const [index, conffile] of definition.conffiles.entries()) {
      const info = await lstat(join(stage, conffile)).catch(() => undefined);
      if (!info?.isFile()) {
        throw new PackageBuildError(
          `package.conffiles[${index}]`,
          `"${conffile}" is not a file the package installs`,
          'List only files that package.files puts on the host',
        );
      }
    }
    if (definition.conffiles.length > 0) {
      await writeFile(join(control, 'conffiles'), `${definition.conffiles.join('\n')}\n`, { mode: 0o644 });
    }
    for (const name of MAINTAINER_SCRIPTS) {
      const script = definition.scripts[name];
      if (!script) continue;
      const { path, info } = await safeSource(options.workspace, script, `package.scripts.${name}`);
      if (!info.isFile()) {
        throw new PackageBuildError(
          `package.scripts.${name}`,
          `"${script}" is not a file`,
          'Point at the script file',
        );
      }
      await copyFile(path, join(control, name));
      await chmod(join(control, name), 0o755);
    }
    const fields: [string, string | undefined][] = [
      ['Package', definition.name],
      ['Version', options.version],
      ['Architecture', definition.architecture],
      ['Maintainer', definition.maintainer],
      ['Installed-Size', String(Math.max(1, Math.ceil(counter.bytes / 1024)))],
      ['Pre-Depends', controlValue(definition.pre_depends)],
      ['Depends', controlValue(definition.depends)],
      ['Recommends', controlValue(definition.recommends)],
      ['Suggests', controlValue(definition.suggests)],
      ['Conflicts', controlValue(definition.conflicts)],
      ['Provides', controlValue(definition.provides)],
      ['Replaces', controlValue(definition.replaces)],
      ['Section', definition.section],
      ['Priority', definition.priority],
      ['Homepage', definition.homepage],
      ...Object.entries(options.extraFields ?? {}),
      ['Description', descriptionField(definition.description)],
    ];
    const text = fields
      .filter(([, value]) => value !== undefined && value !== '')
      .map(([name, value]) => `${name}: ${value}`)
      .join('\n');
    await writeFile(join(control, 'control'), `${text}\n`, { mode: 0o644 });

    const filename = debFilename(definition.name, options.version, definition.architecture);
    const path = join(options.outDir, filename);
    const { stdout } = await execFileAsync(
      'dpkg-deb',
      ['--root-owner-group', '-Zgzip', '-z6', '--build', stage, path],
      { maxBuffer: 4 << 20 },
    ).catch((error: { stderr?: string }) => {
      throw new PackageBuildError(
        'package',
        `dpkg-deb refused it: ${String(error.stderr ?? error).trim()}`,
        'Fix the package definition in slipway.yaml',
      );
    });
    options.log?.(stdout.trim());
    return { path, filename, files: counter.files };
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

async function normaliseDirectories(root: string): Promise<void> {
  for (const entry of await readdir(root, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      await chmod(join(root, entry.name), 0o755);
      await normaliseDirectories(join(root, entry.name));
    }
  }
}
