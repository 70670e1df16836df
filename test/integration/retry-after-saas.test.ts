// Slack, Jira Cloud and GitHub answer a rate limit with when to come again: Slack and Jira a 429 with
// `Retry-After` (seconds), GitHub a 403 or 429 with `retry-after`, or `x-ratelimit-remaining: 0` and
// `x-ratelimit-reset` (the epoch second its limit resets). Only PagerDuty's Retry-After was read: an action's
// retry to the others came on its retry policy's schedule (1 s by default), on an account still limited, and
// GitHub's 403 was not retried at all. Now every HTTP call's refusal carries the pause it asked for
// (src/executors/http.ts), and the next attempt comes no sooner, nor sooner than the rule's own pause
// (activities/side-effects.ts afterAskedPause), by one helper for every provider and the generic webhook.
// The real worker, Temporal and Postgres; each peer refuses once, then answers; the gaps are read at the peer.
import assert from 'node:assert/strict';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startEwmPeer, startGitHubPeer, startHttpPeer, startJiraPeer, startSlackPeer, type EwmPeer, type GitHubPeer, type HttpPeer, type JiraPeer, type RecordedRequest, type SlackPeer } from '../helpers/http-peer.js';
import { testTemporal, type TestTemporal } from '../helpers/temporal.js';
import { runRuleOnNewIncident, startTestWorker, type TestWorker } from '../helpers/workers.js';

const SLACK_SECRET = 'SELFHEAL_SECRET_TEST_RETRY_AFTER_SLACK';

