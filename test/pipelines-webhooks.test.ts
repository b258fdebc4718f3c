/**
 * Webhooks from GitHub, GitLab and Gitea/Forgejo, signed over the exact body with the app's secret:
 * valid ones start a run; wrong, missing or replayed-with-another-body signatures get 401, are
 * audited, and start nothing. Triggers never build a commit twice, and a burst builds the newest.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Run } from '../src/pipelines/index.ts';
import {
  api,
  makeRepository,
  type PipelineTestServer,
  startPipelineServer,
  type TestRepository,
  tinyApp,
  waitForRun,
} from './pipelines-support.ts';

let t: PipelineTestServer;
let repo: TestRepository;
let secret: string;

function sign(body: string, key = secret): string {
  return createHmac('sha256', key).update(body).digest('hex');
}

function pushBody(commit: string, ref = 'refs/heads/master'): string {
  return JSON.stringify({ ref, before: '0'.repeat(40), after: commit, pusher: { name: 'alice' } });
}

/** Sends a webhook over HTTP with the exact bytes given. */
async function webhook(app: string, body: string, headers: Record<string, string>) {
  const response = await fetch(`${t.url}/api/webhooks/${app}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  return { status: response.status, json: (await response.json()) as any };
}

async function runs(app = 'hooked'): Promise<Run[]> {
  return api<Run[]>(t, 'GET', `/api/runs?app=${app}&limit=100`);
}

beforeAll(async () => {
  t = await startPipelineServer();
  repo = await makeRepository();
  await repo.commit(tinyApp('hooked', { build: 'sleep 1; echo built > out.txt' }));
  await repo.push();
  const created = await api(t, 'POST', '/api/apps', { name: 'hooked', repository: repo.bare });
  secret = created.webhookSecret;
});
afterAll(async () => {
  await t?.stopAll();
  await repo?.remove();
});

describe('signed webhooks', () => {
  test('a valid GitHub push to the tracked branch starts a run', async () => {
    const commit = await repo.commit({ 'a.txt': 'a\n' });
    await repo.push();
    const body = pushBody(commit);
    const answer = await webhook('hooked', body, {
      'x-github-event': 'push',
      'x-github-delivery': 'd-1',
      'x-hub-signature-256': `sha256=${sign(body)}`,
    });
    expect(answer).toStrictEqual({
      status: 202,
      json: { accepted: true, message: `Run hooked/1 queued for ${commit.slice(0, 12)}`, runs: ['hooked/1'] },
    });
    const run = await waitForRun(t, 'hooked/1');
    expect(run).toMatchObject({ state: 'succeeded', commit, trigger: 'github', triggeredBy: 'alice' });
  });

  test('a valid GitLab push (X-Gitlab-Token) and a valid Gitea push each start a run', async () => {
    const gitlabCommit = await repo.commit({ 'b.txt': 'b\n' });
    await repo.push();
    const gitlab = await webhook('hooked', pushBody(gitlabCommit), {
      'x-gitlab-event': 'Push Hook',
      'x-gitlab-token': secret,
    });
    expect(gitlab.status).toBe(202);
    expect(gitlab.json.runs).toStrictEqual(['hooked/2']);
    await waitForRun(t, 'hooked/2');

    const giteaCommit = await repo.commit({ 'c.txt': 'c\n' });
    await repo.push();
    const body = pushBody(giteaCommit);
    const gitea = await webhook('hooked', body, { 'x-gitea-event': 'push', 'x-gitea-signature': sign(body) });
    expect(gitea.status).toBe(202);
    expect(gitea.json.runs).toStrictEqual(['hooked/3']);
    const run = await waitForRun(t, 'hooked/3');
    expect(run).toMatchObject({ state: 'succeeded', trigger: 'gitea', commit: giteaCommit });
  });

  test('wrong, missing and replayed-with-another-body signatures get 401, are audited and start nothing', async () => {
    const before = (await runs()).length;
    const commit = await repo.commit({ 'd.txt': 'd\n' });
    await repo.push();
    const body = pushBody(commit);
    const signed = sign(body);
    const otherBody = pushBody(commit, 'refs/heads/master').replace('alice', 'mallory');
    const attempts: [string, string, Record<string, string>][] = [
      [
        'GitHub, wrong key',
        body,
        { 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${sign(body, 'guess')}` },
      ],
      ['GitHub, missing', body, { 'x-github-event': 'push' }],
      [
        'GitHub, replayed with another body',
        otherBody,
        { 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${signed}` },
      ],
      ['GitLab, wrong token', body, { 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': `${secret}x` }],
      ['GitLab, missing', body, { 'x-gitlab-event': 'Push Hook' }],
      ['Gitea, wrong key', body, { 'x-gitea-event': 'push', 'x-gitea-signature': sign(body, 'guess') }],
      [
        'Gitea, replayed with another body',
        otherBody,
        { 'x-gitea-event': 'push', 'x-gitea-signature': signed },
      ],
      ['Forgejo, missing', body, { 'x-forgejo-event': 'push' }],
      ['no provider header at all', body, {}],
    ];
    for (const [name, sent, headers] of attempts) {
      const answer = await webhook('hooked', sent, headers);
      expect({ name, status: answer.status, code: answer.json.error?.code }).toStrictEqual({
        name,
        status: 401,
        code: 'UNAUTHENTICATED',
      });
      expect(answer.json.error.message).toBe('The webhook signature is missing or does not match');
    }
    // An app that does not exist answers the same: webhooks do not reveal which apps exist.
    const unknown = await webhook('no-such-app', body, {
      'x-github-event': 'push',
      'x-hub-signature-256': `sha256=${signed}`,
    });
    expect(unknown.status).toBe(401);

    expect((await runs()).length).toBe(before);
    const denied = await api<any[]>(t, 'GET', '/api/audit?action=pipelines.webhook&outcome=denied&limit=100');
    expect(denied.length).toBe(attempts.length + 1);
    expect(denied.at(-1)).toMatchObject({ actor: 'webhook:github', target: 'app:hooked', outcome: 'denied' });
    expect(JSON.stringify(denied)).not.toContain(secret);
  });

  test('pings, deleted branches and pushes to other branches are acknowledged and start nothing', async () => {
    const before = (await runs()).length;
    const ping = JSON.stringify({ zen: 'Keep it logically awesome.', hook_id: 1 });
    const pinged = await webhook('hooked', ping, {
      'x-github-event': 'ping',
      'x-hub-signature-256': `sha256=${sign(ping)}`,
    });
    expect(pinged).toMatchObject({
      status: 202,
      json: { accepted: false, message: 'Nothing to build: GitHub event "ping" is not a push' },
    });
    const other = pushBody('e'.repeat(40), 'refs/heads/feature');
    const elsewhere = await webhook('hooked', other, {
      'x-github-event': 'push',
      'x-hub-signature-256': `sha256=${sign(other)}`,
    });
    expect(elsewhere.json.message).toBe(
      'Nothing to build: the push was to refs/heads/feature, and app "hooked" tracks master',
    );
    const deletion = JSON.stringify({ ref: 'refs/heads/master', after: '0'.repeat(40), deleted: true });
    const deleted = await webhook('hooked', deletion, {
      'x-github-event': 'push',
      'x-hub-signature-256': `sha256=${sign(deletion)}`,
    });
    expect(deleted.json.accepted).toBe(false);
    expect((await runs()).length).toBe(before);
  });
});

describe('triggers', () => {
  test('the same commit never builds twice, from any trigger', async () => {
    const commit = await repo.commit({ 'f.txt': 'f\n' });
    await repo.push();
    const body = pushBody(commit);
    const first = await webhook('hooked', body, {
      'x-github-event': 'push',
      'x-hub-signature-256': `sha256=${sign(body)}`,
    });
    const again = await webhook('hooked', body, {
      'x-github-event': 'push',
      'x-hub-signature-256': `sha256=${sign(body)}`,
    });
    const viaGitlab = await webhook('hooked', body, {
      'x-gitlab-event': 'Push Hook',
      'x-gitlab-token': secret,
    });
    expect(again.json.accepted).toBe(false);
    expect(again.json.runs).toStrictEqual(first.json.runs);
    expect(viaGitlab.json.runs).toStrictEqual(first.json.runs);
    expect(again.json.message).toMatch(/was already built or queued as run hooked\/\d+$/);
    await waitForRun(t, first.json.runs[0]);
    expect((await runs()).filter((r) => r.commit === commit)).toHaveLength(1);
  });

  test('a burst of pushes builds the newest commit, once', async () => {
    // One run of the app at a time: the first push runs, the rest wait, and each newer push
    // replaces the commit of the one waiting.
    const commits: string[] = [];
    const answers: any[] = [];
    for (let i = 0; i < 5; i++) {
      const commit = await repo.commit({ 'burst.txt': `${i}\n` });
      await repo.push();
      commits.push(commit);
      const body = pushBody(commit);
      answers.push(
        (
          await webhook('hooked', body, {
            'x-github-event': 'push',
            'x-hub-signature-256': `sha256=${sign(body)}`,
          })
        ).json,
      );
      if (i === 0) await waitForRun(t, answers[0].runs[0], (run) => run.state === 'running');
    }
    const handles = [...new Set(answers.flatMap((a) => a.runs))];
    expect(handles).toHaveLength(2);
    expect(answers.slice(2).map((a) => a.message)).toStrictEqual(
      commits
        .slice(2)
        .map((c) => `Run ${handles[1]}, still waiting, now builds the newer commit ${c.slice(0, 12)}`),
    );
    const [first, second] = await Promise.all(handles.map((h) => waitForRun(t, h)));
    expect(first).toMatchObject({ state: 'succeeded', commit: commits[0] });
    expect(second).toMatchObject({
      state: 'succeeded',
      commit: commits[4],
      supersededCommits: commits.slice(1, 4),
    });
  });
});
