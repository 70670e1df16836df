// PagerDuty's REST API limits requests per account and per user token, shared by every integration: a write
// answered 429 says in Retry-After when to come again. The client parsed it, but nothing used it: the rule
// run's retry came on Temporal's own schedule (the rule's 1 s here), long before PagerDuty asked, spending an
// attempt on an account still limited. The attempt now fails with the asked pause as its nextRetryDelay
// (capped at SAAS_PAUSE_CAP_SECONDS); a 503 with Retry-After likewise (its retry looks for the note first).
// A nextRetryDelay replaces the retry policy's pause for that attempt: set to the asked pause alone, a rule
// pausing longer between attempts than PagerDuty asked was retried after PagerDuty's shorter pause. It is now
// the longer of the two.
import assert from 'node:assert/strict';
import { startPagerDutyPeer, type PagerDutyPeer } from '../helpers/pagerduty-peer.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

describe('a PagerDuty write answered with Retry-After', function () {
  this.timeout(120_000);
  const PD_TOKEN = 'pd-retry-after-token';
  const ASKED_SECONDS = 3;
  let stack: Stack;
  let pd: PagerDutyPeer;

  before(async function () {
    pd = await startPagerDutyPeer({ token: PD_TOKEN });
    stack = await startStack({ env: { PAGERDUTY_API_URL: pd.url, PAGERDUTY_API_TOKEN: PD_TOKEN, PAGERDUTY_FROM_EMAIL: 'selfheal@example.com' } });
  });
  after(async function () {
    await stack?.stop();
    await pd?.close();
  });

  /** A triggered incident whose rule writes one note, retried after `pauseSeconds` (1 s) by its own policy. */
  async function noteRule(status: 429 | 503, asked = ASKED_SECONDS, pauseSeconds = 1): Promise<string> {
    const svc = newServiceId();
    await insertRule(stack.db.db, {
      name: `note-${svc.toLowerCase()}`,
      services: [svc],
      eventTypes: ['incident.triggered'],
      actions: [{ id: 'note', type: 'pagerduty.note', content: 'looking into it', retry: { maximumAttempts: 3, initialIntervalSeconds: pauseSeconds } }],
    });
    const id = newIncidentId();
    pd.seedIncident(id, { serviceId: svc, title: 'disk full' });
    pd.failNext(status, 1, { method: 'POST', pathPrefix: `/incidents/${id}/notes`, retryAfter: asked });
    const trigger = sampleFor('v3-incident.triggered-01.json', id, { occurredAt: new Date().toISOString(), data: { title: 'disk full', service: { id: svc, type: 'service_reference', summary: 's' } } });
    assert.equal((await stack.deliver(trigger)).status, 202);
    await eventually(async () => pd.notes(id).some((n) => n.content.includes('looking into it')), 60_000, 'the note written');
    return id;
  }

  /** The incident's note requests after the refused one, and how long after it each arrived. */
  function afterRefusal(id: string, status: number) {
    const calls = pd.requests.filter((r) => r.path === `/incidents/${id}/notes`);
    const refused = calls.findIndex((r) => r.status === status);
    assert.ok(refused >= 0, `a note request was answered ${status}`);
    return calls.slice(refused + 1).map((r) => ({ method: r.method, status: r.status, afterMs: r.at - calls[refused]!.at }));
  }

  it('429 Retry-After 3: the retry reaches PagerDuty not before 3 s, and the note is written once', async function () {
    const id = await noteRule(429);
    const next = afterRefusal(id, 429);
    assert.ok(next.length > 0, 'the note was tried again');
    assert.ok(next[0]!.afterMs >= ASKED_SECONDS * 1000, `the retry came ${next[0]!.afterMs} ms after the 429 that asked for ${ASKED_SECONDS} s`);
    assert.equal(pd.notes(id).filter((n) => n.content.includes('looking into it')).length, 1);
  });

  it('503 Retry-After 3: the retry (it looks for the note first) reaches PagerDuty not before 3 s, and the note is written once', async function () {
    const id = await noteRule(503);
    const next = afterRefusal(id, 503);
    assert.ok(next.length > 0, 'the note was looked for and written again');
    assert.ok(next[0]!.afterMs >= ASKED_SECONDS * 1000, `the retry came ${next[0]!.afterMs} ms after the 503 that asked for ${ASKED_SECONDS} s`);
    assert.equal(pd.notes(id).filter((n) => n.content.includes('looking into it')).length, 1);
  });

  it("429 Retry-After 1 on a rule pausing 4 s: the retry waits the rule's 4 s, not PagerDuty's 1 s", async function () {
    const id = await noteRule(429, 1, 4);
    const next = afterRefusal(id, 429);
    assert.ok(next.length > 0, 'the note was tried again');
    assert.ok(next[0]!.afterMs >= 4_000, `the retry came ${next[0]!.afterMs} ms after the 429; the rule pauses 4 s between attempts`);
    assert.equal(pd.notes(id).filter((n) => n.content.includes('looking into it')).length, 1);
  });
});
