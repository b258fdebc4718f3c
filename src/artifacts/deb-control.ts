import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { NotADebianPackageError } from './errors.ts';

const execFileAsync = promisify(execFile);

/** A package's control stanza: its text as dpkg wrote it, and its fields by name. */
export interface DebControl {
  /** The stanza without a trailing newline. */
  readonly text: string;
  /** Field values by their name as written ("Package", "Depends"); continuation lines kept. */
  readonly fields: Readonly<Record<string, string>>;
}

/** The fields every stored package must have. */
const REQUIRED_FIELDS = ['Package', 'Version', 'Architecture'] as const;

/**
 * Parses one deb822 stanza (RFC 822-like: "Name: value", continuation lines start with a space).
 * Repeated names keep the last value.
 */
export function parseControl(text: string): DebControl {
  const fields: Record<string, string> = {};
  let current: string | undefined;
  const lines = text.replace(/\r\n/g, '\n').replace(/\n+$/, '').split('\n');
  for (const line of lines) {
    if (/^[ \t]/.test(line) && current) {
      fields[current] = `${fields[current]}\n${line}`;
      continue;
    }
    const match = /^([A-Za-z0-9][A-Za-z0-9-]*):[ \t]*(.*)$/.exec(line);
    if (!match) continue;
    current = match[1]!;
    fields[current] = match[2]!;
  }
  return { text: lines.join('\n'), fields };
}

/**
 * Reads the control stanza of a .deb with `dpkg-deb --field`.
 * @throws NotADebianPackageError when dpkg-deb cannot read it or a required field is missing
 */
export async function readDebControl(path: string): Promise<DebControl> {
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync('dpkg-deb', ['--field', path], { maxBuffer: 4 << 20 }));
  } catch (error) {
    const stderr = String((error as { stderr?: string }).stderr ?? '').trim();
    throw new NotADebianPackageError(stderr.split('\n')[0] || 'dpkg-deb failed');
  }
  const control = parseControl(stdout);
  const missing = REQUIRED_FIELDS.filter((name) => !control.fields[name]);
  if (missing.length > 0) {
    throw new NotADebianPackageError(`its control file has no ${missing.join(', ')} field`);
  }
  return control;
}

/** The file name Debian gives a package: name_version_architecture.deb, without the epoch. */
export function debFilename(packageName: string, version: string, architecture: string): string {
  const withoutEpoch = version.replace(/^\d+:/, '');
  return `${packageName}_${withoutEpoch}_${architecture}.deb`;
}
