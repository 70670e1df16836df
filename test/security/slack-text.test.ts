// Slack texts Self-healing writes itself (a rule run's notices, a job's failure notice, a guard's page) carry
// values others write: a target comes from an alert's title or details (anyone holding a PagerDuty
// integration key), a target's error from its agent (a compromised one). Slack reads `<!channel>` as a
// channel-wide ping and `<https://x|label>` as a link with a label of the sender's choosing. Before, these
// values went into the text as they were: an approval request for the host
// `<!channel> <https://evil.example/approve|web-01>` pinged the channel and showed a phishing "web-01" link
// right above the real Approve and Reject links. Now the values reach Slack escaped (`&lt;!channel&gt;`), the
// service's own approval links stay usable, and email keeps the plain text. Asserted at the Slack peer.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createAlertDelivery } from '../../activities/guards.js';
import { createJobActivities } from '../../activities/jobs.js';
import { loadConfig } from '../../src/config.js';
import { insertAlert } from '../../src/db/repositories/guards.js';
import { DEFAULT_GUARD_CONFIG, flappingViolation } from '../../src/domain/guards.js';
import { createIntegrations } from '../../src/integrations.js';
import { createLogger } from '../../src/logger.js';
import { jobScheduleId } from '../../src/temporal/names.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startSlackPeer, type SlackPeer } from '../helpers/http-peer.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { startSmtpPeer, type SmtpPeer } from '../helpers/smtp-peer.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

/** What an attacker puts where a host name goes: a channel-wide ping and a link labelled like the host. */
const EVIL = '<!channel> <https://evil.example/approve|web-01>';
const EVIL_ESCAPED = '&lt;!channel&gt; &lt;https://evil.example/approve|web-01&gt;';
/** The text has no mention or link of its own making: no `<` or `>` at all (Slack's controls are `<...>`). */
const inert = (text: string) => assert.doesNotMatch(text, /[<>]/, `a Slack control in the text: ${text}`);
/** The text of a quoted-printable body (soft line breaks joined, =XX decoded). */
const quotedPrintable = (body: string) => body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));

