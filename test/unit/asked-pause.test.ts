// What a refusal asks for (src/http-body.ts askedPauseMs), what the HTTP executor makes of it
// (src/executors/http.ts: HttpCallError.retryAfterMs, a rate-limit 403 retryable), the pause before the next
// attempt (src/domain/retry-pause.ts nextRetryDelayMs: the longer of the asked pause, capped, and the retry
// policy's own, a second at least), and a redirect named by its origin only (redirectTarget).
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAskedPause, askedRetryDelayMs, policyPauseMs, usesRetryPauses, whatHappened } from '../../activities/side-effects.js';
import { nextRetryDelayMs, retryPauseMs, saasRetryPauses } from '../../src/domain/retry-pause.js';
import { HttpCallError } from '../../src/executors/errors.js';
import { httpRequest } from '../../src/executors/http.js';
import { sendSlack } from '../../src/executors/notify.js';
import { askedPauseMs, redirectTarget } from '../../src/http-body.js';
import { createPagerDutyClient } from '../../src/pagerduty/rest-client.js';
import { externalApiOptions, optionsForAction } from '../../workflows/options.js';
import { startHttpPeer, type HttpPeer } from '../helpers/http-peer.js';

const EVIL = 'https://evil.example/services/T1/B2/SECRETPART?token=abc';

