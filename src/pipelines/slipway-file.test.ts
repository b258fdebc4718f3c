import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { parseSlipwayFile, SlipwayFileError } from './slipway-file.ts';

const REFERENCE = new URL('../../examples/laravel-app/slipway.yaml', import.meta.url);

function problemsOf(text: string) {
  try {
    parseSlipwayFile(text);
  } catch (error) {
    if (error instanceof SlipwayFileError) return error.problems;
    throw error;
  }
  throw new Error('expected problems');
}

const MINIMAL = `app: demo
package:
  name: demo
  description: Demo
  maintainer: Team <team@example.org>
  architecture: all
  files:
    - from: .
      to: /opt/demo
`;

describe('parseSlipwayFile()', () => {
  test("reads the reference app's file, with every section", () => {
    const file = parseSlipwayFile(readFileSync(REFERENCE, 'utf8'));
    expect(file.app).toBe('laravel-app');
    expect(file.version).toBe('1.0.0');
    expect(file.build.steps.map((s) => s.run.split(' ').slice(0, 2).join(' '))).toStrictEqual([
      'npm ci',
      'npm run',
      `printf '%s\\n'`,
    ]);
    expect(file.test?.run).toBe('phpunit --testsuite unit');
    expect(file.package.scripts).toStrictEqual({
      preinst: 'debian/preinst',
      postinst: 'debian/postinst',
      prerm: 'debian/prerm',
      postrm: 'debian/postrm',
    });
    expect(file.package.conffiles).toStrictEqual(['/etc/laravel-app/fpm.ini']);
    expect(Object.keys(file.processes)).toStrictEqual(['web', 'worker', 'scheduler']);
    expect(file.processes.web).toStrictEqual({
      command: 'bin/web',
      http: true,
      stop_signal: 'TERM',
      stop_timeout: '30s',
    });
    expect(file.hooks.predeploy.map((h) => h.run_on)).toStrictEqual(['one_host', 'every_host', 'one_host']);
    expect(file.regression?.env).toStrictEqual(['APP_URL']);
    expect(file.health_check).toMatchObject({ path: '/up', expect_status: 200, healthy_after: 2 });
  });

  test('fills defaults in a minimal file', () => {
    const file = parseSlipwayFile(MINIMAL);
    expect(file.build).toStrictEqual({ steps: [], env: {} });
    expect(file.test).toBeUndefined();
    expect(file.package).toMatchObject({ section: 'misc', priority: 'optional', depends: [], scripts: {} });
    expect(file.hooks).toStrictEqual({ predeploy: [], postdeploy: [] });
  });

  test('names the file, key path, line and column of every problem, with a fix', () => {
    const problems = problemsOf(`${MINIMAL}version: 1.0
build:
  steps:
    - name: compile
      run: make
      timout: 5m
test:
  run: phpunit
  timeout: five minutes
processes:
  web:
    command: bin/web
    stop_signal: KILL
`);
    expect(problems).toStrictEqual([
      {
        file: 'slipway.yaml',
        path: 'version',
        line: 10,
        column: 10,
        message: '1.0 is a number',
        fix: 'quote it, like "1.0"',
      },
      {
        file: 'slipway.yaml',
        path: 'build.steps[0]',
        line: 15,
        column: 7,
        message: 'unknown key "timout"',
        fix: 'remove it or fix the spelling (this section takes name, run, timeout, env)',
      },
      {
        file: 'slipway.yaml',
        path: 'test.timeout',
        line: 18,
        column: 12,
        message: '"five minutes" is not valid',
        fix: 'use a number and a unit, like "30s", "5m" or "1h"',
      },
      {
        file: 'slipway.yaml',
        path: 'processes.web.stop_signal',
        line: 22,
        column: 18,
        message: '"KILL" is not allowed',
        fix: 'use one of "TERM", "INT", "QUIT", "HUP", "USR1", "USR2"',
      },
    ]);
  });

  test('a missing section is pointed at where it belongs', () => {
    expect(problemsOf('app: demo\n')).toStrictEqual([
      {
        file: 'slipway.yaml',
        path: 'package',
        line: 1,
        column: 1,
        message: 'missing',
        fix: 'add it (a mapping)',
      },
    ]);
  });

  test('YAML syntax errors are reported with their position', () => {
    expect(() => parseSlipwayFile('app: demo\npackage: [1,\n', 'apps/web/slipway.yaml')).toThrow(
      /^Cannot read apps\/web\/slipway\.yaml: \d problems?\napps\/web\/slipway\.yaml:\d+:\d+: \(file\): not valid YAML: /,
    );
  });
});
