import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { parseSlipwayFile } from '../pipelines/index.ts';
import { layoutFromSlipwayFile } from './release-layout.ts';

describe('layoutFromSlipwayFile()', () => {
  test("reads the reference app's processes, hooks, install directory and user", () => {
    const file = parseSlipwayFile(
      readFileSync(new URL('../../examples/laravel-app/slipway.yaml', import.meta.url), 'utf8'),
    );
    const layout = layoutFromSlipwayFile(file);
    expect(layout.package).toBe('laravel-app');
    expect(layout.directory).toBe('/opt/laravel-app');
    expect(layout.user).toBe('laravel-app');
    expect(layout.processTypes.web).toStrictEqual({
      command: ['/bin/sh', '-c', 'exec bin/web'],
      stopSignal: 'SIGTERM',
      stopTimeoutMs: 30_000,
      http: true,
    });
    expect(layout.processTypes.worker?.stopTimeoutMs).toBe(660_000);
    // migrate and queue:restart once per deployment; config:cache on every host
    expect(layout.hooks.predeploy.map((h) => h.command[2])).toStrictEqual([
      'php artisan migrate --force',
      'php artisan queue:restart',
    ]);
    expect(layout.hostSteps.map((h) => h.command[2])).toStrictEqual(['php artisan config:cache']);
    expect(layout.regression?.env).toStrictEqual(['APP_URL']);
  });
});
