import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type { PlannedAction, RunActionInput } from '../../activities/types.js';
import { EmailSendError } from '../../src/executors/errors.js';
import { sendEmail } from '../../src/executors/notify.js';
import { createAlertDelivery } from '../../activities/guards.js';
import { createJobActivities } from '../../activities/jobs.js';
import { loadConfig } from '../../src/config.js';
import { insertAlert } from '../../src/db/repositories/guards.js';
import { DEFAULT_GUARD_CONFIG } from '../../src/domain/guards.js';
import { createIntegrations } from '../../src/integrations.js';
import { createLogger } from '../../src/logger.js';
import { jobScheduleId } from '../../src/temporal/names.js';
import { actionActivities } from '../helpers/action-activities.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startSmtpPeer, type SmtpPeer } from '../helpers/smtp-peer.js';

// An SMTP reply's class says whether to try again (RFC 5321 §4.2.1): 4xx is temporary (a greylisting relay
// answers 451 to the first RCPT TO of an unknown sender and accepts the same message minutes later; 454 to
// AUTH is a server that cannot check credentials right now), 5xx permanent. Before the message is handed
// over (354 to DATA) nothing was sent, so a temporary refusal is retried; after it, never (at most once).
// Run the way the worker runs a notify.email action: executeAction attempts, retried like Temporal does
// until one succeeds or fails for good, against a real SMTP server and a real Postgres.
describe('notify.email: a temporary SMTP refusal (4xx) is retried, a permanent one (5xx) is not', function () {
  const PASS = 'mail-s3cret';
  let db: TestDatabase;
  let smtp: SmtpPeer;
  let authSmtp: SmtpPeer;

  before(async function () {
    db = await createTestDatabase();
  });

  // Fresh peers for each test: a refusal one test queued and did not use never reaches the next.
  beforeEach(async function () {
    [smtp, authSmtp] = await Promise.all([startSmtpPeer(), startSmtpPeer({ auth: { user: 'mailer', pass: PASS } })]);
  });

  afterEach(async function () {
    await Promise.all([smtp?.close(), authSmtp?.close()]);
  });

  after(async function () {
    await db?.close();
  });

  function activities(peer: SmtpPeer, auth = false) {
    const env = {
      SMTP_URL: `smtp://127.0.0.1:${peer.port}?plaintext=true`,
      SMTP_FROM: 'selfheal@example.com',
      ...(auth ? { SMTP_USER: 'mailer', SMTP_PASSWORD: PASS } : {}),
    };
    return actionActivities(db, env);
  }

  let seq = 0;
  function input(subject: string, to = ['oncall@example.com']): RunActionInput {
    seq += 1;
    const action: PlannedAction = { index: 0, id: `m${seq}`, type: 'notify.email', when: 'success', params: { to, subject, body: 'restarted' } };
    const incidentId = `Q${randomUUID().slice(0, 8).toUpperCase()}`;
    const eventId = `E${randomUUID()}`;
    return { actionRunId: `${incidentId}:r-1:${action.id}:${eventId}`, incidentId, eventId, matchId: '1', ruleId: 'r-1', ruleVersion: 1, action, dryRun: false, previous: [] };
  }

  /** What Temporal does: attempts until one succeeds or fails for good (a non-retryable failure). */
  async function untilDone(run: (i: RunActionInput) => Promise<unknown>, i: RunActionInput, maxAttempts = 10) {
    const failures: string[] = [];
    for (let n = 1; n <= maxAttempts; n++) {
      try {
        return { result: await run(i), failures, error: undefined as ApplicationFailure | undefined };
      } catch (err) {
        const e = err as Error;
        failures.push(`${(err as ApplicationFailure).type ?? e.name}: ${e.message}`);
        if (err instanceof ApplicationFailure && err.nonRetryable) return { result: undefined, failures, error: err };
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error(`no outcome after ${maxAttempts} attempts: ${failures.join(' | ')}`);
  }

  const mine = (peer: SmtpPeer, i: RunActionInput) => peer.messages.filter((m) => m.subject === i.action.params.subject);
  const sideEffect = (key: string) => db.db.selectFrom('side_effects').select(['state']).where('key', '=', key).executeTakeFirstOrThrow();

  it('451 to the first RCPT TO (greylisting): the next attempt is accepted, one message', async function () {
    const i = input(`greylisted ${randomUUID()}`);
    smtp.refuseNext('rcpt', 451, 'greylisted, try again later');
    const { result, failures, error } = await untilDone(activities(smtp).executeAction, i);
    assert.equal(error, undefined, failures.join(' | '));
    assert.equal(failures.length, 1, failures.join(' | '));
    assert.match(failures[0]!, /^EmailSendError: .*EENVELOPE 451/);
    assert.match(String((result as { outputExcerpt: string }).outputExcerpt), /^email sent \(</);
    assert.deepEqual(smtp.refusals, [{ stage: 'rcpt', code: 451 }]);
    assert.equal(mine(smtp, i).length, 1);
    assert.equal((await sideEffect(i.actionRunId)).state, 'done');
  });

  it('451 to MAIL FROM (twice) is retried too', async function () {
    const mail = input(`busy ${randomUUID()}`);
    smtp.refuseNext('mail', 451, 'local problem, try again later', 2);
    const m = await untilDone(activities(smtp).executeAction, mail);
    assert.equal(m.error, undefined, m.failures.join(' | '));
    assert.equal(m.failures.length, 2, m.failures.join(' | '));
    assert.deepEqual(smtp.refusals, [{ stage: 'mail', code: 451 }, { stage: 'mail', code: 451 }]);
    assert.equal(mine(smtp, mail).length, 1);
  });

  it('454 to AUTH (credentials cannot be checked now) is retried', async function () {
    const auth = input(`auth ${randomUUID()}`);
    authSmtp.refuseNext('auth', 454, 'temporary authentication failure');
    const a = await untilDone(activities(authSmtp, true).executeAction, auth);
    assert.equal(a.error, undefined, a.failures.join(' | '));
    assert.equal(a.failures.length, 1, a.failures.join(' | '));
    assert.deepEqual(authSmtp.refusals, [{ stage: 'auth', code: 454 }]);
    assert.match(a.failures[0]!, /EAUTH 454/);
    assert.equal(mine(authSmtp, auth).length, 1);
    assert.equal(mine(authSmtp, auth)[0]!.authUser, 'mailer');
  });

  it('550 to RCPT TO: fails once, not retried, no message', async function () {
    const i = input(`unknown user ${randomUUID()}`);
    smtp.refuseNext('rcpt', 550, 'no such user');
    const { error, failures } = await untilDone(activities(smtp).executeAction, i);
    assert.equal(failures.length, 1, failures.join(' | '));
    assert.equal(error?.nonRetryable, true);
    assert.equal(error?.type, 'EmailSendError');
    assert.match(error!.message, /EENVELOPE 550/);
    assert.deepEqual(smtp.refusals, [{ stage: 'rcpt', code: 550 }]);
    assert.equal(mine(smtp, i).length, 0);
  });

  // nodemailer sends to the recipients a relay accepts and reports the others as `rejected`: taken as a
  // success, one recipient (a greylisted one, whose relay would take it minutes later) silently never got it.
  it('one of two recipients deferred (451 to its RCPT TO, twice): the other gets it once, the deferred one gets the same message in a later round, nobody twice', async function () {
    const i = input(`deferred ${randomUUID()}`, ['oncall@example.com', 'lead@example.com']);
    // oncall's RCPT TO in the first round and in the second, where it is the only one: that round fails whole.
    smtp.refuseNext('rcpt', 451, 'greylisted, try again later', 2, { recipient: 'oncall@example.com' });
    const acts = activities(smtp);
    const { result, error, failures } = await untilDone(acts.executeAction, i);
    assert.equal(error, undefined, failures.join(' | '));
    assert.equal(failures.length, 1, failures.join(' | '));
    assert.match(failures[0]!, /^EmailSendError: .*EENVELOPE 451/, 'the second round, refused whole, is retried like any send');
    assert.match(String((result as { outputExcerpt: string }).outputExcerpt), /^email sent \(<[^>]+>\); one more round after the relay deferred some recipients/);
    assert.deepEqual(smtp.refusals, [{ stage: 'rcpt', code: 451 }, { stage: 'rcpt', code: 451 }]);
    const got = mine(smtp, i);
    assert.deepEqual(got.map((m) => m.envelope.to), [['lead@example.com'], ['oncall@example.com']]);
    assert.equal(got[0]!.headers.get('message-id')?.[0], got[1]!.headers.get('message-id')?.[0], 'one message: the same Message-ID in both rounds');
    assert.deepEqual(got[1]!.headers.get('to'), got[0]!.headers.get('to'), 'the header names everyone, as the first round did');
    assert.equal((await sideEffect(i.actionRunId)).state, 'done');
    assert.equal((await sideEffect(`${i.actionRunId}:owed:1`)).state, 'done');
    // An attempt after this one (a replayed activity, an operator's retry) reads the records and sends nothing.
    const again = await untilDone(acts.executeAction, i);
    assert.equal(again.error, undefined);
    assert.equal(mine(smtp, i).length, 2);
  });

  it('one of two recipients refused for good (550), or one deferred and one refused: the others get it once, the action fails naming them, never resent', async function () {
    for (const codes of [[550], [451, 550]]) {
      const to = codes.length === 1 ? ['oncall@example.com', 'lead@example.com'] : ['oncall@example.com', 'dba@example.com', 'lead@example.com'];
      const i = input(`partly ${codes.join('+')} ${randomUUID()}`, to);
      for (const code of codes) smtp.refuseNext('rcpt', code, code === 550 ? 'no such user' : 'greylisted, try again later');
      const acts = activities(smtp);
      const { error, failures } = await untilDone(acts.executeAction, i);
      assert.equal(failures.length, 1, failures.join(' | '));
      assert.equal(error?.nonRetryable, true);
      assert.equal(error?.type, 'SideEffectPartlyDone');
      const refused = codes.length === 1 ? 'oncall@example\\.com \\(550\\)' : 'oncall@example\\.com \\(451\\), dba@example\\.com \\(550\\)';
      assert.match(error!.message, new RegExp(`^notify\\.email: email via 127\\.0\\.0\\.1:\\d+: sent to 1 of ${to.length} recipients \\(<[^>]+>\\); the relay refused ${refused} at RCPT TO\\. Not sent again`));
      assert.doesNotMatch(error!.message, /greylisted|no such user/, "the relay's own text is not repeated");
      assert.deepEqual(mine(smtp, i).map((m) => m.envelope.to), [['lead@example.com']]);
      assert.equal((await sideEffect(i.actionRunId)).state, 'unknown');
      const again = await untilDone(acts.executeAction, i);
      assert.equal(again.error?.nonRetryable, true);
      assert.equal(mine(smtp, i).length, 1);
    }
  });

  it('a wrong password (535) stays permanent', async function () {
    await assert.rejects(
      sendEmail(
        { smtp: { host: authSmtp.host, port: authSmtp.port, secure: false, allowPlaintext: true, user: 'mailer', passRef: 'env:P' }, from: 'a@example.com', to: ['b@example.com'], subject: 's', text: 't' },
        { env: { P: 'wrong' } },
      ),
      (err: Error) => err instanceof EmailSendError && !err.retryable && /EAUTH 535/.test(err.message),
    );
  });

  it('451 to the message itself (after 354 and the final "."): not sent again, at most once', async function () {
    const i = input(`after data ${randomUUID()}`);
    smtp.refuseNext('data', 451, 'queue write error, try again later');
    const { error, failures } = await untilDone(activities(smtp).executeAction, i);
    assert.equal(failures.length, 1, failures.join(' | '));
    assert.equal(error?.nonRetryable, true);
    assert.match(error!.message, /EMESSAGE 451/);
    assert.deepEqual(smtp.refusals, [{ stage: 'data', code: 451 }]);
    assert.equal(mine(smtp, i).length, 0);
  });

  it("a job's failure notice and a guard page: a deferred recipient gets the same message in a later round, the other once", async function () {
    const env = { SMTP_URL: `smtp://127.0.0.1:${smtp.port}?plaintext=true`, SMTP_FROM: 'selfheal@example.com' };
    const integrations = createIntegrations(loadConfig(env), { env, fetch: globalThis.fetch });
    const logger = createLogger({ level: 'silent' });
    const to = ['oncall@example.com', 'lead@example.com'];

    const jobId = `notice-${randomUUID().slice(0, 6)}`;
    const definition = { id: jobId, name: jobId, schedule: { interval: '1h' }, targets: { environments: ['prod-eu'] }, script: 'probe.sh', notifyOnFailure: { email: to } };
    await db.db.insertInto('jobs').values({ id: jobId, name: jobId, definition: JSON.stringify(definition), enabled: true, schedule_id: jobScheduleId(jobId) }).execute();
    smtp.refuseNext('rcpt', 451, 'greylisted, try again later', 1, { recipient: 'oncall@example.com' });
    const summary = { total: 1, succeeded: 0, failed: 1, timedOut: 0, skipped: 0, failures: [{ environment: 'prod-eu', status: 'failed' as const }] };
    const sent = await createJobActivities({ db: db.db, logger, integrations }).notifyJobFailure({ jobId, jobName: jobId, jobRunId: `run-${jobId}`, status: 'failed', summary });
    assert.equal(sent, 'notified via email');
    const notices = smtp.messages.filter((m) => m.subject?.includes(jobId));
    assert.deepEqual(notices.map((m) => m.envelope.to), [['lead@example.com'], ['oncall@example.com']]);
    assert.equal(notices[0]!.headers.get('message-id')?.[0], notices[1]!.headers.get('message-id')?.[0]);

    const incidentId = `Q${randomUUID().slice(0, 8).toUpperCase()}`;
    await insertAlert(db.db, { kind: 'flapping', incidentId, target: 'db-7', text: `[self-healing] db-7 is flapping (${incidentId})`, page: true, at: new Date() });
    smtp.refuseNext('rcpt', 451, 'greylisted, try again later', 1, { recipient: 'oncall@example.com' });
    const deliver = createAlertDelivery({ db: db.db, logger, integrations, guards: { ...DEFAULT_GUARD_CONFIG, page: { slackWebhookRef: undefined, email: to } } });
    assert.equal(await deliver(), 1);
    const pages = smtp.messages.filter((m) => m.body.includes(incidentId));
    assert.deepEqual(pages.map((m) => m.envelope.to), [['lead@example.com'], ['oncall@example.com']]);
    assert.equal(await deliver(), 0, 'nothing owed: the page is not sent again');
    assert.equal(smtp.messages.filter((m) => m.body.includes(incidentId)).length, 2);
  });
});