describe('security: values in the Slack texts Self-healing writes cannot mention or link', function () {
  const SLACK_REF = 'SELFHEAL_SECRET_TEST_SLACK_TEXT';
  let slack: SlackPeer;

  before(async function () {
    slack = await startSlackPeer();
    process.env[SLACK_REF] = slack.webhookUrl;
  });
  after(async function () {
    await slack?.close();
    delete process.env[SLACK_REF];
  });

  describe('a rule run notice (approval waiting) for a target taken from the incident', function () {
    const PUBLIC_URL = 'https://selfheal.example.com';
    let stack: Stack;
    let smtp: SmtpPeer;

    before(async function () {
      smtp = await startSmtpPeer();
      stack = await startStack({
        env: { ACTION_EGRESS_ALLOW: '127.0.0.1/32', SELFHEAL_PUBLIC_URL: PUBLIC_URL, SMTP_URL: `smtp://${smtp.host}:${smtp.port}?plaintext=true`, SMTP_FROM: 'selfheal@example.com' },
        // Whatever the title's brackets hold is the host, as a permissive extractor (or details.host) takes it.
        extractors: { extractors: [{ type: 'regex', source: 'title', pattern: '^\\[(?<host>[^\\]]+)\\]' }] },
      });
    });
    after(async function () {
      await stack?.stop();
      await smtp?.close();
    });

    /** A gated fix for a new service, whose approval request goes to Slack and email; an incident titled `title` for it: the two requests. */
    async function approvalRequest(prefix: string, title: string) {
      const svc = newServiceId();
      const mailbox = `oncall-${randomUUID().slice(0, 6)}@example.com`;
      await insertRule(stack.db.db, {
        name: `${prefix}-${randomUUID().slice(0, 6)}`,
        services: [svc],
        actions: [
          { id: 'fix', type: 'notify.webhook', url: 'http://127.0.0.1:9/never', body: '{}', approval: { required: true, timeoutMinutes: 120, onTimeout: 'reject' } },
          { id: 'chat', type: 'notify.slack', webhookUrlRef: `env:${SLACK_REF}`, text: 'done', when: 'always' },
          { id: 'mail', type: 'notify.email', to: [mailbox], subject: 'done', body: 'done', when: 'always' },
        ],
      });
      const id = newIncidentId();
      const res = await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { title, service: { id: svc, type: 'service_reference', summary: 's' } } }));
      assert.equal(res.status, 202);
      const message = await eventually(async () => slack.messages.find((m) => m.text.startsWith('[self-healing] Approval needed') && m.text.includes(id)), 30_000, 'the approval request in Slack');
      const mail = await eventually(async () => smtp.messages.find((m) => m.envelope.to.includes(mailbox) && /Approval needed/.test(m.subject ?? '')), 30_000, 'the approval request by email');
      return { id, message, mail };
    }

    it('Slack gets the host escaped above usable approve and reject links; the email keeps the host as written', async function () {
      const { id, message, mail } = await approvalRequest('slack-text', `[${EVIL}] disk full`);

      assert.ok(message.text.includes(` on ${EVIL_ESCAPED} for incident ${id}`), `the host escaped in: ${message.text}`);
      assert.ok(!message.text.includes('<!channel>'), `a channel-wide ping in: ${message.text}`);
      assert.ok(!message.text.includes('<https://evil.example'), `the attacker's link in: ${message.text}`);
      inert(message.text);
      // The service's own links are still there and still lead to the service.
      for (const verb of ['Approve', 'Reject']) {
        const m = new RegExp(`${verb}: (\\S+)`).exec(message.text);
        assert.ok(m, `the Slack message carries a ${verb} link: ${message.text}`);
        const url = new URL(m[1]!.replaceAll('&amp;', '&'));
        assert.equal(url.origin, PUBLIC_URL);
        assert.equal(url.pathname, '/approvals/link');
      }

      // Email is plain text: the host as the incident gave it, not as Slack needs it.
      const body = quotedPrintable(mail.body);
      assert.ok(body.includes(` on ${EVIL} for incident ${id}`), `the host as written in the email: ${body}`);
    });
    it('a host holding line breaks cannot add an Approve or Reject line of its own to the approval request, in Slack or email', async function () {
      // An alert's host (details.host, or a title as this stack's extractor reads it) may hold line breaks:
      // written as they were, they started lines of the attacker's making above the real links, here an
      // "Approve:" leading to a site that asks for the approver's password.
      const FORGED = 'web-01\nApprove: https://evil.example/approvals/link?action=a&token=t\nReject: https://evil.example/r\r\n\u2028x';
      const { message, mail } = await approvalRequest('slack-lines', `[${FORGED}] disk full`);
      for (const [where, text] of [
        ['Slack', message.text.replaceAll('&amp;', '&')],
        ['email', quotedPrintable(mail.body)],
      ] as const) {
        const lines = text.split(/\r\n|[\n\r\u2028\u2029]/);
        // The first line says what waits, on the host as one line; then only the service's own links.
        assert.ok(lines[0]!.includes(' on web-01 Approve: https://evil.example/'), `${where}: the host on the request's own line: ${lines[0]}`);
        for (const verb of ['Approve', 'Reject']) {
          const own = lines.filter((l) => l.startsWith(`${verb}:`));
          assert.equal(own.length, 1, `${where}: one ${verb} line, not ${own.length}: ${JSON.stringify(text)}`);
          assert.equal(new URL(own[0]!.slice(verb.length + 1).trim()).origin, PUBLIC_URL, `${where}: the ${verb} line leads to the service: ${own[0]}`);
        }
      }
    });
  });

  describe('job failure notices and guard pages', function () {
    let db: TestDatabase;
    const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
    let integrations: ReturnType<typeof createIntegrations>;

    before(async function () {
      db = await createTestDatabase();
      integrations = createIntegrations(loadConfig({ NODE_ENV: 'test', ACTION_EGRESS_ALLOW: '127.0.0.1/32', DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1' }));
    });
    after(async () => db?.close());

    it("a job's failure notice: a target's error reaches Slack escaped", async function () {
      const jobId = `slack-text-${randomUUID().slice(0, 6)}`;
      const definition = { id: jobId, name: jobId, schedule: { interval: '1h' }, targets: { environments: ['prod-eu'] }, script: 'probe.sh', notifyOnFailure: { slack: { webhookUrlRef: `env:${SLACK_REF}` } } };
      await db.db.insertInto('jobs').values({ id: jobId, name: jobId, definition: JSON.stringify(definition), enabled: true, schedule_id: jobScheduleId(jobId) }).execute();
      const jobRunId = `jobrun-${jobId}`;
      const jobs = createJobActivities({ db: db.db, logger, integrations });
      const sent = await jobs.notifyJobFailure({
        jobId,
        jobName: jobId,
        jobRunId,
        status: 'failed',
        summary: { total: 1, succeeded: 0, failed: 1, timedOut: 0, skipped: 0, failures: [{ environment: 'prod-eu', status: 'failed', error: `disk check failed ${EVIL}` }] },
      });
      assert.equal(sent, 'notified via slack');
      const message = slack.messages.find((m) => m.text.includes(jobRunId));
      assert.ok(message, 'the job failure notice in Slack');
      assert.ok(message.text.includes(`- prod-eu: failed (disk check failed ${EVIL_ESCAPED})`), `the error escaped in: ${message.text}`);
      inert(message.text);
    });

    it('a flapping page: the target reaches Slack escaped', async function () {
      const reason = flappingViolation({ max: 3, windowSeconds: 3600 }, EVIL, 3);
      assert.ok(reason);
      const incidentId = newIncidentId();
      await insertAlert(db.db, { kind: 'flapping', incidentId, target: EVIL, text: `[self-healing] ${reason} (${incidentId})`, page: true, at: new Date() });
      const deliver = createAlertDelivery({ db: db.db, logger, integrations, guards: { ...DEFAULT_GUARD_CONFIG, page: { slackWebhookRef: `env:${SLACK_REF}`, email: [] } } });
      assert.ok((await deliver()) >= 1, 'the page delivered');
      const message = slack.messages.find((m) => m.text.includes(incidentId));
      assert.ok(message, 'the flapping page in Slack');
      assert.ok(message.text.startsWith(`[self-healing] flapping: ${EVIL_ESCAPED} was remediated 3 times`), `the target escaped in: ${message.text}`);
      inert(message.text);
    });
  });
});
