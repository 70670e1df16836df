import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import type { Worker } from '@temporalio/worker';
import { createLogger } from '../../src/logger.js';
import { buildMainWorker } from '../../src/worker.js';
import { startHttpPeer, startSlackPeer, type HttpPeer, type SlackPeer } from '../helpers/http-peer.js';
import { startSmtpPeer, type SmtpPeer } from '../helpers/smtp-peer.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, issueToken, startStack, type Stack } from '../helpers/stack.js';

// How long an approval link works (docs/security.md "Approval links": "it stops working after
// SELFHEAL_APPROVAL_LINK_TTL_MINUTES (60 by default) and never outlives the approval's deadline; past that,
// 410"; README "Approvals"). The stored expiry is what the API compares with, and the message at the peer
// tells the approver until when the link works: both are checked, against a TTL shorter than the deadline
// and a deadline shorter than the TTL. Past the deadline a link is refused 410 as expired, the action still
// waiting in Postgres (the workers down, so nothing else decided it), and the action never reaches its peer.

const PUBLIC_URL = 'https://selfheal.example.com';
const MINUTE = 60_000;
/** The text of a quoted-printable body (soft line breaks joined, =XX decoded). */
const quotedPrintable = (body: string) => body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

interface Peers {
  slack: SlackPeer;
  smtp: SmtpPeer;
  hook: HttpPeer;
}

/** What one channel's message says: its links' tokens and the time it says they work until. */
function linksIn(text: string, what: string) {
  const approve = /Approve: (\S+)/.exec(text)?.[1];
  const reject = /Reject: (\S+)/.exec(text)?.[1];
  const until = /each link works once, until (\S+),/.exec(text)?.[1];
  assert.ok(approve && reject && until, `${what} carries both links and until when they work: ${text}`);
  const parse = (u: string) => new URL(u.replaceAll('&amp;', '&'));
  const a = parse(approve);
  return { approve: { path: `${a.pathname}${a.search}`, action: a.searchParams.get('action')!, token: a.searchParams.get('token')! }, reject: { token: parse(reject).searchParams.get('token')! }, until };
}

async function startPeers(): Promise<Peers> {
  return {
    slack: await startSlackPeer(),
    smtp: await startSmtpPeer(),
    hook: await startHttpPeer([{ method: 'POST', path: /^\/hook\/(?<name>[a-z0-9-]+)$/, handle: () => ({ status: 204 }) }]),
  };
}

async function stackWith(peers: Peers, ttlMinutes: number): Promise<Stack> {
  return startStack({
    env: {
      ACTION_EGRESS_ALLOW: '127.0.0.1/32',
      SELFHEAL_PUBLIC_URL: PUBLIC_URL,
      SELFHEAL_APPROVAL_LINK_TTL_MINUTES: String(ttlMinutes),
      SMTP_URL: `smtp://${peers.smtp.host}:${peers.smtp.port}?plaintext=true`,
      SMTP_FROM: 'selfheal@example.com',
    },
  });
}

/** A gated webhook (its rule written by alice) announced in Slack and by email; the messages and stored links once both arrived. */
async function waiting(stack: Stack, peers: Peers, slackEnv: string, name: string, timeoutMinutes: number) {
  const svc = newServiceId();
  await insertRule(
    stack.db.db,
    {
      name: `${name}-${randomUUID().slice(0, 6)}`,
      services: [svc],
      actions: [
        { id: 'fix', type: 'notify.webhook', url: `${peers.hook.url}/hook/${name}`, body: '{}', approval: { required: true, timeoutMinutes, onTimeout: 'reject' } },
        { id: 'chat', type: 'notify.slack', webhookUrlRef: `env:${slackEnv}`, text: 'done', when: 'always' },
        { id: 'mail', type: 'notify.email', to: [`oncall-${name}@example.com`], subject: 'done', body: 'done', when: 'always' },
      ],
    },
    { author: 'token:alice' },
  );
  const id = newIncidentId();
  const sentFrom = Date.now();
  assert.equal((await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { title: 'replica lag', service: { id: svc, type: 'service_reference', summary: 's' } } }))).status, 202);
  const slackText = (await eventually(async () => peers.slack.messages.find((m) => m.text.startsWith('[self-healing] Approval needed') && m.text.includes(id)), 60_000, 'the approval request in Slack')).text;
  const mail = await eventually(async () => peers.smtp.messages.find((m) => m.envelope.to.includes(`oncall-${name}@example.com`) && quotedPrintable(m.body).includes('Approve: ')), 60_000, 'the approval request by email');
  const sentUntil = Date.now();
  const run = await stack.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).where('action_id', '=', 'fix').executeTakeFirstOrThrow();
  const stored = await stack.db.db.selectFrom('approval_links').selectAll().where('action_run_id', '=', run.id).execute();
  return { id, run, stored, slack: linksIn(slackText, 'the Slack message'), email: linksIn(quotedPrintable(mail.body), 'the email'), sentFrom, sentUntil };
}

