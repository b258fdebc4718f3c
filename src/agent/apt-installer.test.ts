import { describe, expect, test } from 'vitest';
import { aptFailureMessage, checkChannelEntry, parsePackagesIndex } from './apt-installer.ts';
import type { ReleaseSpec } from './desired-state.ts';

const SHA = 'a'.repeat(64);

function release(version: string, sha256 = SHA): ReleaseSpec {
  return {
    id: 'r1',
    app: 'shop',
    version,
    artifact: {
      name: 'shop',
      version,
      sha256,
      channel: {
        url: 'http://127.0.0.1:7400/apt',
        distribution: 'staging',
        component: 'main',
        signedBy: null,
      },
    },
    configVersion: null,
    secrets: null,
    install: { directory: '/opt/shop', user: 'shop' },
    envFile: null,
    steps: [],
  };
}

const INDEX = `Package: shop
Version: 1.0
Architecture: all
Description: a shop
 over two lines
Filename: pool/staging/main/s/shop/shop_1.0_all.deb
Size: 1234
SHA256: ${SHA}

Package: shop
Version: 2.0
Architecture: all
SHA256: ${'b'.repeat(64)}

Package: other
Version: 2.0
SHA256: ${'c'.repeat(64)}
`;

describe('parsePackagesIndex()', () => {
  test('reads each stanza, continuation lines included', () => {
    expect(parsePackagesIndex(INDEX)).toStrictEqual([
      { package: 'shop', version: '1.0', sha256: SHA },
      { package: 'shop', version: '2.0', sha256: 'b'.repeat(64) },
      { package: 'other', version: '2.0', sha256: 'c'.repeat(64) },
    ]);
  });
});

describe('checkChannelEntry()', () => {
  const entries = parsePackagesIndex(INDEX);

  test("accepts the version whose SHA-256 is the release's", () => {
    expect(checkChannelEntry(release('1.0'), entries)).toBeNull();
  });

  test('names what the channel lists when the version is missing', () => {
    expect(checkChannelEntry(release('3.0'), entries)).toBe(
      'channel "staging" does not list shop 3.0 (it lists 1.0, 2.0): promote the version to the channel first',
    );
    expect(checkChannelEntry(release('1.0'), [])).toBe(
      'channel "staging" does not list shop 1.0 (it lists no version of shop): promote the version to the channel first',
    );
  });

  test('refuses another build of the same version', () => {
    expect(checkChannelEntry(release('2.0'), entries)).toBe(
      `channel "staging" lists shop 2.0 with SHA-256 ${'b'.repeat(64)}, but the release names ${SHA}: the channel holds another build of that version`,
    );
  });
});

describe('aptFailureMessage()', () => {
  test("a failed maintainer script, with the script's own last lines", () => {
    const output = [
      'Preparing to unpack .../archives/shop_2.0_all.deb ...',
      'Unpacking shop (2.0) over (1.0) ...',
      'Setting up shop (2.0) ...',
      'shop postinst: migrating',
      'shop postinst: cannot reach the database at 10.0.0.5:5432',
      'dpkg: error processing package shop (--configure):',
      ' installed shop package post-installation script subprocess returned error exit status 3',
      'Errors were encountered while processing:',
      ' shop',
      'E: Sub-process /usr/bin/dpkg returned an error code (1)',
    ];
    expect(aptFailureMessage(output, 100)).toBe(
      'its postinst failed with exit status 3: shop postinst: migrating / shop postinst: cannot reach the database at 10.0.0.5:5432',
    );
  });

  test('a failed preinst, which prints nothing', () => {
    expect(
      aptFailureMessage(
        [
          'Preparing to unpack .../shop_2.0_all.deb ...',
          'dpkg: error processing archive /var/cache/apt/archives/shop_2.0_all.deb (--unpack):',
          ' new shop package pre-installation script subprocess returned error exit status 1',
        ],
        100,
      ),
    ).toBe('its preinst failed with exit status 1');
  });

  test("apt's own errors: unmet dependencies, unknown versions", () => {
    expect(
      aptFailureMessage(
        [
          'The following packages have unmet dependencies:',
          ' shop : Depends: php-cli (>= 2:8.2) but it is not installable',
          'E: Unable to correct problems, you have held broken packages.',
        ],
        100,
      ),
    ).toBe(
      'shop : Depends: php-cli (>= 2:8.2) but it is not installable / Unable to correct problems, you have held broken packages.',
    );
    expect(aptFailureMessage(["E: Version '9.9' for 'shop' was not found"], 100)).toBe(
      "Version '9.9' for 'shop' was not found",
    );
    expect(aptFailureMessage([], null)).toBe('apt-get was killed');
  });
});
