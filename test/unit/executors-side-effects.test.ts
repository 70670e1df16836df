import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { createActionActivities } from '../../activities/actions.js';
import { noteMarker } from '../../activities/own-writes.js';
import { whatHappened } from '../../activities/side-effects.js';
import type { PlannedAction, RunActionInput } from '../../activities/types.js';
import { loadConfig } from '../../src/config.js';
import { HttpCallError } from '../../src/executors/errors.js';
import { emailMessageId } from '../../src/executors/notify.js';
import { idempotencyLabel, idempotencyMarker } from '../../src/executors/work-items.js';
import { createIntegrations } from '../../src/integrations.js';
import { createLogger } from '../../src/logger.js';
import { createPagerDutyClient, PagerDutyApiError } from '../../src/pagerduty/rest-client.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import {
  startEwmPeer,
  startGitHubPeer,
  startHttpPeer,
  startJiraPeer,
  startSlackPeer,
  type EwmPeer,
  type GitHubPeer,
  type HttpPeer,
  type JiraPeer,
  type SlackPeer,
} from '../helpers/http-peer.js';
import { startPagerDutyPeer, type PagerDutyPeer } from '../helpers/pagerduty-peer.js';
import { startSmtpPeer, type SmtpPeer } from '../helpers/smtp-peer.js';

