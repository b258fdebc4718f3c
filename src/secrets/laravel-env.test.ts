import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { LARAVEL_ENV_STEPS, renderLaravelEnv } from './laravel-env.ts';

/** Parses .env text with the phpdotenv that Debian's Laravel uses (vlucas/phpdotenv 5). */
function phpdotenv(text: string): Record<string, string> {
  const script =
    'require "/usr/share/php/Dotenv/autoload.php";' +
    'echo json_encode(Dotenv\\Dotenv::parse(file_get_contents("php://stdin")), JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR);';
  return JSON.parse(execFileSync('php', ['-r', script], { input: text, encoding: 'utf8' }));
}

describe('renderLaravelEnv()', () => {
  test('renders config and secrets sorted by name under a do-not-edit note', () => {
    const text = renderLaravelEnv({
      config: { APP_ENV: 'staging', APP_URL: 'https://staging.example.test' },
      secrets: { DB_PASSWORD: 'p@ss word', APP_KEY: 'base64:Zm9vYmFy' },
    });
    expect(text).toBe(
      [
        '# Written by Slipway at each release; edits here are replaced at the next one.',
        'APP_ENV=staging',
        'APP_KEY=base64:Zm9vYmFy',
        'APP_URL=https://staging.example.test',
        "DB_PASSWORD='p@ss word'",
        '',
      ].join('\n'),
    );
  });

  test('refuses a name that is both config and secret', () => {
    expect(() =>
      renderLaravelEnv({ config: { DB_PASSWORD: 'x' }, secrets: { DB_PASSWORD: 'y' } }),
    ).toThrowError('Cannot render the .env: DB_PASSWORD is both config and secret');
  });

  test("Laravel's own dotenv parser reads back every value exactly (fast-check, real phpdotenv)", () => {
    const unit = fc.constantFrom(
      'a',
      'Z',
      '9',
      '=',
      '#',
      ' ',
      '"',
      "'",
      '\\',
      '$',
      '{',
      '}',
      '\n',
      '\r',
      '\t',
      'é',
      '😀',
      `${'$'}{APP_KEY}`,
      '\\n',
      '="',
    );
    const value = fc.oneof(
      fc.string({ unit, maxLength: 24 }),
      fc.string({ unit: 'grapheme-ascii', maxLength: 24 }),
    );
    const names = fc.uniqueArray(fc.stringMatching(/^[A-Z][A-Z0-9_]{0,11}$/), {
      minLength: 1,
      maxLength: 40,
    });
    // One php process per batch: 20 generated files of up to 40 entries each.
    for (const [index, list] of fc.sample(names, { numRuns: 20, seed: 7 }).entries()) {
      const valuesFor = fc.sample(value, { numRuns: list.length, seed: 100 + index });
      const secrets = Object.fromEntries(list.map((name, i) => [name, valuesFor[i]!]));
      expect(phpdotenv(renderLaravelEnv({ secrets }))).toStrictEqual(secrets);
    }
  });

  test('the host steps run in the order Laravel needs: env, config cache, queue restart', () => {
    expect(LARAVEL_ENV_STEPS.map((step) => step.name)).toStrictEqual([
      'write-env',
      'config-cache',
      'queue-restart',
    ]);
  });
});