/** The stored link whose hash is the token's. */
function rowOf<T extends { token_hash: string }>(rows: T[], token: string): T {
  const row = rows.find((r) => r.token_hash === sha256(token));
  assert.ok(row, 'the token has a stored link');
  return row;
}

describe('approval link lifetime', function () {
  this.timeout(300_000);

  describe('SELFHEAL_APPROVAL_LINK_TTL_MINUTES shorter than the approval deadline', function () {
    let peers: Peers;
    let stack: Stack;
    const SLACK_ENV = 'SELFHEAL_SECRET_TEST_LIFETIME_SLACK_A';
    before(async function () {
      peers = await startPeers();
      process.env[SLACK_ENV] = peers.slack.webhookUrl;
      stack = await stackWith(peers, 15);
    });
    after(async function () {
      await stack?.stop();
      await Promise.all([peers?.slack.close(), peers?.smtp.close(), peers?.hook.close()]);
      delete process.env[SLACK_ENV];
    });

    it('TTL 15 min, deadline 120 min: every link expires 15 min after it was sent, as its message says, long before the deadline', async function () {
      const w = await waiting(stack, peers, SLACK_ENV, 'ttl-short', 120);
      assert.equal(w.stored.length, 4, 'an approve and a reject link per channel');
      for (const [channel, links] of [['slack', w.slack], ['email', w.email]] as const) {
        for (const token of [links.approve.token, links.reject.token]) {
          const expires = rowOf(w.stored, token).expires_at.getTime();
          assert.equal(new Date(expires).toISOString(), links.until, `${channel}: the message says until when its links work, and that is the stored expiry`);
          // Minted between the delivery and the message's arrival (a second's slack for the clocks).
          assert.ok(expires >= w.sentFrom + 15 * MINUTE - 1000 && expires <= w.sentUntil + 15 * MINUTE + 1000, `${channel}: expires ${new Date(expires).toISOString()}, sent between ${new Date(w.sentFrom).toISOString()} and ${new Date(w.sentUntil).toISOString()}`);
        }
      }
      const deadline = w.run.approval_deadline!.getTime();
      assert.ok(deadline - w.sentFrom > 119 * MINUTE, `the approval's deadline is 120 min away (${w.run.approval_deadline!.toISOString()})`);
      for (const r of w.stored) assert.ok(r.expires_at.getTime() < deadline - 100 * MINUTE, 'the TTL, not the deadline, ends the link');
    });
  });

  describe('an approval deadline shorter than SELFHEAL_APPROVAL_LINK_TTL_MINUTES', function () {
    let peers: Peers;
    let stack: Stack;
    let bob: string;
    let restarted: { worker: Worker; running: Promise<void> } | undefined;
    const SLACK_ENV = 'SELFHEAL_SECRET_TEST_LIFETIME_SLACK_B';
    before(async function () {
      peers = await startPeers();
      process.env[SLACK_ENV] = peers.slack.webhookUrl;
      stack = await stackWith(peers, 60);
      bob = await issueToken(stack, 'bob', ['write']);
    });
    after(async function () {
      if (restarted?.worker.getState() === 'RUNNING') restarted.worker.shutdown();
      await restarted?.running.catch(() => undefined);
      await stack?.stop();
      await Promise.all([peers?.slack.close(), peers?.smtp.close(), peers?.hook.close()]);
      delete process.env[SLACK_ENV];
    });

    it('TTL 60 min, deadline 1 min: the links expire at the deadline; past it a link is 410 (expired), not 409, and the action never reaches its peer', async function () {
      const w = await waiting(stack, peers, SLACK_ENV, 'ttl-long', 1);
      assert.equal(w.stored.length, 4);
      const expiries = new Set(w.stored.map((r) => r.expires_at.toISOString()));
      assert.equal(expiries.size, 1, `every link of the action ends at the same instant, the deadline: ${[...expiries].join(', ')}`);
      const expires = w.stored[0]!.expires_at.getTime();
      assert.equal(w.slack.until, w.stored[0]!.expires_at.toISOString(), 'Slack says the deadline');
      assert.equal(w.email.until, w.stored[0]!.expires_at.toISOString(), 'the email says the deadline');
      // The deadline the rule run announced (workflow time) and the one Postgres keeps (set as the run was
      // claimed, just before) are the same minute from the claim, apart by the claim's round trip.
      const deadline = w.run.approval_deadline!.getTime();
      assert.ok(Math.abs(expires - deadline) < 2000, `links end at the approval's deadline: ${new Date(expires).toISOString()} vs ${w.run.approval_deadline!.toISOString()}`);
      assert.ok(expires <= w.sentUntil + MINUTE + 1000, 'one minute, not the TTL of an hour');

      // Before the deadline the link would still decide: its page offers the approval.
      const page = await stack.app.request(w.slack.approve.path, { headers: { authorization: `Bearer ${bob}` } });
      assert.equal(page.status, 200, await page.clone().text());

      // Every worker goes down before the deadline, so nothing records the timeout: the action still waits
      // in Postgres when the link is followed, and only the link's own expiry can refuse it.
      stack.worker.shutdown();
      await eventually(async () => stack.worker.getState() === 'STOPPED', 60_000, 'the worker stopped');
      await new Promise((r) => setTimeout(r, Math.max(0, Math.max(expires, deadline) - Date.now()) + 1500));
      const waitingRun = await stack.db.db.selectFrom('action_runs').select(['status', 'approval']).where('id', '=', w.run.id).executeTakeFirstOrThrow();
      assert.deepEqual(waitingRun, { status: 'awaiting_approval', approval: null }, 'nothing decided it yet');

      for (const l of [w.slack.approve, w.email.approve]) {
        const followed = await stack.app.request(l.path, { headers: { authorization: `Bearer ${bob}` } });
        assert.equal(followed.status, 410, `the page of an expired link: ${await followed.clone().text()}`);
        const posted = await stack.app.request('/approvals/link', { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${bob}` }, body: JSON.stringify({ action: l.action, token: l.token }) });
        const text = await posted.text();
        assert.equal(posted.status, 410, `an expired link is gone (410), not a conflict (409): ${text}`);
        assert.match((JSON.parse(text) as { detail: string }).detail, /expired at/);
      }
      const used = await stack.db.db.selectFrom('approval_links').select('id').where('action_run_id', '=', w.run.id).where('used_at', 'is not', null).execute();
      assert.equal(used.length, 0, 'no link was used');

      // The workers come back: the run records its onTimeout (reject), and the action never runs.
      const worker = await buildMainWorker({ config: stack.config, db: stack.db.db, logger: createLogger({ level: 'silent' }), connection: stack.temporal.nativeConnection, extractors: {} });
      restarted = { worker, running: worker.run() };
      const settled = await eventually(
        async () => {
          const r = await stack.db.db.selectFrom('action_runs').select(['status', 'approval']).where('id', '=', w.run.id).executeTakeFirstOrThrow();
          return r.status === 'rejected' ? r : undefined;
        },
        60_000,
        'the run to record its onTimeout',
      );
      assert.equal((settled.approval as { actor: string }).actor, 'timeout', 'rejected by the deadline, not by a link');
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(peers.hook.requests.filter((r) => r.path === '/hook/ttl-long').length, 0, 'the gated action never reached its peer');
    });
  });
});
