// "Redirects are not followed" (docs/security.md, Egress): a rule-directed call (notify.webhook, a Slack
// hook) whose peer answers 3xx with a Location elsewhere fails at once, permanently, saying "redirect, not
// followed", and nothing is sent where the Location points. Against the real worker, Temporal and Postgres,
// with ACTION_EGRESS_ALLOW naming loopback so the first peer is reachable at all: a redirect is how an
// allowed receiver would lead the worker to an address the rule could not name (here a second loopback
// peer, which stands for any target; refused ranges are refused on their own, test/security/egress.test.ts).
// A tracker's API (operator configuration, reached with plain fetch) is not followed either, and its error
// says where the redirect pointed, as the Location's origin only (its path can hold a secret as well as its
// query or credentials), and which setting to change.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startHttpPeer, type HttpPeer } from '../helpers/http-peer.js';
import { newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

const STATUSES = [301, 302, 307, 308] as const;

describe('security: rule-directed HTTP never follows a redirect', function () {
  this.timeout(300_000);
  let stack: Stack;
  /** Where a followed redirect would land: it records every request and answers as a receiver would. */
  let landing: HttpPeer;
  /** The receiver the rule names: every path answers a redirect to the landing peer. */
  let redirector: HttpPeer;

  before(async function () {
    landing = await startHttpPeer([{ method: 'POST', path: /.*/, handle: () => ({ status: 200, text: 'ok' }) }]);
    // Jira's address (JIRA_BASE_URL) answers every call with a 302 to a sign-on page whose Location carries
    // credentials and a ticket in its query: what a proxy in front of a tracker answers when it wants a login.
    const signOn = (): { status: number; headers: Record<string, string>; text: string } => ({
      status: 302,
      headers: { location: `http://svc:pa55word@${new URL(landing.url).host}/login?ticket=ST-SECRET-TICKET#after` },
      text: '',
    });
    redirector = await startHttpPeer([
      { method: 'POST', path: /^\/jira\//, handle: signOn },
      { method: 'GET', path: /^\/jira\//, handle: signOn },
      // A receiver that answers 303 to where the post's result is, on its own origin.
      { method: 'POST', path: '/same/303', handle: () => ({ status: 303, headers: { location: '/landed-here/303?receipt=1' }, text: '' }) },
      { method: 'GET', path: /^\/landed-here\//, handle: () => ({ status: 200, text: 'result' }) },
      {
        method: 'POST',
        path: /^\/(?<kind>hook|services)\/(?<status>\d{3})(\/.*)?$/,
        handle: (req) => ({ status: Number(req.params.status), headers: { location: `${landing.url}/landed/${req.params.kind}/${req.params.status}` }, text: '' }),
      },
    ]);
    process.env.JIRA_API_TOKEN = 'jira-token';
    stack = await startStack({ env: { ACTION_EGRESS_ALLOW: '127.0.0.1/32', JIRA_BASE_URL: `${redirector.url}/jira`, JIRA_EMAIL: 'ops@example.com', JIRA_API_TOKEN: 'jira-token' } });
  });
  after(async function () {
    delete process.env.JIRA_API_TOKEN;
    await stack?.stop();
    await Promise.all([landing?.close(), redirector?.close()]);
  });

  const hitsAt = (path: string) => redirector.requests.filter((r) => r.path === path).length;
  /** Attempts of the action's side effect (action_runs.attempts counts claims of the run, not activity retries). */
  const effectAttempts = async (actionRunId: string) => (await stack.db.db.selectFrom('side_effects').select(['attempts', 'state']).where('key', '=', actionRunId).executeTakeFirstOrThrow());

  async function insertRule(service: string, actions: unknown[]): Promise<void> {
    const name = `redirect-${randomUUID().slice(0, 8)}`;
    const definition = { name, services: [service], eventTypes: ['incident.triggered'], priority: 100, stopOnMatch: false, enabled: true, dryRun: false, policies: {}, actions };
    await stack.db.db.insertInto('rules').values({ id: `r-${randomUUID()}`, name, version: 1, enabled: true, definition: JSON.stringify(definition) }).execute();
  }

  async function incidentRuns(service: string, count: number) {
    const id = newIncidentId();
    assert.equal((await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { service: { id: service, type: 'service_reference', summary: 's' } } }))).status, 202);
    return eventually(async () => {
      const r = await stack.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).orderBy('action_index').execute();
      return r.length === count && r.every((x) => x.finished_at) ? r : undefined;
    }, 120_000, `${count} finished action runs`);
  }

  it(`notify.webhook: a ${STATUSES.join('/')} fails once ("redirect, not followed"), naming where it pointed as its origin only and the action's url to change, is not retried, and the Location gets nothing`, async function () {
    const service = newServiceId();
    const port = new URL(redirector.url).port;
    // Three attempts allowed: a retry would show as a second request at the redirector.
    await insertRule(
      service,
      STATUSES.map((s) => ({ id: `r${s}`, type: 'notify.webhook', url: `${redirector.url}/hook/${s}`, body: '{"probe":true}', when: 'always', retry: { maximumAttempts: 3, initialIntervalSeconds: 0.1, backoffCoefficient: 1 } })),
    );
    const runs = await incidentRuns(service, STATUSES.length);
    for (const [i, s] of STATUSES.entries()) {
      const run = runs[i]!;
      assert.deepEqual([run.action_id, run.status, run.attempts], [`r${s}`, 'failed', 1], `${s}: ${run.error}`);
      // The status, where it pointed as its origin only, and what to change (before, the error stopped at the
      // status, then named nothing of the Location but for a 303).
      assert.equal(
        run.error,
        `webhook 127.0.0.1:${port}: HTTP ${s} (redirect, not followed) to its own host (http, port ${new URL(landing.url).port}) (path withheld); change the action's url to the address that answers (a webhook is posted once, to that address only)`,
      );
      assert.doesNotMatch(run.error ?? '', /landed/, `${s}: the Location's path is not recorded`);
      assert.equal(hitsAt(`/hook/${s}`), 1, `${s}: the receiver got the post once, never again`);
      assert.deepEqual(await effectAttempts(run.id), { attempts: 1, state: 'failed' }, `${s}: one attempt, failed (not uncertain)`);
    }
    assert.deepEqual(landing.requests.map((r) => r.path), [], 'nothing reached where the redirects pointed');
  });

  it("a 303 See Other: delivered once for notify.webhook when it points to the url's own origin; failed once when it points elsewhere or answers notify.slack, naming the origin only; never followed", async function () {
    // Slack never answers a post with 303: one comes from something in between (a captive proxy, a sign-on
    // gateway) that did not pass the message on. Before, any 303 counted as delivered, for Slack and for a
    // webhook whose 303 pointed anywhere, and the message was lost without a word.
    process.env.SELFHEAL_SECRET_TEST_REDIRECT_SLACK_303 = `${redirector.url}/services/303/T000/B000/secretpart`;
    try {
      const service = newServiceId();
      const port = new URL(redirector.url).port;
      // Three attempts allowed: a retry (or a resend of an uncertain delivery) would show as a second request.
      const retry = { maximumAttempts: 3, initialIntervalSeconds: 0.1, backoffCoefficient: 1 };
      await insertRule(service, [
        { id: 'same303', type: 'notify.webhook', url: `${redirector.url}/same/303`, body: '{"probe":true}', when: 'always', retry },
        { id: 'hook303', type: 'notify.webhook', url: `${redirector.url}/hook/303`, body: '{"probe":true}', when: 'always', retry },
        { id: 'chat303', type: 'notify.slack', webhookUrlRef: 'env:SELFHEAL_SECRET_TEST_REDIRECT_SLACK_303', text: 'hi', when: 'always', retry },
      ]);
      const runs = await incidentRuns(service, 3);
      assert.deepEqual(
        runs.map((r) => [r.action_id, r.status, r.attempts, r.error]),
        [
          ['same303', 'succeeded', 1, null],
          [
            'hook303',
            'failed',
            1,
            `webhook 127.0.0.1:${port}: HTTP 303 (redirect, not followed) to its own host (http, port ${new URL(landing.url).port}) (path withheld): a 303 counts as delivered only when it points to the url's own origin (scheme, host and port), and this one does not, so the post is not counted as delivered; change the action's url to the address that answers (a webhook is posted once, to that address only)`,
          ],
          [
            'chat303',
            'failed',
            1,
            `slack webhook: HTTP 303 (redirect, not followed) to its own host (http, port ${new URL(landing.url).port}) (path withheld): Slack never answers a post with 303, so something in between (a proxy, a sign-on gateway) answered it and the message was not delivered (let the worker reach Slack without it); set the secret env:SELFHEAL_SECRET_TEST_REDIRECT_SLACK_303 (the action's webhookUrlRef) to the hook's current URL (an incoming webhook answers 200 "ok", not a redirect)`,
          ],
        ],
      );
      for (const run of runs) assert.doesNotMatch(run.error ?? '', /landed|secretpart/, `${run.action_id}: the Location's path and the hook are not recorded`);
      assert.equal(hitsAt('/same/303'), 1, 'the receiver got the post once, never again');
      assert.equal(hitsAt('/hook/303'), 1, 'the receiver got the post once, never again');
      assert.equal(hitsAt('/services/303/T000/B000/secretpart'), 1, 'the hook got the post once, never again');
      assert.deepEqual(redirector.requests.filter((r) => r.path.startsWith('/landed')).map((r) => r.path), [], 'the same-origin 303 is not followed');
      assert.deepEqual(
        await Promise.all(runs.map((r) => effectAttempts(r.id))),
        [
          { attempts: 1, state: 'done' },
          { attempts: 1, state: 'failed' },
          { attempts: 1, state: 'failed' },
        ],
        'one attempt each: done, or failed (not an unknown outcome)',
      );
      assert.deepEqual(landing.requests.map((r) => r.path), [], 'nothing reached where the 303s pointed');
    } finally {
      delete process.env.SELFHEAL_SECRET_TEST_REDIRECT_SLACK_303;
    }
  });

  it("notify.slack: a hook answering 302 or 307 fails once without naming the hook, naming where it pointed as its origin only and the secret reference to change, and the Location gets nothing", async function () {
    process.env.SELFHEAL_SECRET_TEST_REDIRECT_SLACK_302 = `${redirector.url}/services/302/T000/B000/secretpart`;
    process.env.SELFHEAL_SECRET_TEST_REDIRECT_SLACK_307 = `${redirector.url}/services/307/T000/B000/secretpart`;
    try {
      const service = newServiceId();
      await insertRule(service, [
        { id: 'chat302', type: 'notify.slack', webhookUrlRef: 'env:SELFHEAL_SECRET_TEST_REDIRECT_SLACK_302', text: 'hi', when: 'always', retry: { maximumAttempts: 3, initialIntervalSeconds: 0.1, backoffCoefficient: 1 } },
        { id: 'chat307', type: 'notify.slack', webhookUrlRef: 'env:SELFHEAL_SECRET_TEST_REDIRECT_SLACK_307', text: 'hi', when: 'always', retry: { maximumAttempts: 3, initialIntervalSeconds: 0.1, backoffCoefficient: 1 } },
      ]);
      const runs = await incidentRuns(service, 2);
      for (const [i, s] of [302, 307].entries()) {
        const run = runs[i]!;
        assert.deepEqual([run.status, run.attempts], ['failed', 1], `${s}: ${run.error}`);
        // The status, where it pointed (its origin only) and the setting to change, the action's secret reference
        // (before, the error stopped at the status, then named nothing of the Location but for a 303).
        assert.equal(
          run.error,
          `slack webhook: HTTP ${s} (redirect, not followed) to its own host (http, port ${new URL(landing.url).port}) (path withheld); set the secret env:SELFHEAL_SECRET_TEST_REDIRECT_SLACK_${s} (the action's webhookUrlRef) to the hook's current URL (an incoming webhook answers 200 "ok", not a redirect)`,
        );
        // The landing peer shares the hook's host (127.0.0.1): the host is the secret's, so not even it is named.
        assert.doesNotMatch(run.error ?? '', /secretpart|landed|127\.0\.0\.1/, 'the hook (a secret), its host and the Location\'s path are not named');
        assert.equal(hitsAt(`/services/${s}/T000/B000/secretpart`), 1, `${s}: the hook got the post once`);
        assert.deepEqual(await effectAttempts(run.id), { attempts: 1, state: 'failed' }, `${s}: one attempt, failed (not an unknown outcome)`);
      }
      assert.deepEqual(landing.requests.map((r) => r.path), [], 'nothing reached where the redirects pointed');
    } finally {
      delete process.env.SELFHEAL_SECRET_TEST_REDIRECT_SLACK_302;
      delete process.env.SELFHEAL_SECRET_TEST_REDIRECT_SLACK_307;
    }
  });

  it('a Jira ticket whose API answers 302 fails once, naming the status, where it pointed (its origin only) and JIRA_BASE_URL', async function () {
    const service = newServiceId();
    // Three attempts allowed: before, fetch's "unexpected redirect" was a retryable network failure, sent again each time.
    await insertRule(service, [{ id: 'ticket', type: 'workitem', provider: 'jira', project: 'OPS', title: 'Disk full', when: 'always', retry: { maximumAttempts: 3, initialIntervalSeconds: 0.1, backoffCoefficient: 1 } }]);
    const [run] = await incidentRuns(service, 1);
    assert.deepEqual([run!.status, run!.attempts], ['failed', 1], run!.error ?? '');
    assert.ok(
      run!.error?.includes(`jira: HTTP 302, redirecting to "${landing.url}" (path withheld): redirects are not followed; set JIRA_BASE_URL to the address that answers`),
      run!.error ?? '',
    );
    assert.doesNotMatch(run!.error ?? '', /ST-SECRET-TICKET|pa55word|svc:/, 'nothing of the Location that could be a secret');
    assert.deepEqual(
      redirector.requests.filter((r) => r.path.startsWith('/jira/')).map((r) => `${r.method} ${r.path}`),
      ['POST /jira/rest/api/3/issue'],
      'one request reached Jira, never again (no retry, no lookup: a 302 is an answer that did nothing)',
    );
    assert.deepEqual(await effectAttempts(run!.id), { attempts: 1, state: 'failed' }, 'one attempt, failed (not uncertain)');
    assert.deepEqual(landing.requests.map((r) => r.path), [], 'nothing reached where the redirect pointed');
  });

  it('a tracker redirect to a URL with a secret in its path and query is named by its origin only: the action run and the API show neither', async function () {
    // A Slack hook's address keeps its secret in the path; a token can sit in any segment. Before, the
    // message quoted origin and path: "https://evil.example/services/T1/B2/SECRETPART" (its query dropped).
    redirector.failNext({ status: 302, headers: { location: 'https://evil.example/services/T1/B2/SECRETPART?token=abc' }, text: '' });
    const service = newServiceId();
    await insertRule(service, [{ id: 'ticket', type: 'workitem', provider: 'jira', project: 'OPS', title: 'Disk full', when: 'always', retry: { maximumAttempts: 3, initialIntervalSeconds: 0.1, backoffCoefficient: 1 } }]);
    const [run] = await incidentRuns(service, 1);
    assert.deepEqual([run!.status, run!.attempts], ['failed', 1], run!.error ?? '');
    assert.ok(run!.error?.includes('jira: HTTP 302, redirecting to "https://evil.example" (path withheld): redirects are not followed; set JIRA_BASE_URL to the address that answers'), run!.error ?? '');
    const res = await stack.api(`/api/incidents/${run!.incident_id}`);
    assert.equal(res.status, 200);
    const body = await res.text();
    assert.ok(body.includes('redirecting to \\"https://evil.example\\" (path withheld)'), body.slice(0, 2000));
    for (const where of [run!.error ?? '', body]) assert.doesNotMatch(where, /SECRETPART|T1\/B2|token=abc/, 'nothing of the path or query');
    const effect = await stack.db.db.selectFrom('side_effects').select(['last_error']).where('key', '=', run!.id).executeTakeFirstOrThrow();
    assert.doesNotMatch(effect.last_error ?? '', /SECRETPART|token=abc/);
  });
});
