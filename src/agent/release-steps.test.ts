import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { ReleaseSpec } from './desired-state.ts';
import { appUser, runReleaseSteps } from './release-steps.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-agent-steps-'));
  await chmod(dir, 0o777);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function release(steps: ReleaseSpec['steps'], user: string | null = 'nobody'): ReleaseSpec {
  return {
    id: 'r1',
    app: 'shop',
    version: '1.0',
    artifact: {
      name: 'shop',
      version: '1.0',
      sha256: 'a'.repeat(64),
      channel: { url: 'http://127.0.0.1/apt', distribution: 'test', component: 'main', signedBy: null },
    },
    configVersion: null,
    secrets: null,
    install: { directory: dir, user },
    envFile: null,
    steps,
  };
}

const step = (name: string, script: string, timeoutMs = 10_000) => ({
  name,
  command: ['/bin/sh', '-c', script, name],
  timeoutMs,
});

describe('runReleaseSteps()', () => {
  test('runs the steps in order as the app user, under umask 077, in the install directory', async () => {
    const lines: string[] = [];
    const write = `echo "$0 $(id -un) $(umask) $(pwd)" >> ${dir}/order; echo made > ${dir}/$0.out; echo "said $0"`;
    await runReleaseSteps(release([step('first', write), step('second', write)]), {
      log: (l) => lines.push(l),
    });
    expect((await readFile(join(dir, 'order'), 'utf8')).trim().split('\n')).toStrictEqual([
      `first nobody 0077 ${dir}`,
      `second nobody 0077 ${dir}`,
    ]);
    const made = await stat(join(dir, 'first.out'));
    expect({ mode: made.mode & 0o777, uid: made.uid }).toStrictEqual({
      mode: 0o600,
      uid: appUser(release([]))!.uid,
    });
    expect(lines).toContain('said first');
    expect(lines.at(-1)).toBe('step second: done');
  });

  test('stops at the first failing step, naming it', async () => {
    await expect(
      runReleaseSteps(
        release([step('migrate', 'echo broken >&2; exit 4'), step('never', `touch ${dir}/never`)], null),
        { log: () => undefined },
      ),
    ).rejects.toThrow('the release step "migrate" exited with code 4');
    await expect(stat(join(dir, 'never'))).rejects.toThrow('ENOENT');
  });

  test('kills a step that runs past its timeout', async () => {
    await expect(
      runReleaseSteps(release([step('slow', 'sleep 30', 300)], null), { log: () => undefined }),
    ).rejects.toThrow('the release step "slow" ran longer than 300 ms: killed');
  });

  test('names an app user that does not exist', async () => {
    const passwd = join(dir, 'passwd');
    await writeFile(passwd, 'root:x:0:0:root:/root:/bin/sh\n');
    expect(() => appUser(release([], 'ghost'), passwd)).toThrow(
      `cannot run the release as "ghost": the user is not in /etc/passwd (the package's preinst should create it)`,
    );
  });
});