// Each action's side effect, run the way Temporal runs an activity (an attempt, then retries with the same
// input), against the peers and a real Postgres. The answers are lost after the peer made the object (the
// connection dropped, or the answer arriving after the attempt's deadline); what is counted is the objects
// AT THE PEER: one ticket, one note, one status change; at most one Slack message or email.
describe('side effects: a retry after a lost answer never makes a second one', function () {
  const PD_TOKEN = 'pd-token-side-effects';
  const BUDGET_MS = 1_500;
  const LATE_MS = 3_500;
  let db: TestDatabase;
  let jira: JiraPeer;
  let laggingJira: JiraPeer;
  let github: GitHubPeer;
  let ewm: EwmPeer;
  let slack: SlackPeer;
  let smtp: SmtpPeer;
  let pd: PagerDutyPeer;
  let hook: HttpPeer;
  const hookEffects = new Map<string, number>();
  let deadPort: number;

  before(async function () {
    db = await createTestDatabase();
    [jira, laggingJira, github, ewm, slack, smtp, pd] = await Promise.all([
      startJiraPeer({ indexLagMs: 2_500 }),
      startJiraPeer({ indexLagMs: 3_600_000 }),
      startGitHubPeer(),
      startEwmPeer(),
      startSlackPeer(),
      startSmtpPeer(),
      startPagerDutyPeer({ token: PD_TOKEN }),
    ]);
    // A webhook receiver that deduplicates on Idempotency-Key, as the README tells receivers to.
    hook = await startHttpPeer([
      {
        method: 'POST',
        path: '/hook',
        handle: (req) => {
          const key = String(req.headers['idempotency-key'] ?? '');
          hookEffects.set(key, (hookEffects.get(key) ?? 0) + 1);
          return { status: 200, json: { ok: true } };
        },
      },
    ]);
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    deadPort = (probe.address() as { port: number }).port;
    await new Promise<void>((r) => probe.close(() => r()));
  });

  after(async function () {
    await Promise.all([jira, laggingJira, github, ewm, slack, hook].map((p) => p?.close()));
    await smtp?.close();
    await pd?.close();
  });

  function activities(opts: { jira?: JiraPeer; slackUrl?: string; settleMs?: number; smtpPort?: number } = {}) {
    const j = opts.jira ?? jira;
    const env = {
      JIRA_BASE_URL: j.baseUrl,
      JIRA_EMAIL: j.email,
      JIRA_API_TOKEN: j.token,
      GITHUB_API_URL: github.apiUrl,
      GITHUB_TOKEN: github.token,
      EWM_CATALOG_URL: ewm.catalogUrl,
      EWM_USERNAME: ewm.username,
      EWM_PASSWORD: ewm.password,
      SMTP_URL: `smtp://127.0.0.1:${opts.smtpPort ?? smtp.port}?plaintext=true`,
      SMTP_FROM: 'selfheal@example.com',
      SELFHEAL_SECRET_TEST_SLACK_URL: opts.slackUrl ?? slack.webhookUrl,
    };
    return createActionActivities({
      db: db.db,
      logger: createLogger({ level: 'silent' }),
      pagerduty: createPagerDutyClient({ baseUrl: pd.url, token: PD_TOKEN, fromEmail: 'selfheal@example.com' }),
      // Egress is not under test here: loopback peers are reached directly.
      integrations: createIntegrations(loadConfig(env), { env, fetch: globalThis.fetch }),
      env,
      sideEffects: { budgetMs: BUDGET_MS, settleMs: opts.settleMs ?? 10_000 },
    });
  }

  let seq = 0;
  function input(type: string, params: Record<string, unknown>, ids: { incidentId?: string; eventId?: string } = {}): RunActionInput {
    seq += 1;
    const action: PlannedAction = { index: 0, id: `a${seq}`, type, when: 'success', params };
    const incidentId = ids.incidentId ?? `Q${randomUUID().slice(0, 8).toUpperCase()}`;
    const eventId = ids.eventId ?? `E${randomUUID()}`;
    return { actionRunId: `${incidentId}:r-1:${action.id}:${eventId}`, incidentId, eventId, matchId: '1', ruleId: 'r-1', ruleVersion: 1, action, dryRun: false, previous: [] };
  }

  /** What Temporal does: attempts until one succeeds or fails for good, with a pause between them. */
  async function untilDone(run: (i: RunActionInput) => Promise<unknown>, i: RunActionInput, maxAttempts = 30) {
    const failures: string[] = [];
    for (let n = 1; n <= maxAttempts; n++) {
      try {
        const result = await run(i);
        return { result, failures, error: undefined as ApplicationFailure | undefined };
      } catch (err) {
        const e = err as Error;
        failures.push(`${(err as ApplicationFailure).type ?? e.name}: ${e.message}`);
        if (err instanceof ApplicationFailure && err.nonRetryable) return { result: undefined, failures, error: err };
        await new Promise((r) => setTimeout(r, 300));
      }
    }
    throw new Error(`no outcome after ${maxAttempts} attempts: ${failures.join(' | ')}`);
  }

  const row = (key: string) => db.db.selectFrom('side_effects').selectAll().where('key', '=', key).executeTakeFirstOrThrow();

  it('Jira: the create answer arrives after the deadline; the retry waits for the search index and finds the one issue', async function () {
    const { executeAction } = activities();
    const i = input('workitem', { provider: 'jira', project: 'OPS', title: 'Disk full on db-7', description: 'cleanup failed' });
    jira.loseNextAnswer({ delayMs: LATE_MS }, { method: 'POST' });
    const before = jira.issues.length;
    const { result, failures } = await untilDone(executeAction, i);
    assert.equal(jira.issues.length - before, 1, 'one issue at Jira');
    const issue = jira.issues.at(-1)!;
    assert.ok(issue.fields.labels.includes(idempotencyLabel(i.actionRunId)), 'the issue carries the action run key');
    assert.ok(failures.some((f) => f.startsWith('SideEffectUncertain')), failures.join('\n'));
    assert.ok(failures.some((f) => f.startsWith('SideEffectNotVisibleYet')), `the search did not show it at first: ${failures.join('\n')}`);
    assert.deepEqual(result, { exitCode: null, outputExcerpt: `work item ${issue.key} (found after an unanswered attempt; not created again)`, link: `${jira.baseUrl}/browse/${issue.key}` });
    const r = await row(i.actionRunId);
    assert.equal(r.state, 'done');
    assert.equal(r.external_id, issue.key);
    // A later retry (the workflow replays, a duplicate delivery) reads the row: no request at all.
    const requests = jira.requests.length;
    const again = await executeAction(i);
    assert.match(String((again as { outputExcerpt: string }).outputExcerpt), /recorded by an earlier attempt/);
    assert.equal(jira.requests.length, requests);
    assert.deepEqual(jira.violations, []);
  });

  it('Jira: when the index never shows the issue, it gives up after the settle time without opening a second one', async function () {
    const { executeAction } = activities({ jira: laggingJira, settleMs: 2_000 });
    const i = input('workitem', { provider: 'jira', project: 'OPS', title: 'Disk full on db-8', description: '' });
    laggingJira.loseNextAnswer('drop', { method: 'POST' });
    const { error } = await untilDone(executeAction, i);
    assert.equal(error?.type, 'OutcomeUnknown');
    assert.match(error!.message, /outcome unknown, not tried again/);
    assert.equal(laggingJira.issues.length, 1, 'exactly the one issue the lost attempt made');
    assert.equal(laggingJira.requests.filter((r) => r.method === 'POST').length, 1, 'one create request');
    assert.equal((await row(i.actionRunId)).state, 'unknown');
    // And it stays given up: another attempt calls nothing.
    const requests = laggingJira.requests.length;
    await assert.rejects(executeAction(i), (e: ApplicationFailure) => e.type === 'OutcomeUnknown');
    assert.equal(laggingJira.requests.length, requests);
  });

  it('GitHub: the connection drops after the issue was made; the retry finds it by its marker', async function () {
    const { executeAction } = activities();
    const i = input('workitem', { provider: 'github', repo: `${github.owner}/${github.repo}`, title: 'Disk full on db-9', description: 'see incident' });
    github.loseNextAnswer('drop', { method: 'POST' });
    const { result } = await untilDone(executeAction, i);
    const mine = github.issues.filter((x) => x.body.includes(idempotencyMarker(i.actionRunId)));
    assert.equal(mine.length, 1);
    assert.equal((result as { link: string }).link, mine[0]!.html_url);
    // The lookup asked only for recent issues.
    const list = github.requests.filter((r) => r.method === 'GET').at(-1)!;
    assert.ok(list.query.get('since'), 'the lookup passes since');
    assert.deepEqual(github.violations, []);
  });

  it('EWM: the answer arrives after the deadline; the retry finds the work item by its tag', async function () {
    const { executeAction } = activities();
    const i = input('workitem', { provider: 'ewm', project: 'Platform Operations', title: 'Disk full on db-10', description: '', itemType: 'task' });
    ewm.loseNextAnswer({ delayMs: LATE_MS }, { method: 'POST' });
    const before = ewm.items.length;
    const { result } = await untilDone(executeAction, i);
    assert.equal(ewm.items.length - before, 1);
    assert.equal((result as { link: string }).link, ewm.items.at(-1)!.about);
    assert.equal(ewm.items.at(-1)!.projectArea, '_projArea2', 'created in the named project area');
  });

  it('keys include the event: the same action for another event opens its own ticket; the same event does not', async function () {
    const { executeAction } = activities();
    const first = input('workitem', { provider: 'github', repo: `${github.owner}/${github.repo}`, title: 'Flapping', description: '' });
    const sameEvent = { ...first };
    const otherEvent = { ...first, eventId: 'E-other', actionRunId: first.actionRunId.replace(first.eventId, 'E-other') };
    const before = github.issues.length;
    await executeAction(first);
    await executeAction(sameEvent);
    await executeAction(otherEvent);
    assert.equal(github.issues.length - before, 2);
  });

  it('two attempts at once (a retry while a slow attempt still runs): only one calls the provider', async function () {
    const { executeAction } = activities();
    const i = input('workitem', { provider: 'github', repo: `${github.owner}/${github.repo}`, title: 'Slow', description: '' });
    github.loseNextAnswer({ delayMs: 1_000 }, { method: 'POST' });
    const before = github.issues.length;
    const [a, b] = await Promise.allSettled([executeAction(i), new Promise((r) => setTimeout(r, 200)).then(() => executeAction(i))]);
    assert.equal(a.status, 'fulfilled');
    assert.equal(b.status, 'rejected');
    assert.equal(((b as PromiseRejectedResult).reason as ApplicationFailure).type, 'SideEffectInFlight');
    assert.equal(github.issues.length - before, 1);
  });

  it('Slack: the post went through but the answer was lost — never posted again (at most once), and the run says so', async function () {
    const { executeAction } = activities();
    const i = input('notify.slack', { webhookUrlRef: 'env:SELFHEAL_SECRET_TEST_SLACK_URL', text: `deploy rolled back ${randomUUID()}` });
    slack.loseNextAnswer('drop', { method: 'POST' });
    const { error } = await untilDone(executeAction, i);
    assert.equal(error?.type, 'OutcomeUnknown');
    assert.equal(slack.messages.filter((m) => m.text === i.action.params.text).length, 1);
    await assert.rejects(executeAction(i), (e: ApplicationFailure) => e.type === 'OutcomeUnknown');
    assert.equal(slack.messages.filter((m) => m.text === i.action.params.text).length, 1);
  });

  it('Slack: a post that provably did not arrive (connection refused, 429) is retried and sent once', async function () {
    const text = `disk cleaned ${randomUUID()}`;
    const i = input('notify.slack', { webhookUrlRef: 'env:SELFHEAL_SECRET_TEST_SLACK_URL', text });
    const refused = activities({ slackUrl: `http://127.0.0.1:${deadPort}/services/T/B/x` });
    await assert.rejects(refused.executeAction(i), (e: Error) => e instanceof HttpCallError && /ECONNREFUSED/.test(e.message));
    assert.equal((await row(i.actionRunId)).state, 'failed');
    const { executeAction } = activities();
    slack.failNext({ status: 429, text: 'rate_limited' });
    const { result } = await untilDone(executeAction, i);
    assert.equal((result as { outputExcerpt: string }).outputExcerpt, 'slack message sent');
    assert.equal(slack.messages.filter((m) => m.text === text).length, 1);
  });

  it('email: the message was delivered but the final reply was lost — never sent again; the Message-ID is the run key\'s', async function () {
    const { executeAction } = activities();
    const i = input('notify.email', { to: ['oncall@example.com'], subject: `db-7 ${randomUUID()}`, body: 'restarted' });
    smtp.dropNextReply();
    const { error } = await untilDone(executeAction, i);
    assert.equal(error?.type, 'OutcomeUnknown');
    const mine = () => smtp.messages.filter((m) => m.subject === i.action.params.subject);
    assert.equal(mine().length, 1);
    assert.equal(mine()[0]!.headers.get('message-id')?.[0], emailMessageId(i.actionRunId, 'selfheal@example.com'));
    await assert.rejects(executeAction(i), (e: ApplicationFailure) => e.type === 'OutcomeUnknown');
    assert.equal(mine().length, 1);
  });

  it('email: a server that was down is retried and the message sent once', async function () {
    const i = input('notify.email', { to: ['oncall@example.com'], subject: `db-8 ${randomUUID()}`, body: 'restarted' });
    await assert.rejects(activities({ smtpPort: deadPort }).executeAction(i));
    assert.equal((await row(i.actionRunId)).state, 'failed');
    const { result } = await untilDone(activities().executeAction, i);
    assert.match(String((result as { outputExcerpt: string }).outputExcerpt), /^email sent \(</);
    assert.equal(smtp.messages.filter((m) => m.subject === i.action.params.subject).length, 1);
  });

  it('webhook: resent after a lost answer with the same Idempotency-Key, so the receiver acts once', async function () {
    const { executeAction } = activities();
    const i = input('notify.webhook', { url: `${hook.url}/hook`, body: '{"restart":"db-7"}' });
    hook.loseNextAnswer('drop', { method: 'POST' });
    await untilDone(executeAction, i);
    const deliveries = hook.requests.filter((r) => r.headers['idempotency-key'] === i.actionRunId);
    assert.equal(deliveries.length, 2, 'delivered, answer lost, delivered again');
    assert.equal(hookEffects.get(i.actionRunId), 2, 'the receiver saw the key twice and can act once');
  });

  it('PagerDuty note: the note was made but the answer lost; the retry finds it on the incident by its marker', async function () {
    const { executeAction } = activities();
    const i = input('pagerduty.note', { content: 'cleanup freed 2 GiB' });
    pd.loseNextAnswer('drop', { method: 'POST', pathPrefix: `/incidents/${i.incidentId}/notes` });
    const { result } = await untilDone(executeAction, i);
    const notes = pd.notes(i.incidentId);
    assert.equal(notes.length, 1);
    assert.equal(notes[0]!.content, `cleanup freed 2 GiB\n\n${noteMarker(i.actionRunId)}`);
    assert.equal((result as { outputExcerpt: string }).outputExcerpt, `note added (${notes[0]!.id}) (found after an unanswered attempt; not created again)`);
    const written = await db.db.selectFrom('pagerduty_writes').selectAll().where('incident_id', '=', i.incidentId).execute();
    assert.deepEqual(written.map((w) => [w.kind, w.note_id]), [['note', notes[0]!.id]], 'the note id is remembered');
    assert.deepEqual(pd.requests.flatMap((r) => r.errors), []);
  });

  it('PagerDuty note: a note quoting our marker (an incident value in another note) is not taken for ours; only a note ending with it is', async function () {
    const { executeAction } = activities();
    const i = input('pagerduty.note', { content: 'restarted nginx' });
    // Written first: a note whose text carries this action's marker in the middle, as an incident title
    // rendered into another action's note, or a person quoting one, would.
    const quoting = pd.humanNote(i.incidentId, `title: disk full ${noteMarker(i.actionRunId)} on web-1`);
    pd.loseNextAnswer('drop', { method: 'POST', pathPrefix: `/incidents/${i.incidentId}/notes` });
    await untilDone(executeAction, i);
    const ours = pd.notes(i.incidentId).filter((n) => n.id !== quoting.id);
    assert.deepEqual(
      ours.map((n) => n.content),
      [`restarted nginx\n\n${noteMarker(i.actionRunId)}`],
    );
    const written = await db.db.selectFrom('pagerduty_writes').select(['kind', 'note_id']).where('incident_id', '=', i.incidentId).execute();
    assert.deepEqual(
      written.map((w) => [w.kind, w.note_id]),
      [['note', ours[0]!.id]],
      'the note remembered is ours, not the one quoting its marker',
    );
  });

  it('PagerDuty acknowledge: the answer arrives after the deadline; the retry reads the incident and does not write again', async function () {
    const { executeAction } = activities();
    const i = input('pagerduty.acknowledge', {});
    pd.loseNextAnswer({ delayMs: LATE_MS }, { method: 'PUT', pathPrefix: `/incidents/${i.incidentId}` });
    await untilDone(executeAction, i);
    const puts = pd.requests.filter((r) => r.method === 'PUT' && r.path === `/incidents/${i.incidentId}`);
    assert.equal(puts.length, 1);
    assert.equal(pd.incident(i.incidentId)?.status, 'acknowledged');
    assert.equal((await row(i.actionRunId)).state, 'done');
  });

  it('PagerDuty escalate: an escalation whose answer was lost is not sent again (it would page the level twice)', async function () {
    const { executeAction } = activities();
    const i = input('pagerduty.escalate', { level: 2 });
    pd.loseNextAnswer('drop', { method: 'PUT', pathPrefix: `/incidents/${i.incidentId}` });
    const { error } = await untilDone(executeAction, i);
    assert.equal(error?.type, 'OutcomeUnknown');
    assert.equal(pd.requests.filter((r) => r.method === 'PUT' && r.path === `/incidents/${i.incidentId}`).length, 1);
  });

  it('tells a call that did nothing from one that may have done something', function () {
    const refused = new HttpCallError('x: request failed (ECONNREFUSED)', null, true, { cause: Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }) }) });
    assert.equal(whatHappened(refused), 'nothing');
    assert.equal(whatHappened(new HttpCallError('x: HTTP 400', 400, false)), 'nothing');
    assert.equal(whatHappened(new HttpCallError('x: HTTP 429', 429, true)), 'nothing');
    assert.equal(whatHappened(new HttpCallError('x: HTTP 502', 502, true)), 'uncertain');
    assert.equal(whatHappened(new HttpCallError('x: response is not JSON', 201, false)), 'uncertain');
    const reset = new HttpCallError('x: request failed', null, true, { cause: Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) }) });
    assert.equal(whatHappened(reset), 'uncertain');
    assert.equal(whatHappened(new DOMException('timed out', 'TimeoutError')), 'uncertain');
    assert.equal(whatHappened(new PagerDutyApiError('no From', undefined, false)), 'nothing');
    assert.equal(whatHappened(new PagerDutyApiError('timed out', undefined, true, { method: 'POST', path: '/x' }, { cause: new DOMException('t', 'TimeoutError') })), 'uncertain');
  });
});

