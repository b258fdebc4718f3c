/**
 * Build versions: unique per app, increasing with every build, and ordered by dpkg the way they were
 * built: `BASE~bBUILD+gCOMMIT`, e.g. `1.4.0~b27+g1a2b3c4d5e6f`.
 *
 * - BASE comes from slipway.yaml (`version`) or the latest `vX.Y.Z` tag; it never goes down for an
 *   app (a lower one is raised to the highest used so far, so a rebuild of an old commit still sorts
 *   after every earlier build).
 * - BUILD is the app's build number: one more for every run, re-runs included.
 * - `~` sorts before anything, so `1.4.0~b27` is a pre-release of a plain `1.4.0` a team may publish.
 * - `+gCOMMIT` names the commit (12 hex digits); it never decides the order, because the build number
 *   before it always differs.
 */

/** A base version: numbers separated by dots ("1.4.0"). */
export const BASE_VERSION_PATTERN = /^\d+(\.\d+){0,3}$/;

/** The version a build gets. */
export function buildVersion(input: { base: string; build: number; commit: string }): string {
  if (!BASE_VERSION_PATTERN.test(input.base)) {
    throw new Error(`Cannot make a build version: base "${input.base}" is not like "1.4.0"`);
  }
  if (!Number.isInteger(input.build) || input.build < 1) {
    throw new Error(`Cannot make a build version: build number ${input.build} is not a positive integer`);
  }
  return `${input.base}~b${input.build}+g${input.commit.slice(0, 12).toLowerCase()}`;
}

/** The base version a tag names ("v1.4.0" or "1.4.0"), or undefined for other tags. */
export function tryParseTagVersion(tag: string): string | undefined {
  const text = tag.replace(/^refs\/tags\//, '').replace(/^v/, '');
  return BASE_VERSION_PATTERN.test(text) ? text : undefined;
}

/** The higher of two base versions in dpkg's order. */
export function maxVersion(a: string, b: string): string {
  return compareDebianVersions(a, b) >= 0 ? a : b;
}

function order(char: string | undefined): number {
  if (char === undefined) return 0;
  if (char === '~') return -1;
  if (/[0-9]/.test(char)) return 0;
  if (/[A-Za-z]/.test(char)) return char.charCodeAt(0);
  return char.charCodeAt(0) + 256;
}

/** dpkg's comparison of an upstream version or revision (lib/dpkg/version.c: verrevcmp). */
function compareFragments(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let firstDiff = 0;
    while ((i < a.length && !/[0-9]/.test(a[i]!)) || (j < b.length && !/[0-9]/.test(b[j]!))) {
      const ac = order(a[i]);
      const bc = order(b[j]);
      if (ac !== bc) return ac - bc;
      i += 1;
      j += 1;
    }
    while (a[i] === '0') i += 1;
    while (b[j] === '0') j += 1;
    while (i < a.length && /[0-9]/.test(a[i]!) && j < b.length && /[0-9]/.test(b[j]!)) {
      if (!firstDiff) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i += 1;
      j += 1;
    }
    if (i < a.length && /[0-9]/.test(a[i]!)) return 1;
    if (j < b.length && /[0-9]/.test(b[j]!)) return -1;
    if (firstDiff) return firstDiff;
  }
  return 0;
}

function split(version: string): { epoch: number; upstream: string; revision: string } {
  const colon = version.indexOf(':');
  const epoch = colon > 0 ? Number(version.slice(0, colon)) : 0;
  const rest = colon > 0 ? version.slice(colon + 1) : version;
  const dash = rest.lastIndexOf('-');
  return dash >= 0
    ? { epoch, upstream: rest.slice(0, dash), revision: rest.slice(dash + 1) }
    : { epoch, upstream: rest, revision: '' };
}

/** Compares two Debian versions as `dpkg --compare-versions` does: negative, zero or positive. */
export function compareDebianVersions(a: string, b: string): number {
  const x = split(a);
  const y = split(b);
  if (x.epoch !== y.epoch) return x.epoch - y.epoch;
  const upstream = compareFragments(x.upstream, y.upstream);
  if (upstream !== 0) return upstream;
  return compareFragments(x.revision, y.revision);
}
