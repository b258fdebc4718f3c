import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { SigningKey } from './signing-key.ts';

/** The one component and architecture index each channel has. */
export const APT_COMPONENT = 'main';
export const APT_ARCHITECTURE = 'amd64';
/** Where the Packages index sits below `dists/<channel>/`. */
export const PACKAGES_DIR = `${APT_COMPONENT}/binary-${APT_ARCHITECTURE}`;

/** One package of a channel, as its Packages stanza needs it. */
export interface AptEntry {
  /** The control stanza of the .deb. */
  readonly control: string;
  readonly packageName: string;
  readonly filename: string;
  readonly size: number;
  readonly sha256: string;
}

/** Every file of a channel's signed index. */
export interface AptIndex {
  readonly packages: Buffer;
  readonly packagesGz: Buffer;
  readonly release: Buffer;
  readonly inRelease: Buffer;
  readonly releaseGpg: Buffer;
}

/** A package's path in the pool, relative to the repository root: pool/<channel>/main/l/laravel-app/…. */
export function poolPath(channel: string, packageName: string, filename: string): string {
  const prefix = packageName.startsWith('lib') ? packageName.slice(0, 4) : packageName.slice(0, 1);
  return `pool/${channel}/${APT_COMPONENT}/${prefix}/${packageName}/${filename}`;
}

/**
 * The Packages index of a channel: each package's control stanza plus where to fetch it and its
 * size and SHA-256. Architecture "all" packages are listed in the amd64 index, as Debian does.
 */
export function buildPackages(channel: string, entries: readonly AptEntry[]): Buffer {
  const parts: string[] = [];
  for (const entry of entries) {
    parts.push(
      `${entry.control}\nFilename: ${poolPath(channel, entry.packageName, entry.filename)}\nSize: ${entry.size}\nSHA256: ${entry.sha256}\n\n`,
    );
  }
  return Buffer.from(parts.join(''), 'utf8');
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** RFC 2822 in UTC, as Debian's Release files write dates. */
function releaseDate(now: Date): string {
  return now.toUTCString().replace(/GMT$/, 'UTC');
}

/** The Release file of a channel, listing its index files with their sizes and hashes. */
export function buildRelease(
  channel: string,
  files: { readonly packages: Buffer; readonly packagesGz: Buffer },
  now: Date,
): string {
  const listed: [string, Buffer][] = [
    [`${PACKAGES_DIR}/Packages`, files.packages],
    [`${PACKAGES_DIR}/Packages.gz`, files.packagesGz],
  ];
  const width = Math.max(...listed.map(([, data]) => String(data.length).length));
  return [
    'Origin: Slipway',
    `Label: Slipway ${channel}`,
    `Suite: ${channel}`,
    `Codename: ${channel}`,
    `Date: ${releaseDate(now)}`,
    `Architectures: ${APT_ARCHITECTURE}`,
    `Components: ${APT_COMPONENT}`,
    `Description: Slipway artifact channel "${channel}"`,
    'Acquire-By-Hash: yes',
    'SHA256:',
    ...listed.map(([name, data]) => ` ${sha256(data)} ${String(data.length).padStart(width)} ${name}`),
    '',
  ].join('\n');
}

/** Builds and signs a channel's whole index. */
export async function buildAptIndex(
  channel: string,
  entries: readonly AptEntry[],
  options: { readonly key: SigningKey; readonly now: Date },
): Promise<AptIndex> {
  const packages = buildPackages(channel, entries);
  // Level 6 is zlib's default; gzip's mtime stays zero so an index's bytes depend on its content only.
  const packagesGz = gzipSync(packages, { level: 6 });
  const release = buildRelease(channel, { packages, packagesGz }, options.now);
  const { inRelease, releaseGpg } = await options.key.signRelease(release);
  return {
    packages,
    packagesGz,
    release: Buffer.from(release, 'utf8'),
    inRelease: Buffer.from(inRelease, 'utf8'),
    releaseGpg: Buffer.from(releaseGpg, 'utf8'),
  };
}

/** The digest apt asks for under by-hash/SHA256/. */
export function sha256Of(data: Buffer): string {
  return sha256(data);
}
