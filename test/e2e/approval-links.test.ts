import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { startHttpPeer, startSlackPeer, type HttpPeer, type SlackPeer } from '../helpers/http-peer.js';
import { startSmtpPeer, type SmtpPeer } from '../helpers/smtp-peer.js';
import type { RuleInputDocument } from '../../src/domain/rules/schema.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, issueToken, startStack, type Stack } from '../helpers/stack.js';

// Approvals where people are: the rule's Slack channel and mailbox receive approve and reject links; a link
// needs an authenticated approver other than the rule's author, decides its own action once, and stops
// working when it expires. Asserted at the peers (the message, the gated webhook) and at the API's door.
/** The text of a quoted-printable body (soft line breaks joined, =XX decoded). */
const quotedPrintable = (body: string) => body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));

describe('approval by link end to end', function () {
  const PUBLIC_URL = 'https://selfheal.example.com';
  let stack: Stack;
  let slack: SlackPeer;
  let hook: HttpPeer;
  let smtp: SmtpPeer;
  let alice: string;
  let bob: string;

  before(async function () {
    slack = await startSlackPeer();
    hook = await startHttpPeer([{ method: 'POST', path: /^\/hook\/(?<name>[a-z0-9-]+)$/, handle: () => ({ status: 204 }) }]);
    smtp = await startSmtpPeer();
    process.env.SELFHEAL_SECRET_TEST_LINKS_SLACK = slack.webhookUrl;
    stack = await startStack({
      env: {
        ACTION_EGRESS_ALLOW: '127.0.0.1/32',
        SELFHEAL_PUBLIC_URL: PUBLIC_URL,
        SELFHEAL_APPROVAL_LINK_TTL_MINUTES: '15',
        SMTP_URL: `smtp://${smtp.host}:${smtp.port}?plaintext=true`,
        SMTP_FROM: 'selfheal@example.com',
      },
      extractors: { extractors: [{ type: 'regex', source: 'title', pattern: '^\\[(?<host>[a-z0-9-]+)\\]' }] },
    });
    alice = await issueToken(stack, 'alice', ['write']);
    bob = await issueToken(stack, 'bob', ['write']);
  });
  after(async function () {
    await stack?.stop();
    await Promise.all([slack?.close(), hook?.close(), smtp?.close()]);
    delete process.env.SELFHEAL_SECRET_TEST_LINKS_SLACK;
  });

  const hits = (name: string) => hook.requests.filter((r) => r.path === `/hook/${name}`).length;
  const runsOf = (id: string) => stack.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).orderBy('action_index').execute();

  /** A gated rule written by alice, an incident for it, and the links Slack received for its waiting action. */
  async function waitingWithLinks(name: string) {
    const svc = newServiceId();
    const doc = {
      name: `${name}-${randomUUID().slice(0, 6)}`,
      services: [svc],
      actions: [
        { id: 'fix', type: 'notify.webhook', url: `${hook.url}/hook/${name}`, body: '{}', approval: { required: true, timeoutMinutes: 120, onTimeout: 'reject' } },
        { id: 'chat', type: 'notify.slack', webhookUrlRef: 'env:SELFHEAL_SECRET_TEST_LINKS_SLACK', text: 'done', when: 'always' },
        { id: 'mail', type: 'notify.email', to: [`oncall-${name}@example.com`], subject: 'done', body: 'done', when: 'always' },
      ],
    } as RuleInputDocument;
    const ruleId = await insertRule(stack.db.db, doc, { author: 'token:alice' });
    const id = newIncidentId();
    const res = await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { title: '[db-1] replica lag', service: { id: svc, type: 'service_reference', summary: 's' } } }));
    assert.equal(res.status, 202);
    const run = await eventually(async () => (await runsOf(id)).find((r) => r.status === 'awaiting_approval'), 30_000, `an action of ${id} awaiting approval`);
    const message = await eventually(async () => slack.messages.find((m) => m.text.startsWith('[self-healing] Approval needed') && m.text.includes(id)), 30_000, 'the approval request in Slack');
    const link = (verb: string) => {
      const m = new RegExp(`${verb}: (\\S+)`).exec(message.text);
      assert.ok(m, `the Slack message carries a ${verb} link: ${message.text}`);
      // Slack reads &, < and > as control characters and asks for them as entities; it decodes them for the
      // reader and the link alike, as this does.
      assert.doesNotMatch(m[1]!, /&(?!amp;|lt;|gt;)/, `a bare & in the Slack text: ${m[1]}`);
      const url = new URL(m[1]!.replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&amp;', '&'));
      assert.equal(url.origin, PUBLIC_URL);
      return { path: `${url.pathname}${url.search}`, action: url.searchParams.get('action')!, token: url.searchParams.get('token')! };
    };
    return { id, run, message, ruleId, doc, approve: link('Approve'), reject: link('Reject') };
  }
  const follow = (path: string, token?: string) => stack.app.request(path, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  const decide = (l: { action: string; token: string }, token?: string) =>
    stack.app.request('/approvals/link', { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify({ action: l.action, token: l.token }) });

  it('Slack and email carry the links; the link approves once for someone signed in who is not the author; the action runs at its peer; a second use is refused', async function () {
    const { id, run, approve, reject } = await waitingWithLinks('link-ok');
    assert.equal(approve.action, run.id, 'the link is bound to the waiting action');
    assert.notEqual(approve.token, reject.token);
    assert.match(approve.token, /^[A-Za-z0-9_-]{43}$/, '256 random bits, base64url');
    await eventually(
      async () => smtp.messages.some((m) => m.envelope.to.includes('oncall-link-ok@example.com') && quotedPrintable(m.body).includes(`Approve: ${PUBLIC_URL}/approvals/link?action=`) && /Reject: /.test(quotedPrintable(m.body))),
      30_000,
      'the approval request by email, with its own links',
    );
    // Only the hashes are stored.
    const stored = await stack.db.db.selectFrom('approval_links').selectAll().where('action_run_id', '=', run.id).execute();
    assert.ok(stored.length >= 4, 'an approve and a reject link per channel');
    assert.ok(stored.some((r) => r.token_hash === createHash('sha256').update(approve.token).digest('hex') && r.decision === 'approve'));
    assert.ok(!JSON.stringify(stored).includes(approve.token), 'the token itself is not in the database');

    // Not signed in: refused, and nothing decided.
    const anonymous = await follow(approve.path);
    assert.equal(anonymous.status, 401);
    assert.match(await anonymous.text(), /Sign in/);
    assert.equal((await decide(approve)).status, 401);
    // The author of the rule may not approve it through a link either.
    assert.equal((await follow(approve.path, alice)).status, 403);
    const own = await decide(approve, alice);
    assert.equal(own.status, 403);
    assert.match(((await own.json()) as { detail: string }).detail, /token:alice wrote version 1/);
    assert.equal((await runsOf(id))[0]!.approval, null, 'nothing recorded yet');
    assert.equal(hits('link-ok'), 0);

    // The confirmation page decides nothing; it shows what the link does.
    const page = await follow(approve.path, bob);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
    const text = await page.text();
    assert.match(text, /about to <strong>approve<\/strong> action <code>fix<\/code>/);
    assert.match(text, /<form method="post" action="\/approvals\/link">/);
    assert.equal((await runsOf(id))[0]!.approval, null, 'a GET decides nothing');

    const res = await decide(approve, bob);
    assert.equal(res.status, 202, await res.clone().text());
    assert.deepEqual(await res.json(), { actionRunId: run.id, decision: 'approve', actor: 'token:bob', delivered: true });
    await eventually(async () => (await runsOf(id))[0]?.status === 'succeeded', 30_000, 'the approved action to run');
    assert.equal(hits('link-ok'), 1, 'the gated action ran once at its peer');
    const approval = (await runsOf(id))[0]!.approval as { actor: string; decision: string; via: string };
    assert.deepEqual([approval.actor, approval.decision, approval.via], ['token:bob', 'approve', 'link']);

    const again = await decide(approve, bob);
    assert.equal(again.status, 410, 'a second use of the link is refused');
    assert.equal(again.headers.get('content-type'), 'application/problem+json');
    assert.match(((await again.json()) as { detail: string }).detail, /already used \(by token:bob/);
    assert.equal((await follow(approve.path, bob)).status, 410);
    const rejectLate = await decide(reject, bob);
    assert.equal(rejectLate.status, 409, 'the other link of the decided action is too late');
    assert.equal(hits('link-ok'), 1);
    const audit = await stack.db.db.selectFrom('audit_log').select(['actor', 'action']).where('entity_id', '=', run.id).execute();
    assert.deepEqual(audit, [{ actor: 'token:bob', action: 'approval.approve' }]);
  });

  it('an expired link is refused, and a link never decides another action', async function () {
    const first = await waitingWithLinks('link-expired');
    const second = await waitingWithLinks('link-other');
    await stack.db.db.updateTable('approval_links').set({ expires_at: new Date(Date.now() - 1000) }).where('action_run_id', '=', first.run.id).execute();
    const expired = await decide(first.approve, bob);
    assert.equal(expired.status, 410, await expired.clone().text());
    assert.match(((await expired.json()) as { detail: string }).detail, /expired at/);
    assert.equal((await follow(first.approve.path, bob)).status, 410);

    // The second action's token presented for the first action (and the other way round).
    const crossed = await decide({ action: first.run.id, token: second.approve.token }, bob);
    assert.equal(crossed.status, 403);
    assert.match(((await crossed.json()) as { detail: string }).detail, /another action/);
    assert.equal((await decide({ action: second.run.id, token: 'A'.repeat(43) }, bob)).status, 404, 'a made-up token');

    await new Promise((r) => setTimeout(r, 1000));
    assert.equal((await runsOf(first.id))[0]!.status, 'awaiting_approval', 'still waiting: nothing was decided');
    assert.equal((await runsOf(second.id))[0]!.status, 'awaiting_approval');
    assert.equal(hits('link-expired') + hits('link-other'), 0);

    // The second action's own reject link still works.
    assert.equal((await decide(second.reject, bob)).status, 202);
    await eventually(async () => (await runsOf(second.id))[0]?.status === 'rejected', 30_000, 'rejected by link');
    assert.equal(hits('link-other'), 0);
  });

  // Before, the page checked only that the action still waited: it said "you are about to approve" with a
  // button, and the button's POST was refused 409. Now the page refuses what the POST would, in its words.
  it('the confirmation page refuses what the POST would (the rule disabled, the deadline passed): 409, the same words, no form; the link stays unused and a reject link still works', async function () {
    const escaped = (t: string) => t.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;').replaceAll("'", '&#39;');
    const unused = async (runId: string) => (await stack.db.db.selectFrom('approval_links').select('id').where('action_run_id', '=', runId).where('used_at', 'is not', null).execute()).length === 0;
    /** The page of `path`: refused 409 with the POST's detail, and nothing to press. */
    const refusedPage = async (path: string, detail: string) => {
      const page = await follow(path, bob);
      const html = await page.text();
      assert.equal(page.status, 409, html);
      assert.equal(page.headers.get('content-type')?.split(';')[0], 'text/html');
      assert.ok(html.includes(`<p>${escaped(detail)}</p>`), `the POST's words (${detail}) on the page: ${html}`);
      assert.doesNotMatch(html, /<form|<button|about to/, 'no form, no button, no promise');
    };

    // An admin disables the rule while its action waits: approving is refused, rejecting is not.
    const disabled = await waitingWithLinks('link-disabled');
    const put = await stack.api(`/api/rules/${disabled.ruleId}`, { method: 'PUT', headers: { 'if-match': '"1"' }, body: JSON.stringify({ ...disabled.doc, enabled: false }) });
    assert.equal(put.status, 200, await put.clone().text());
    const approve = await decide(disabled.approve, bob);
    assert.equal(approve.status, 409);
    const { detail } = (await approve.json()) as { detail: string };
    assert.match(detail, new RegExp(`^rule ${disabled.ruleId} was disabled after version 1 planned action run .*: it can no longer be approved`));
    await refusedPage(disabled.approve.path, detail);
    assert.ok(await unused(disabled.run.id), 'neither link was used');
    const rejectPage = await follow(disabled.reject.path, bob);
    assert.equal(rejectPage.status, 200, 'the reject link still offers its decision');
    assert.match(await rejectPage.text(), /about to <strong>reject<\/strong>[\s\S]*<form method="post" action="\/approvals\/link">/);
    assert.equal((await decide(disabled.reject, bob)).status, 202);
    await eventually(async () => (await runsOf(disabled.id))[0]?.status === 'rejected', 30_000, 'rejected by link');

    // The deadline passed, the rule run not woken yet (workers behind): neither decision is taken any more.
    const late = await waitingWithLinks('link-deadline');
    await stack.db.db.updateTable('action_runs').set({ approval_deadline: new Date(Date.now() - 1000) }).where('id', '=', late.run.id).execute();
    for (const l of [late.approve, late.reject]) {
      const res = await decide(l, bob);
      assert.equal(res.status, 409);
      const refused = ((await res.json()) as { detail: string }).detail;
      assert.match(refused, /^the approval of action run .* expired at .*: it can no longer be approved or rejected; its rule says onTimeout: reject/);
      await refusedPage(l.path, refused);
    }
    assert.ok(await unused(late.run.id), 'neither link was used');
    assert.equal((await runsOf(late.id))[0]!.approval, null, 'nothing recorded');
    assert.equal(hits('link-disabled') + hits('link-deadline'), 0);
  });
});