describe('a refusal asking to wait (Retry-After, GitHub rate-limit headers) from Slack, Jira, GitHub, EWM or a webhook', function () {
  this.timeout(120_000);
  let temporal: TestTemporal;
  let db: TestDatabase;
  let worker: TestWorker;
  let slack: SlackPeer;
  let jira: JiraPeer;
  let github: GitHubPeer;
  let ewm: EwmPeer;
  let hook: HttpPeer;

  before(async function () {
    temporal = await testTemporal();
    db = await createTestDatabase();
    [slack, jira, github, ewm] = await Promise.all([startSlackPeer(), startJiraPeer(), startGitHubPeer(), startEwmPeer()]);
    hook = await startHttpPeer([{ method: 'POST', path: '/hook', handle: () => ({ status: 204 }) }]);
    process.env[SLACK_SECRET] = slack.webhookUrl;
    worker = await startTestWorker({
      temporal,
      db,
      env: {
        JIRA_BASE_URL: jira.baseUrl,
        JIRA_EMAIL: jira.email,
        JIRA_API_TOKEN: jira.token,
        GITHUB_API_URL: github.apiUrl,
        GITHUB_TOKEN: github.token,
        EWM_CATALOG_URL: ewm.catalogUrl,
        EWM_USERNAME: ewm.username,
        EWM_PASSWORD: ewm.password,
      },
    });
  });
  after(async function () {
    await worker?.stop();
    delete process.env[SLACK_SECRET];
    await Promise.all([slack?.close(), jira?.close(), github?.close(), ewm?.close(), hook?.close()]);
    await db?.close();
  });

  const ACTIONS: Record<string, { peer: () => HttpPeer; action: Record<string, unknown> }> = {
    slack: { peer: () => slack, action: { type: 'notify.slack', webhookUrlRef: `env:${SLACK_SECRET}`, text: 'disk full' } },
    jira: { peer: () => jira, action: { type: 'workitem', provider: 'jira', project: 'OPS', title: 'Disk full' } },
    github: { peer: () => github, action: { type: 'workitem', provider: 'github', repo: 'acme/ops', title: 'Disk full' } },
    ewm: { peer: () => ewm, action: { type: 'workitem', provider: 'ewm', project: 'JKE Banking', title: 'Disk full', itemType: 'task' } },
    webhook: { peer: () => hook, action: { type: 'notify.webhook', body: '{}' } },
  };

  /**
   * The kind's action (retried after `pauseSeconds` by its rule) run for a new incident whose first request
   * is answered `refusal`; the refused request, the one after it, and the run.
   */
  async function refusedOnce(kind: keyof typeof ACTIONS, refusal: { status: number; headers: Record<string, string> }, pauseSeconds: number) {
    const { peer, action } = ACTIONS[kind]!;
    const p = peer();
    const before = p.requests.length;
    p.failNext({ ...refusal, json: { message: 'rate limited' } });
    const { run } = await runRuleOnNewIncident({
      temporal,
      db,
      worker,
      namePrefix: `retry-after-${kind}`,
      actions: [{ id: 'call', ...action, ...(kind === 'webhook' ? { url: `${hook.url}/hook` } : {}), retry: { maximumAttempts: 3, initialIntervalSeconds: pauseSeconds, backoffCoefficient: 1 } }],
      actionId: 'call',
    });
    const requests: RecordedRequest[] = p.requests.slice(before);
    assert.ok(requests.length >= 2, `${kind}: the call was made again after the refusal (${requests.length} requests; run ${run.status}: ${run.error ?? ''})`);
    return { refused: requests[0]!, next: requests[1]!, run };
  }

  for (const kind of Object.keys(ACTIONS)) {
    it(`${kind}: 429 Retry-After 2 on a rule pausing 1 s: the next request reaches the peer not before 2 s, and the action succeeds`, async function () {
      const { refused, next, run } = await refusedOnce(kind, { status: 429, headers: { 'retry-after': '2' } }, 1);
      assert.equal(run.status, 'succeeded', run.error ?? '');
      assert.ok(next.at - refused.at >= 2_000, `${kind}: the retry came ${next.at - refused.at} ms after the 429 that asked for 2 s`);
    });
  }

  it("slack: 429 Retry-After 1 on a rule pausing 3 s: the next request waits the rule's 3 s, not the 1 s asked", async function () {
    const { refused, next, run } = await refusedOnce('slack', { status: 429, headers: { 'retry-after': '1' } }, 3);
    assert.equal(run.status, 'succeeded', run.error ?? '');
    assert.ok(next.at - refused.at >= 3_000, `the retry came ${next.at - refused.at} ms after the 429; the rule pauses 3 s`);
  });

  it("jira: 429 Retry-After 1 on a rule pausing 3 s: the next request waits the rule's 3 s, not the 1 s asked", async function () {
    const { refused, next, run } = await refusedOnce('jira', { status: 429, headers: { 'retry-after': '1' } }, 3);
    assert.equal(run.status, 'succeeded', run.error ?? '');
    assert.ok(next.at - refused.at >= 3_000, `the retry came ${next.at - refused.at} ms after the 429; the rule pauses 3 s`);
  });

  it('github: a secondary rate limit (403 with retry-after 2) is retried, not before 2 s, and the issue is filed once', async function () {
    const filed = github.issues.length;
    const { refused, next, run } = await refusedOnce('github', { status: 403, headers: { 'retry-after': '2' } }, 1);
    assert.equal(run.status, 'succeeded', run.error ?? '');
    assert.ok(next.at - refused.at >= 2_000, `the retry came ${next.at - refused.at} ms after the 403 that asked for 2 s`);
    assert.equal(github.issues.length, filed + 1);
  });

  it('github: a primary rate limit (403, x-ratelimit-remaining 0) is retried not before x-ratelimit-reset', async function () {
    const reset = Math.ceil(Date.now() / 1000) + 2;
    const { next, run } = await refusedOnce('github', { status: 403, headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset) } }, 1);
    assert.equal(run.status, 'succeeded', run.error ?? '');
    assert.ok(next.at >= reset * 1000, `the retry came ${reset * 1000 - next.at} ms before the limit's reset`);
  });

  it('github: a 403 that asks for no wait (no access) is still not retried', async function () {
    const { peer } = ACTIONS.github!;
    const before = peer().requests.length;
    github.failNext({ status: 403, json: { message: 'Resource not accessible by integration' } });
    const { run } = await runRuleOnNewIncident({
      temporal,
      db,
      worker,
      namePrefix: 'retry-after-github-403',
      actions: [{ id: 'call', ...ACTIONS.github!.action, retry: { maximumAttempts: 3, initialIntervalSeconds: 1 } }],
      actionId: 'call',
    });
    assert.equal(run.status, 'failed');
    assert.match(run.error ?? '', /HTTP 403/);
    assert.equal(peer().requests.length - before, 1, 'one request, not retried');
  });
});