describe('asked pauses and redirect targets', () => {
  describe('askedPauseMs', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    const h = (init: Record<string, string>) => new Headers(init);
    it('reads Retry-After in seconds or as an HTTP date', () => {
      assert.equal(askedPauseMs(h({ 'retry-after': '2' }), now), 2_000);
      assert.equal(askedPauseMs(h({ 'retry-after': ' 0.5 ' }), now), 500);
      assert.equal(askedPauseMs(h({ 'retry-after': 'Thu, 01 Jan 2026 00:00:07 GMT' }), now), 7_000);
      assert.equal(askedPauseMs(h({ 'retry-after': 'Wed, 31 Dec 2025 23:59:00 GMT' }), now), 0, 'a date already past asks for no wait');
    });
    it('asks nothing for a Retry-After it cannot read', () => {
      for (const v of ['soon', '-5', '1e3', '']) assert.equal(askedPauseMs(h({ 'retry-after': v }), now), undefined, v);
      assert.equal(askedPauseMs(h({}), now), undefined);
    });
    it("reads GitHub's x-ratelimit-reset only when x-ratelimit-remaining is 0, and Retry-After first", () => {
      const reset = String(now / 1000 + 30);
      assert.equal(askedPauseMs(h({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': reset }), now), 30_000);
      assert.equal(askedPauseMs(h({ 'x-ratelimit-remaining': '12', 'x-ratelimit-reset': reset }), now), undefined);
      assert.equal(askedPauseMs(h({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': reset, 'retry-after': '3' }), now), 3_000);
    });
  });

  describe('nextRetryDelayMs', () => {
    it("is the longer of the asked pause and the policy's, a second at least, the asked part at most 60 s", () => {
      assert.equal(nextRetryDelayMs(2_000, 1_000), 2_000);
      assert.equal(nextRetryDelayMs(2_000, 300_000), 300_000, "a rule's 5-minute pause is kept");
      assert.equal(nextRetryDelayMs(0, undefined), 1_000);
      assert.equal(nextRetryDelayMs(3_600_000, 1_000), 60_000);
      assert.equal(nextRetryDelayMs(3_600_000, 120_000), 120_000);
    });
    it("is the policy's pause for the attempt: initialInterval × backoffCoefficient^(n-1), at most maximumInterval", () => {
      const p = { initialIntervalMs: 5_000, backoffCoefficient: 3, maximumIntervalMs: 60_000 };
      assert.deepEqual([1, 2, 3, 4].map((n) => retryPauseMs(p, n)), [5_000, 15_000, 45_000, 60_000]);
    });
  });

  describe("inside an activity: the retry policy's pause for its attempt", () => {
    const inActivity = <T>(attempt: number, retryPolicy: Record<string, unknown> | undefined, fn: () => T): Promise<T> =>
      new MockActivityEnvironment({ attempt, ...(retryPolicy ? { retryPolicy } : {}) } as never).run(async () => fn());
    // A rule's `retry: { initialIntervalSeconds: 300 }` (its SaaS cap raised to it: workflows/options.ts).
    const fiveMinutes = { initialInterval: 300_000, backoffCoefficient: 2, maximumInterval: 300_000, maximumAttempts: 3 };

    it("a 2 s Retry-After on a rule pausing 5 minutes waits the 5 minutes (before: 2 s, the rule's pause replaced)", async () => {
      const err = new HttpCallError('slack webhook: HTTP 429', 429, true, { retryAfterMs: 2_000 });
      assert.equal(await inActivity(1, fiveMinutes, () => askedRetryDelayMs(err)), 300_000);
      assert.equal(await inActivity(1, fiveMinutes, () => (afterAskedPause(err) as ApplicationFailure).nextRetryDelay), 300_000);
    });

    it('the pause grows with the attempt, up to maximumInterval, and a longer asked pause (capped at 60 s) wins', async () => {
      const policy = { initialInterval: 1_000, backoffCoefficient: 3, maximumInterval: 20_000 };
      assert.deepEqual(await Promise.all([1, 2, 3, 4].map((n) => inActivity(n, policy, () => policyPauseMs()))), [1_000, 3_000, 9_000, 20_000]);
      const err = new HttpCallError('jira: HTTP 429', 429, true, { retryAfterMs: 120_000 });
      assert.equal(await inActivity(1, policy, () => askedRetryDelayMs(err)), 60_000);
      assert.equal(await inActivity(6, { ...policy, maximumInterval: 90_000 }, () => askedRetryDelayMs(err)), 90_000);
    });

    it("without a policy from the server, the one the activity said it runs under (a rule's retry, as the workflow builds it)", async () => {
      const err = new HttpCallError('slack webhook: HTTP 429', 429, true, { retryAfterMs: 2_000 });
      const declared = (attempt: number) =>
        inActivity(attempt, undefined, () => {
          usesRetryPauses(saasRetryPauses({ initialIntervalSeconds: 300 }));
          return askedRetryDelayMs(err);
        });
      assert.deepEqual(await Promise.all([1, 2].map(declared)), [300_000, 300_000]);
    });

    it('saasRetryPauses agrees with the activity options the workflows build', () => {
      const ms = (d: unknown) => (typeof d === 'number' ? d : Number(/^(\d+(?:\.\d+)?) seconds?$/.exec(String(d))![1]) * 1000);
      const asBuilt = (r: { initialInterval?: unknown; backoffCoefficient?: number; maximumInterval?: unknown } | undefined) => ({
        initialIntervalMs: ms(r!.initialInterval),
        backoffCoefficient: r!.backoffCoefficient,
        maximumIntervalMs: ms(r!.maximumInterval),
      });
      assert.deepEqual(saasRetryPauses(), asBuilt(externalApiOptions.retry));
      for (const retry of [undefined, { maximumAttempts: 3 }, { initialIntervalSeconds: 5, backoffCoefficient: 3 }, { initialIntervalSeconds: 0.5 }, { initialIntervalSeconds: 300 }, { initialIntervalSeconds: 3600, backoffCoefficient: 1 }]) {
        for (const type of ['notify.slack', 'workitem', 'pagerduty.note', 'notify.webhook']) {
          assert.deepEqual(saasRetryPauses(retry), asBuilt(optionsForAction(type, undefined, retry).retry), `${type} ${JSON.stringify(retry)}`);
        }
      }
    });

    it('without a policy from the server, the asked pause alone, a second at least', async () => {
      assert.equal(await inActivity(2, undefined, () => policyPauseMs()), undefined);
      assert.equal(await inActivity(2, undefined, () => askedRetryDelayMs(new HttpCallError('x', 429, true, { retryAfterMs: 0 }))), 1_000);
    });
  });

  describe('the HTTP executor and a refusal asking to wait', () => {
    let peer: HttpPeer;
    before(async () => {
      peer = await startHttpPeer([{ method: 'POST', path: /.*/, handle: () => ({ status: 200, text: 'ok' }) }]);
    });
    after(() => peer.close());
    const call = (echoBody = true) => httpRequest({ method: 'POST', url: `${peer.url}/x`, label: 'peer', body: '{}', echoBody }).then(() => assert.fail('refused'), (e: unknown) => e as HttpCallError);

    it('a 429 or 503 carries the pause it asked for; the failure waits it', async () => {
      for (const status of [429, 503]) {
        peer.failNext({ status, headers: { 'retry-after': '2' }, text: '' });
        const err = await call(false);
        assert.deepEqual([err.status, err.retryable, err.retryAfterMs], [status, true, 2_000]);
        assert.equal(askedRetryDelayMs(err), 2_000, 'outside an activity, no policy: the asked pause');
        const failure = afterAskedPause(err);
        assert.ok(failure instanceof ApplicationFailure);
        assert.equal(failure.nextRetryDelay, 2_000);
        assert.equal(failure.type, 'HttpCallError');
      }
    });

    it('a 403 that asks to wait (a rate limit) is retryable and nothing done; one that does not stays final', async () => {
      peer.failNext({ status: 403, headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.ceil(Date.now() / 1000) + 5) }, json: { message: 'API rate limit exceeded' } });
      const limited = await call();
      assert.equal(limited.retryable, true);
      assert.ok(limited.retryAfterMs! > 3_000 && limited.retryAfterMs! <= 6_000, String(limited.retryAfterMs));
      assert.equal(whatHappened(limited), 'nothing');
      peer.failNext({ status: 403, headers: { 'retry-after': '1' }, text: '' });
      const hidden = await call(false);
      assert.match(hidden.message, /^peer: HTTP 403 \(rate limited by the receiver; the answer is not recorded\)$/);
      peer.failNext({ status: 403, json: { message: 'Resource not accessible by integration' } });
      const denied = await call();
      assert.deepEqual([denied.retryable, denied.retryAfterMs], [false, undefined]);
      assert.equal(afterAskedPause(denied), denied);
    });

    it('a non-retryable refusal carries no pause, whatever it says', async () => {
      peer.failNext({ status: 400, headers: { 'retry-after': '2' }, text: '' });
      const err = await call();
      assert.deepEqual([err.retryable, err.retryAfterMs], [false, undefined]);
      assert.equal(askedRetryDelayMs(err), undefined);
    });

    it("Slack's 429 with Retry-After reaches the failure through sendSlack", async () => {
      peer.failNext({ status: 429, headers: { 'retry-after': '3' }, text: 'rate_limited' });
      const err = await sendSlack({ webhookUrl: `${peer.url}/services/T1/B2/secret`, text: 'hi' }).then(() => assert.fail('refused'), (e: unknown) => e as HttpCallError);
      assert.equal(err.retryAfterMs, 3_000);
      assert.equal((afterAskedPause(err) as ApplicationFailure).nextRetryDelay, 3_000);
    });
  });

  describe('redirectTarget', () => {
    it('names the origin only, saying the path was withheld', () => {
      assert.equal(redirectTarget(EVIL, 'https://jira.corp/rest/api/3/issue'), '"https://evil.example" (path withheld)');
      assert.equal(redirectTarget('https://u:p@evil.example:8443/', 'https://jira.corp/'), '"https://evil.example:8443" (path withheld)');
      assert.equal(redirectTarget('https://evil.example/', 'https://jira.corp/'), '"https://evil.example"');
      assert.equal(redirectTarget('/moved/x', 'https://jira.corp/a'), '"https://jira.corp" (path withheld)');
      assert.equal(redirectTarget(null, 'https://jira.corp/'), '(no Location)');
    });

    it("with words for its own host, never spells out the caller's host: not on another scheme or port, nor written with DNS's root dot", () => {
      const own = { origin: 'its own origin', host: 'its own host' };
      const hook = 'http://relay.internal/services/T/B/secret';
      assert.equal(redirectTarget('/services/T/B/new', hook, own), 'its own origin (path withheld)');
      assert.equal(redirectTarget('https://relay.internal/services/T/B/new', hook, own), 'its own host (https, port 443) (path withheld)');
      assert.equal(redirectTarget('https://relay.internal./services/T/B/new', hook, own), 'its own host (https, port 443) (path withheld)');
      assert.equal(redirectTarget('http://relay.internal.:8080/', 'http://relay.internal./x', own), 'its own host (http, port 8080)');
      assert.equal(redirectTarget('https://sso.corp/login', hook, own), '"https://sso.corp" (path withheld)');
    });

    it("the executors' and PagerDuty's errors keep nothing of the path or query", async () => {
      const peer = await startHttpPeer([
        { method: 'POST', path: /.*/, handle: () => ({ status: 302, headers: { location: EVIL }, text: '' }) },
        { method: 'GET', path: /.*/, handle: () => ({ status: 307, headers: { location: EVIL }, text: '' }) },
      ]);
      try {
        const tracker = await httpRequest({ method: 'GET', url: `${peer.url}/rest/api/3/search`, label: 'jira', redirectFix: 'set JIRA_BASE_URL to the address that answers' }).then(
          () => assert.fail('a redirect is not an answer'),
          (e: unknown) => e as HttpCallError,
        );
        assert.equal(tracker.message, 'jira: HTTP 307, redirecting to "https://evil.example" (path withheld): redirects are not followed; set JIRA_BASE_URL to the address that answers');
        const pd = await createPagerDutyClient({ baseUrl: peer.url, token: 'pd-token', fromEmail: 'a@example.com' })
          .addNote('PINC1', 'hi')
          .then(() => assert.fail('a redirect is not an answer'), (e: unknown) => e as Error);
        assert.match(pd.message, /answered 302, redirecting to "https:\/\/evil\.example" \(path withheld\): redirects are not followed, so the write was not made/);
        for (const m of [tracker.message, pd.message]) assert.doesNotMatch(m, /SECRETPART|T1\/B2|token=abc/);
      } finally {
        await peer.close();
      }
    });
  });
});
