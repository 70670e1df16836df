import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { incidentWorkflowId } from '../../src/contracts/index.js';
import { createLogger } from '../../src/logger.js';
import { startApiServer, type ApiServer } from '../../src/server.js';
import { incidentService } from '../../src/services/incidents.js';
import { freePort } from '../../src/temporal/dev-server.js';
import { selfheal } from '../helpers/cli.js';
import { startHttpPeer, type HttpPeer } from '../helpers/http-peer.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, issueToken, startStack, type Stack } from '../helpers/stack.js';

// An incident whose resolve never arrived, with no PagerDuty token for the reconcile to ask with (or an
// incident PagerDuty no longer knows), stayed open here for good: its gated fix could be approved and run
// hours later, the dashboard and stats counted it open, and retention kept it whole. An admin now marks it
// resolved: POST /api/incidents/{id}/mark-resolved, audited, through the workflow like a delivery.
describe('mark-resolved: an admin closes an incident whose resolve never arrived', function () {
  let stack: Stack;
  let hook: HttpPeer;
  let admin: string;
  let writer: string;
  let reader: string;

  before(async function () {
    hook = await startHttpPeer([
      { method: 'POST', path: /^\/fix$/, handle: () => ({ status: 204 }) },
      { method: 'POST', path: /^\/resolved$/, handle: () => ({ status: 204 }) },
    ]);
    stack = await startStack({ env: { ACTION_EGRESS_ALLOW: '127.0.0.1/32' } });
    admin = await issueToken(stack, 'carol', ['admin']);
    writer = await issueToken(stack, 'bob', ['write']);
    reader = await issueToken(stack, 'dave', ['read']);
  });
  after(async function () {
    await stack?.stop();
    await hook?.close();
  });

  const runsOf = (id: string) => stack.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).execute();
  const incidentRow = (id: string) => stack.db.db.selectFrom('incidents').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  const auditOf = (id: string) => stack.db.db.selectFrom('audit_log').selectAll().where('entity_type', '=', 'incident').where('entity_id', '=', id).execute();
  const hits = (path: string) => hook.requests.filter((r) => r.path === path).length;
  const markResolved = (id: string, body: unknown, token = admin) =>
    stack.api(`/api/incidents/${encodeURIComponent(id)}/mark-resolved`, { method: 'POST', body: JSON.stringify(body), headers: { authorization: `Bearer ${token}` } });

  /** A service with a gated fix on trigger and a notification on resolve; an incident of it whose fix waits. */
  async function gatedIncident(): Promise<{ id: string; runId: string; svc: string }> {
    const svc = newServiceId();
    await insertRule(stack.db.db, {
      name: `gated-${randomUUID().slice(0, 6)}`,
      services: [svc],
      actions: [{ id: 'fix', type: 'notify.webhook', url: `${hook.url}/fix`, body: '{}', approval: { required: true, timeoutMinutes: 60, onTimeout: 'reject' } }],
    } as never, { author: 'token:alice' });
    await insertRule(stack.db.db, { name: `on-resolve-${randomUUID().slice(0, 6)}`, services: [svc], eventTypes: ['incident.resolved'], actions: [{ id: 'tell', type: 'notify.webhook', url: `${hook.url}/resolved`, body: '{}' }] } as never, {
      author: 'token:alice',
    });
    const id = newIncidentId();
    const res = await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { title: '[db-1] replica lag', service: { id: svc, type: 'service_reference', summary: 's' } } }));
    assert.equal(res.status, 202);
    const run = await eventually(async () => (await runsOf(id)).find((r) => r.status === 'awaiting_approval'), 30_000, `the fix of ${id} awaiting approval`);
    return { id, runId: run.id, svc };
  }

  it('an admin marks it resolved: its waiting fix is cancelled and can no longer be approved, its resolve rules run once, the audit names who and why', async function () {
    const { id, runId } = await gatedIncident();
    const res = await markResolved(id, { reason: 'resolved in PagerDuty at 03:10; its webhook was lost' });
    assert.equal(res.status, 202, await res.clone().text());
    const body = (await res.json()) as { incidentId: string; eventId: string; actor: string };
    assert.equal(body.incidentId, id);
    assert.match(body.actor, /carol/);

    await eventually(async () => (await incidentRow(id)).status === 'resolved', 30_000, 'resolved here');
    assert.ok((await incidentRow(id)).resolved_at);
    await eventually(async () => (await runsOf(id)).find((r) => r.id === runId && r.status === 'cancelled'), 30_000, 'its waiting fix cancelled');
    const late = await stack.api(`/api/incidents/${id}/approvals/${encodeURIComponent(runId)}`, { method: 'POST', body: JSON.stringify({ decision: 'approve' }), headers: { authorization: `Bearer ${writer}` } });
    assert.equal(late.status, 409, 'too late to approve');
    await eventually(async () => hits('/resolved') >= 1, 30_000, 'the incident.resolved rule ran');

    // The stored event says who and why; the audit entry too.
    const event = await stack.db.db.selectFrom('incident_events').selectAll().where('event_id', '=', body.eventId).executeTakeFirstOrThrow();
    assert.equal(event.event_type, 'incident.resolved');
    assert.equal(event.incident_id, id);
    const client = (event.payload as { event: { client: Record<string, unknown> } }).event.client;
    assert.deepEqual([client['markedResolvedBy'], client['reason']], [body.actor, 'resolved in PagerDuty at 03:10; its webhook was lost']);
    const audit = await auditOf(id);
    assert.equal(audit.length, 1);
    assert.equal(audit[0]!.action, 'incident.mark-resolved');
    assert.equal(audit[0]!.actor, body.actor);
    assert.deepEqual(audit[0]!.before, { status: 'triggered' });
    assert.deepEqual(audit[0]!.after, { status: 'resolved', eventId: body.eventId, reason: 'resolved in PagerDuty at 03:10; its webhook was lost' });

    // Once resolved: 409, nothing handed again, no second audit entry.
    const again = await markResolved(id, { reason: 'again' });
    assert.equal(again.status, 409);
    assert.match(((await again.json()) as { detail: string }).detail, /already resolved/);
    assert.equal((await auditOf(id)).length, 1);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(hits('/resolved'), 1, 'the incident.resolved rule ran once');
    assert.equal(hits('/fix'), 0, 'the gated fix never ran');
  });

  it('a write or read token is refused 403 and nothing changes: the fix still waits', async function () {
    const { id, runId } = await gatedIncident();
    for (const token of [writer, reader]) {
      const res = await markResolved(id, { reason: 'not mine to close' }, token);
      assert.equal(res.status, 403, await res.clone().text());
      assert.match(res.headers.get('content-type') ?? '', /problem\+json/);
    }
    const anonymous = await stack.api(`/api/incidents/${id}/mark-resolved`, { method: 'POST', body: JSON.stringify({ reason: 'x' }), headers: { authorization: 'Bearer nope' } });
    assert.equal(anonymous.status, 401);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await incidentRow(id)).status, 'triggered');
    assert.deepEqual(await auditOf(id), []);
    const events = await stack.db.db.selectFrom('incident_events').select('event_type').where('incident_id', '=', id).execute();
    assert.deepEqual(events.map((e) => e.event_type), ['incident.triggered']);
    assert.equal((await runsOf(id)).find((r) => r.id === runId)?.status, 'awaiting_approval');
  });

  it('bad requests name what is wrong (400), an unknown incident is 404; nothing is recorded', async function () {
    const { id } = await gatedIncident();
    for (const [body, path] of [
      [{}, 'reason'],
      [{ reason: '   ' }, 'reason'],
      [{ reason: 'x'.repeat(501) }, 'reason'],
      [{ reason: 'ok', status: 'resolved' }, ''],
    ] as const) {
      const res = await markResolved(id, body);
      assert.equal(res.status, 400, JSON.stringify(body));
      const problem = (await res.json()) as { errors?: { path: string }[] };
      if (path) assert.ok(problem.errors?.some((e) => e.path === path), JSON.stringify(problem));
    }
    const unknown = await markResolved(newIncidentId(), { reason: 'gone' });
    assert.equal(unknown.status, 404);
    assert.equal((await incidentRow(id)).status, 'triggered');
    assert.deepEqual(await auditOf(id), []);
  });

  it('two admins at once hand one resolve: its rules run once', async function () {
    const { id } = await gatedIncident();
    const before = hits('/resolved');
    const answers = await Promise.all([markResolved(id, { reason: 'first' }), markResolved(id, { reason: 'second' })]);
    const statuses = answers.map((r) => r.status).sort();
    assert.ok(statuses[0] === 202 && (statuses[1] === 202 || statuses[1] === 409), `answers ${statuses.join(', ')}`);
    await eventually(async () => (await incidentRow(id)).status === 'resolved', 30_000, 'resolved');
    await eventually(async () => hits('/resolved') > before, 30_000, 'the resolve rule ran');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(hits('/resolved'), before + 1, 'once');
    const resolves = await stack.db.db.selectFrom('incident_events').select('event_id').where('incident_id', '=', id).where('event_type', '=', 'incident.resolved').execute();
    assert.equal(resolves.length, 1);
  });

  // Marked days after PagerDuty resolved it, the incident's resolve time (and the stats' time to resolve)
  // would be the day an admin noticed.
  it("resolvedAt dates the resolve when PagerDuty's time is known; one in the future or before the incident is 400", async function () {
    const svc = newServiceId();
    const id = newIncidentId();
    const triggered = new Date(Date.now() - 2 * 3600_000);
    const res0 = await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { occurredAt: triggered.toISOString(), data: { created_at: triggered.toISOString(), service: { id: svc, type: 'service_reference', summary: 's' } } }));
    assert.equal(res0.status, 202);
    await eventually(async () => (await incidentRow(id).catch(() => undefined))?.status === 'triggered', 30_000, 'stored');
    for (const resolvedAt of [new Date(Date.now() + 3600_000).toISOString(), '1990-01-01T00:00:00Z']) {
      const bad = await markResolved(id, { reason: 'lost', resolvedAt });
      assert.equal(bad.status, 400, resolvedAt);
      assert.deepEqual(((await bad.json()) as { errors: { path: string }[] }).errors.map((e) => e.path), ['resolvedAt']);
    }
    assert.equal((await markResolved(id, { reason: 'lost', resolvedAt: 'yesterday' })).status, 400);
    assert.deepEqual(await auditOf(id), []);
    const resolvedAt = new Date(Date.now() - 3600_000);
    const ok = await markResolved(id, { reason: 'resolved in PagerDuty an hour ago', resolvedAt: resolvedAt.toISOString() });
    assert.equal(ok.status, 202, await ok.clone().text());
    const row = await eventually(async () => {
      const r = await incidentRow(id);
      return r.status === 'resolved' && r;
    }, 30_000, 'resolved');
    assert.equal(row.resolved_at?.toISOString(), resolvedAt.toISOString(), "PagerDuty's time, not the time it was marked");
    assert.equal(((await auditOf(id))[0]!.after as { resolvedAt?: string }).resolvedAt, resolvedAt.toISOString());
  });

  it('an incident whose workflow was terminated is resolved by a new run of it', async function () {
    const { id } = await gatedIncident();
    await stack.temporal.client.workflow.getHandle(incidentWorkflowId(id)).terminate('operator');
    const res = await markResolved(id, { reason: 'workflow terminated by hand' });
    assert.equal(res.status, 202, await res.clone().text());
    await eventually(async () => (await incidentRow(id)).status === 'resolved', 30_000, 'resolved by the new run');
  });

  it('Temporal not taking the resolve is a 503 naming no internals, and no audit entry is left', async function () {
    const { id } = await gatedIncident();
    const dead = await freePort();
    // No retry interceptor: the call fails at once, and no retry timer outlives the closed connection.
    const connection = Connection.lazy({ address: `127.0.0.1:${dead}`, interceptors: [] });
    try {
      const service = incidentService({ db: stack.db.db, temporal: new Client({ connection }), taskQueue: stack.taskQueue, logger: createLogger({ level: 'silent' }) });
      await assert.rejects(service.markResolved({ name: 'token:carol', scopes: ['admin'] } as never, id, { reason: 'temporal down' }), (err: Error & { status?: number }) => {
        assert.equal(err.status, 503);
        assert.doesNotMatch(err.message, new RegExp(String(dead)));
        return true;
      });
    } finally {
      await connection.close();
    }
    assert.deepEqual(await auditOf(id), [], 'the audit entry was rolled back with the transaction');
    assert.equal((await incidentRow(id)).status, 'triggered');
  });

  describe('the CLI', function () {
    let server: ApiServer;
    before(async function () {
      server = await startApiServer({ config: { ...stack.config, port: 0, host: '127.0.0.1' }, db: stack.db.db, temporal: stack.temporal.client, logger: createLogger({ level: 'silent' }) });
    });
    after(async function () {
      await server?.close();
    });

    it('selfheal incidents mark-resolved <id> --reason …: 0 and the incident resolved; without --reason a usage error; with a write token the 403', async function () {
      const { id } = await gatedIncident();
      const noReason = await selfheal(['incidents', 'mark-resolved', id], { SELFHEAL_URL: server.url, SELFHEAL_TOKEN: admin });
      assert.equal(noReason.code, 2, noReason.stderr);
      assert.match(noReason.stderr, /--reason/);
      const refused = await selfheal(['incidents', 'mark-resolved', id, '--reason', 'mine'], { SELFHEAL_URL: server.url, SELFHEAL_TOKEN: writer });
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /admin/);
      assert.equal((await incidentRow(id)).status, 'triggered');
      // A second ago, but never before the incident was created: the steps above can take less than a second,
      // and a time before its creation is the 400 "resolvedAt is out of range".
      const created = (await stack.db.db.selectFrom('incidents').select('created_at').where('id', '=', id).executeTakeFirstOrThrow()).created_at;
      const resolvedAt = new Date(Math.max(created.getTime() + 1, Date.now() - 1000)).toISOString();
      const ok = await selfheal(['incidents', 'mark-resolved', id, '--reason', 'lost resolve', '--resolved-at', resolvedAt], { SELFHEAL_URL: server.url, SELFHEAL_TOKEN: admin });
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, new RegExp(`incident ${id}: the resolve was handed to its workflow`));
      await eventually(async () => (await incidentRow(id)).status === 'resolved', 30_000, 'resolved');
    });
  });
});