// PagerDuty acknowledge / resolve / priority after a lost answer, as PagerDuty (the peer) sees it: the
// requests it received and the incident's state. The answer is dropped after the write took effect; what a
// person does in PagerDuty's UI between that attempt and its retry is `humanUpdate`.
describe('PagerDuty status and priority writes after a lost answer: what PagerDuty receives', function () {
  const PD_TOKEN = 'pd-token-status-writes';
  let db: TestDatabase;
  let pd: PagerDutyPeer;

  before(async function () {
    db = await createTestDatabase();
    pd = await startPagerDutyPeer({ token: PD_TOKEN });
  });

  after(async function () {
    await pd?.close();
    await db?.close();
  });

  function executeAction(i: RunActionInput) {
    return createActionActivities({
      db: db.db,
      logger: createLogger({ level: 'silent' }),
      pagerduty: createPagerDutyClient({ baseUrl: pd.url, token: PD_TOKEN, fromEmail: 'selfheal@example.com' }),
      sideEffects: { budgetMs: 1_500 },
    }).executeAction(i);
  }

  function input(type: string, params: Record<string, unknown>): RunActionInput {
    const action: PlannedAction = { index: 0, id: 'a1', type, when: 'success', params };
    const incidentId = `Q${randomUUID().slice(0, 8).toUpperCase()}`;
    const eventId = `E${randomUUID()}`;
    return { actionRunId: `${incidentId}:r-1:${action.id}:${eventId}`, incidentId, eventId, matchId: '1', ruleId: 'r-1', ruleVersion: 1, action, dryRun: false, previous: [] };
  }

  /** The PUTs PagerDuty received for the incident, as the fields they set. */
  const puts = (incidentId: string) =>
    pd.requests
      .filter((r) => r.method === 'PUT' && r.path === `/incidents/${incidentId}`)
      .map((r) => {
        const incident = (r.body as { incident: { status?: string; priority?: { id: string } } }).incident;
        return incident.status ?? `priority ${incident.priority?.id ?? '?'}`;
      });

  /**
   * The first attempt: PagerDuty applies the write and the answer is dropped. Then `between` (a person in
   * PagerDuty's UI), then the retries Temporal would make until one ends.
   */
  async function lostThenRetried(i: RunActionInput, between: () => void = () => undefined) {
    pd.loseNextAnswer('drop', { method: 'PUT', pathPrefix: `/incidents/${i.incidentId}` });
    await assert.rejects(executeAction(i), (e: ApplicationFailure) => e.type === 'SideEffectUncertain');
    assert.equal(puts(i.incidentId).length, 1, 'the first attempt reached PagerDuty');
    between();
    for (let n = 1; ; n++) {
      try {
        return (await executeAction(i)) as { outputExcerpt: string };
      } catch (err) {
        if (n >= 10 || (err instanceof ApplicationFailure && err.nonRetryable)) throw err;
        await new Promise((r) => setTimeout(r, 300));
      }
    }
  }

  const state = (key: string) => db.db.selectFrom('side_effects').select('state').where('key', '=', key).executeTakeFirstOrThrow();

  it('resolve: the answer is dropped; the retry reads the incident resolved and sends nothing more', async function () {
    const i = input('pagerduty.resolve', {});
    const result = await lostThenRetried(i);
    assert.deepEqual(puts(i.incidentId), ['resolved'], 'one PUT at PagerDuty');
    assert.equal(pd.incident(i.incidentId)?.status, 'resolved');
    assert.equal(result.outputExcerpt, 'resolved (found after an unanswered attempt; not created again)');
    assert.equal((await state(i.actionRunId)).state, 'done');
    assert.deepEqual(pd.requests.flatMap((r) => r.errors), []);
  });

  it('priority: the answer is dropped; the retry reads the priority set and sends nothing more', async function () {
    const i = input('pagerduty.priority', { priorityId: 'PPRIO1' });
    const result = await lostThenRetried(i);
    assert.deepEqual(puts(i.incidentId), ['priority PPRIO1'], 'one PUT at PagerDuty');
    assert.equal(pd.incident(i.incidentId)?.priority?.id, 'PPRIO1');
    assert.equal(result.outputExcerpt, 'priority set to PPRIO1 (found after an unanswered attempt; not created again)');
    assert.equal((await state(i.actionRunId)).state, 'done');
  });

  it('acknowledge: the answer is dropped and a person resolves the incident before the retry; no further PUT, it stays resolved', async function () {
    const i = input('pagerduty.acknowledge', {});
    const result = await lostThenRetried(i, () => pd.humanUpdate(i.incidentId, { status: 'resolved' }));
    // Acknowledging now would reopen the incident: resolved counts as acknowledged.
    assert.deepEqual(puts(i.incidentId), ['acknowledged'], 'only the first attempt\'s PUT');
    assert.equal(pd.incident(i.incidentId)?.status, 'resolved');
    assert.equal(result.outputExcerpt, 'acknowledged (found after an unanswered attempt; not created again)');
  });

  // The documented limit (docs/guarantees.md, PagerDuty status and priority): the retry reads only the
  // incident, which does not say whether the value it no longer shows was ever written. A person's change
  // between a lost answer and the retry is overwritten: at least once, two writes.
  it('priority: the answer is dropped and a person sets another priority before the retry; the retry writes the rule\'s again (documented: at least once)', async function () {
    const i = input('pagerduty.priority', { priorityId: 'PPRIO1' });
    const result = await lostThenRetried(i, () => pd.humanUpdate(i.incidentId, { priorityId: 'PPRIO2' }));
    assert.deepEqual(puts(i.incidentId), ['priority PPRIO1', 'priority PPRIO1'], 'two PUTs of the rule\'s priority');
    assert.equal(pd.incident(i.incidentId)?.priority?.id, 'PPRIO1', 'the person\'s P2 is overwritten');
    assert.equal(result.outputExcerpt, 'priority set to PPRIO1');
  });

  it('acknowledge: the answer is dropped and the acknowledgement is undone (ack timeout) before the retry; the retry acknowledges again (documented: at least once)', async function () {
    const i = input('pagerduty.acknowledge', {});
    const result = await lostThenRetried(i, () => pd.humanUpdate(i.incidentId, { status: 'triggered' }, 'ack-timeout@example.com'));
    assert.deepEqual(puts(i.incidentId), ['acknowledged', 'acknowledged'], 'two PUTs');
    assert.equal(pd.incident(i.incidentId)?.status, 'acknowledged');
    assert.equal(result.outputExcerpt, 'acknowledged');
  });
});
