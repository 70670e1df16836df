import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { writeAudit } from '../../src/db/repositories/audit.js';
import { optionFromData } from '../../src/domain/script-args.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';

export const ADMIN = 'rules-test-admin-token-0123456789';

/** The API over a fresh database, no Temporal (these routes never touch it). */
export async function routeHarness(db: TestDatabase) {
  // Many admin requests in bursts: the request budget is not what this tests (test/security/caller-budget
  // does), so it is set past them.
  const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1', SELFHEAL_RATE_LIMIT_BURST: '100000' });
  const app = createApp({ config, db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }) }, allRoutes);
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const h: Record<string, string> = { authorization: `Bearer ${ADMIN}`, ...headers };
    if (body !== undefined) h['content-type'] = 'application/json';
    const res = await app.request(path, { method, headers: h, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, any>) : {} }; // eslint-disable-line @typescript-eslint/no-explicit-any
  };
  return { app, call };
}

export const diskRule = (name = 'disk-full-cleanup') => ({
  name,
  description: 'Clean /var when a host disk is full',
  services: ['PA2P440'],
  conditions: {
    all: [
      { field: 'incident.urgency', op: 'equals', value: 'high' },
      { field: 'incident.title', op: 'matches', value: '^Disk (full|usage above \\d+%)', flags: 'i' },
    ],
  },
  actions: [
    { type: 'script.agent', script: 'disk-cleanup.sh', args: ['{{ environment.host }}'], idempotent: true },
    { type: 'pagerduty.note', content: 'Cleanup ran on {{ environment.host }} for {{ incident.title }}' },
  ],
});

describe('rules API', function () {
  let db: TestDatabase;
  let h: Awaited<ReturnType<typeof routeHarness>>;

  before(async function () {
    db = await createTestDatabase();
    h = await routeHarness(db);
  });
  beforeEach(async () => db.truncate());
  after(async () => db?.close());

  it('creates, reads and lists a rule with defaults applied and breaker state', async () => {
    const created = await h.call('POST', '/api/rules', diskRule());
    assert.equal(created.status, 201);
    assert.equal(created.body.version, 1);
    assert.equal(created.body.enabled, true);
    assert.deepEqual(created.body.eventTypes, ['incident.triggered']);
    assert.equal(created.body.actions[0].id, 'a0');
    assert.equal(created.headers.get('etag'), '"1"');

    const got = await h.call('GET', `/api/rules/${created.body.id}`);
    assert.equal(got.status, 200);
    assert.equal(got.body.name, 'disk-full-cleanup');
    assert.deepEqual(got.body.breaker, { state: 'closed', consecutiveFailures: 0, openedAt: null });

    await h.call('POST', '/api/rules', { ...diskRule('everything-off'), services: ['*'], enabled: false });
    await h.call('POST', '/api/rules', { ...diskRule('other-service'), services: ['PXXXXX1'] });
    const all = await h.call('GET', '/api/rules');
    assert.deepEqual(all.body.items.map((r: { name: string }) => r.name), ['disk-full-cleanup', 'everything-off', 'other-service']);
    const enabled = await h.call('GET', '/api/rules?enabled=true');
    assert.deepEqual(enabled.body.items.map((r: { name: string }) => r.name), ['disk-full-cleanup', 'other-service']);
    const forService = await h.call('GET', '/api/rules?service=PA2P440');
    assert.deepEqual(forService.body.items.map((r: { name: string }) => r.name), ['disk-full-cleanup', 'everything-off']);

    const row = await db.db.selectFrom('rules').selectAll().where('id', '=', created.body.id).executeTakeFirstOrThrow();
    assert.equal((row.definition as { dryRun: boolean }).dryRun, false, 'definition stores the parsed rule, defaults applied');
  });

  it('answers 400 problem+json listing every offending field path', async () => {
    const bad = {
      name: 'Bad Name',
      services: ['not a service'],
      conditions: { all: [{ field: 'incident.title', op: 'matches', value: '(\\w+) \\1' }, { field: 'nowhere.x', op: 'equals', value: 1 }] },
      actions: [{ type: 'script.agent', script: '../etc/passwd' }, { type: 'notify.slack', webhookUrlRef: 'https://hooks.slack.com/x', text: 'hi' }],
      stopOnMatches: true,
    };
    const res = await h.call('POST', '/api/rules', bad);
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
    assert.equal(res.body.status, 400);
    const paths = (res.body.errors as { path: string; message: string }[]).map((e) => e.path);
    for (const p of ['name', 'services.0', 'conditions.all.0.value', 'conditions.all.1.field', 'actions.0.script', 'actions.1.webhookUrlRef', 'stopOnMatches']) {
      assert.ok(paths.includes(p), `${p} missing from ${JSON.stringify(res.body.errors)}`);
    }
    const regex = res.body.errors.find((e: { path: string }) => e.path === 'conditions.all.0.value');
    assert.match(regex.message, /^backreference .* is not supported: patterns run on a linear-time engine/, 'a pattern RE2 cannot run is refused, naming the construct');
    assert.equal(await db.db.selectFrom('rules').select('id').executeTakeFirst(), undefined);

    const notJson = await h.call('POST', '/api/rules', '{nope');
    assert.equal(notJson.status, 400);
  });

  it('a save answers the same argument hints as validate, and stores the rule with them', async () => {
    const created = await h.call('POST', '/api/rules', diskRule());
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(created.body.warnings.map((w: { path: string }) => w.path), ['actions.0.args.0']);
    assert.match(created.body.warnings[0].message, /^"\{\{ environment\.host \}\}" begins with a value/);
    const put = await h.call('PUT', `/api/rules/${created.body.id}`, { ...diskRule(), actions: [{ type: 'script.agent', script: 'a.sh', args: ['--host={{ environment.host }}'] }] }, { 'if-match': '"1"' });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.equal(put.body.version, 2);
    assert.deepEqual(put.body.warnings, [], 'no hint once the value follows its flag');
    const back = await h.call('PUT', `/api/rules/${created.body.id}`, diskRule(), { 'if-match': '"2"' });
    assert.deepEqual(back.body.warnings.map((w: { path: string }) => w.path), ['actions.0.args.0']);
    // A save's answer goes back as it is (what a client editing the rule it got does): its warnings are ignored like its version.
    const roundTrip = await h.call('PUT', `/api/rules/${created.body.id}`, { ...back.body, priority: 7 }, { 'if-match': '"3"' });
    assert.equal(roundTrip.status, 200, JSON.stringify(roundTrip.body));
    assert.equal(roundTrip.body.priority, 7);
    // The hints are the answer's, not the rule's: reading it back shows the rule alone.
    const read = await h.call('GET', `/api/rules/${created.body.id}`);
    assert.equal(read.body.version, 4);
    assert.equal('warnings' in read.body, false);
  });

  it('rejects a duplicate name with 409', async () => {
    assert.equal((await h.call('POST', '/api/rules', diskRule())).status, 201);
    const dup = await h.call('POST', '/api/rules', diskRule());
    assert.equal(dup.status, 409);
    assert.equal(dup.body.errors[0].path, 'name');
  });

  it('validates without saving', async () => {
    const ok = await h.call('POST', '/api/rules/validate', diskRule());
    assert.equal(ok.status, 200);
    assert.equal(ok.body.valid, true);
    assert.equal(ok.body.rule.priority, 100);
    // The README's own args (a value at the head of an element) get a hint: a run refuses the action when
    // that value starts with "-".
    assert.deepEqual(ok.body.warnings.map((w: { path: string }) => w.path), ['actions.0.args.0']);
    assert.match(ok.body.warnings[0].message, /^"\{\{ environment\.host \}\}" begins with a value: when it starts with "-".*refuses the action.*'--host=\{\{ environment\.host \}\}'.*'--'/);
    const hinted = await h.call('POST', '/api/rules/validate', {
      ...diskRule(),
      actions: [
        { type: 'script.agent', script: 'a.sh', args: ['--dry-run', '--host={{ environment.host }}', '{{ incident.title }}{{ incident.id }}', '--', '{{ environment.host }}'] },
        { type: 'script.agent', script: 'b.sh', args: ['host={{ environment.host }}', ' {{ incident.title }}'] },
        { type: 'notify.webhook', url: 'https://hooks.example.com/x', body: '{{ incident.title }}' },
      ],
    });
    assert.equal(hinted.status, 200, JSON.stringify(hinted.body));
    assert.deepEqual(hinted.body.warnings.map((w: { path: string }) => w.path), ['actions.0.args.2'], 'only a value at the head of an element, before any --, of a script');
    const none = await h.call('POST', '/api/rules/validate', { ...diskRule(), actions: [{ type: 'script.agent', script: 'a.sh', args: ['--host={{ environment.host }}'] }] });
    assert.deepEqual(none.body.warnings, []);
    const bad = await h.call('POST', '/api/rules/validate', { ...diskRule(), priority: -1 });
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.body.errors.map((e: { path: string }) => e.path), ['priority']);
    assert.equal(await db.db.selectFrom('rules').select('id').executeTakeFirst(), undefined);
  });

  it('updates with optimistic concurrency, keeps versions, diffs and rolls back', async () => {
    const { body: r1 } = await h.call('POST', '/api/rules', diskRule());
    const id = r1.id as string;

    const noVersion = await h.call('PUT', `/api/rules/${id}`, { ...diskRule(), priority: 5 });
    assert.equal(noVersion.status, 428);

    const v2 = await h.call('PUT', `/api/rules/${id}`, { ...diskRule(), priority: 5 }, { 'if-match': '"1"' });
    assert.equal(v2.status, 200);
    assert.equal(v2.body.version, 2);
    assert.equal(v2.headers.get('etag'), '"2"');

    const stale = await h.call('PUT', `/api/rules/${id}`, { ...diskRule(), priority: 6 }, { 'if-match': '"1"' });
    assert.equal(stale.status, 409);
    assert.equal(stale.body.currentVersion, 2);

    // GET → edit → PUT round trip: read-only fields are ignored, version in the body is the precondition.
    const got = (await h.call('GET', `/api/rules/${id}`)).body;
    const v3 = await h.call('PUT', `/api/rules/${id}`, { ...got, enabled: false, description: 'off for now' });
    assert.equal(v3.status, 200, JSON.stringify(v3.body));
    assert.equal(v3.body.version, 3);
    assert.equal(v3.body.enabled, false);
    const row = await db.db.selectFrom('rules').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    assert.equal(row.enabled, false, 'rules.enabled mirrors the definition');
    assert.ok(row.updated_at.getTime() > new Date(r1.updatedAt).getTime(), 'updated_at is bumped');

    const same = await h.call('PUT', `/api/rules/${id}`, { ...got, enabled: false, description: 'off for now', version: 3 });
    assert.equal(same.body.version, 3, 'an identical body writes no new version');

    const badPut = await h.call('PUT', `/api/rules/${id}`, { ...diskRule(), actions: [] }, { 'if-match': '"3"' });
    assert.equal(badPut.status, 400);
    assert.deepEqual(badPut.body.errors.map((e: { path: string }) => e.path), ['actions']);

    const diff = await h.call('GET', `/api/rules/${id}/diff?from=1&to=3`);
    assert.equal(diff.status, 200);
    const changed = Object.fromEntries(diff.body.changes.map((c: { path: string; before: unknown; after: unknown }) => [c.path, [c.before, c.after]]));
    assert.deepEqual(changed, { description: ['Clean /var when a host disk is full', 'off for now'], enabled: [true, false], priority: [100, 5] });

    const rolled = await h.call('POST', `/api/rules/${id}/rollback`, { version: 1 });
    assert.equal(rolled.status, 200);
    assert.equal(rolled.body.version, 4);
    assert.equal(rolled.body.priority, 100);
    assert.equal(rolled.body.enabled, true);
    assert.deepEqual(rolled.body.warnings.map((w: { path: string }) => w.path), ['actions.0.args.0'], 'a rollback is a save: the same hints');

    const versions = await h.call('GET', `/api/rules/${id}/versions`);
    assert.deepEqual(versions.body.items.map((v: { version: number; change: string; actor: string }) => [v.version, v.change, v.actor]), [
      [1, 'create', 'admin-token'],
      [2, 'update', 'admin-token'],
      [3, 'update', 'admin-token'],
      [4, 'rollback', 'admin-token'],
    ]);
    assert.equal((await h.call('GET', `/api/rules/${id}/diff?from=1&to=4`)).body.changes.length, 0);
    assert.equal((await h.call('GET', `/api/rules/${id}/diff?from=1&to=9`)).status, 404);
    assert.equal((await h.call('POST', `/api/rules/${id}/rollback`, { version: 42 })).status, 404);
    const badRollback = await h.call('POST', `/api/rules/${id}/rollback`, { version: 'one' });
    assert.deepEqual(badRollback.body.errors.map((e: { path: string }) => e.path), ['version']);
  });

  it('pages a rule\'s versions, oldest first, by count and by the bytes of their definitions', async () => {
    // Found in review: every version went out whole, each definition up to 1 MiB, to any reader of the rule.
    const { body: r } = await h.call('POST', '/api/rules', diskRule());
    for (let v = 1; v <= 5; v++) assert.equal((await h.call('PUT', `/api/rules/${r.id}`, { ...diskRule(), priority: 10 + v }, { 'if-match': `"${v}"` })).status, 200);
    const pages: number[][] = [];
    let cursor: string | null = '';
    for (let i = 0; cursor !== null && i < 10; i++) {
      const page = await h.call('GET', `/api/rules/${r.id}/versions?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(page.status, 200, JSON.stringify(page.body));
      assert.equal(page.body.currentVersion, 6);
      pages.push(page.body.items.map((v: { version: number }) => v.version));
      cursor = page.body.nextCursor;
    }
    assert.deepEqual(pages, [[1, 2], [3, 4], [5, 6]]);
    const whole = await h.call('GET', `/api/rules/${r.id}/versions`);
    assert.deepEqual([whole.body.items.length, whole.body.nextCursor], [6, null], 'by default a page holds 50');
    for (const bad of ['cursor=abc', 'cursor=0', 'cursor=-1', 'limit=0', 'limit=101']) {
      const res = await h.call('GET', `/api/rules/${r.id}/versions?${bad}`);
      assert.equal(res.status, 400, bad);
      assert.deepEqual(res.body.errors.map((e: { path: string }) => e.path), [bad.split('=')[0]], bad);
    }
    // Three versions of 5 MiB each (stored as an older release could): a page stops before 8 MiB.
    const pad = 'x'.repeat(5 * 1024 * 1024);
    await db.db
      .insertInto('rule_versions')
      .values([7, 8, 9].map((version) => ({ rule_id: r.id, version, definition: JSON.stringify({ ...diskRule(), description: pad }), change: 'update', actor: 'test' })))
      .execute();
    const big: number[][] = [];
    cursor = '6';
    for (let i = 0; cursor !== null && i < 10; i++) {
      const page = await h.call('GET', `/api/rules/${r.id}/versions?cursor=${cursor}`);
      assert.equal(page.status, 200);
      big.push(page.body.items.map((v: { version: number }) => v.version));
      cursor = page.body.nextCursor;
    }
    assert.deepEqual(big, [[7], [8], [9]]);
  });

  it('soft-deletes: 404 afterwards, history kept, readable with includeDeleted, name reusable', async () => {
    const { body: r } = await h.call('POST', '/api/rules', diskRule());
    const del = await h.call('DELETE', `/api/rules/${r.id}`);
    assert.equal(del.status, 200);
    assert.equal(del.body.version, 2);
    assert.equal((await h.call('GET', `/api/rules/${r.id}`)).status, 404);
    assert.equal((await h.call('DELETE', `/api/rules/${r.id}`)).status, 404);
    assert.equal((await h.call('PUT', `/api/rules/${r.id}`, diskRule(), { 'if-match': '"2"' })).status, 404);
    const kept = await h.call('GET', `/api/rules/${r.id}?includeDeleted=true`);
    assert.equal(kept.status, 200);
    assert.ok(kept.body.deletedAt);
    assert.deepEqual((await h.call('GET', '/api/rules')).body.items, []);
    const versions = await h.call('GET', `/api/rules/${r.id}/versions`);
    assert.deepEqual(versions.body.items.map((v: { change: string }) => v.change), ['create', 'delete']);
    assert.equal((await h.call('POST', '/api/rules', diskRule())).status, 201, 'the name of a deleted rule can be reused');
    assert.equal((await h.call('GET', '/api/rules/nope')).status, 404);
  });

  it('writes audit rows in the same transaction, with the actor', async () => {
    const { body: r } = await h.call('POST', '/api/rules', diskRule());
    await h.call('PUT', `/api/rules/${r.id}`, { ...diskRule(), priority: 1 }, { 'if-match': '"1"' });
    await db.db.updateTable('rules').set({ breaker_state: 'open', consecutive_failures: 5, breaker_opened_at: new Date() }).where('id', '=', r.id).execute();
    const reset = await h.call('POST', `/api/rules/${r.id}/reset-breaker`);
    assert.equal(reset.status, 200);
    assert.deepEqual(reset.body.breaker, { state: 'closed', consecutiveFailures: 0, openedAt: null });
    await h.call('DELETE', `/api/rules/${r.id}`);

    const rows = await db.db.selectFrom('audit_log').selectAll().where('entity_id', '=', r.id).orderBy('id').execute();
    assert.deepEqual(rows.map((a) => [a.action, a.actor, a.entity_type]), [
      ['rule.create', 'admin-token', 'rule'],
      ['rule.update', 'admin-token', 'rule'],
      ['rule.reset-breaker', 'admin-token', 'rule'],
      ['rule.delete', 'admin-token', 'rule'],
    ]);
    assert.equal(rows[0]!.before, null);
    assert.equal((rows[1]!.before as { version: number }).version, 1);
    assert.equal((rows[1]!.after as { version: number }).version, 2);
    assert.deepEqual(rows[2]!.before, { state: 'open', consecutiveFailures: 5, openedAt: (rows[2]!.before as { openedAt: string }).openedAt });

    const audit = await h.call('GET', `/api/audit?entityType=rule&entityId=${r.id}&limit=3`);
    assert.equal(audit.status, 200);
    assert.deepEqual(audit.body.items.map((a: { action: string }) => a.action), ['rule.delete', 'rule.reset-breaker', 'rule.update']);
    const next = await h.call('GET', `/api/audit?entityType=rule&entityId=${r.id}&limit=3&cursor=${audit.body.nextCursor}`);
    assert.deepEqual(next.body.items.map((a: { action: string }) => a.action), ['rule.create']);
    assert.equal(next.body.nextCursor, null);
    assert.equal((await h.call('GET', '/api/audit?actor=someone-else')).body.items.length, 0);
  });

  it('an audit page stops at 4 MiB of entries, and its cursor walks on through every one', async () => {
    // Bounded by rows alone, 500 updates of a megabyte rule made one page of the audit a gigabyte.
    const big = 'x'.repeat(1024 * 1024);
    for (let i = 0; i < 6; i++) await writeAudit(db.db, { actor: 'admin-token', action: 'rule.update', entityType: 'rule', entityId: 'huge-rule', before: { i, big }, after: { i } });
    const seen: number[] = [];
    let cursor = '';
    for (let pages = 0; pages < 6; pages++) {
      const res = await h.app.request(`/api/audit?entityId=huge-rule&limit=500${cursor}`, { headers: { authorization: `Bearer ${ADMIN}` } });
      assert.equal(res.status, 200);
      const text = await res.text();
      const page = JSON.parse(text) as { items: { after: { i: number } }[]; nextCursor: string | null };
      assert.ok(page.items.length >= 1 && page.items.length <= 4, `page of ${page.items.length}`);
      assert.ok(text.length < 5 * 1024 * 1024, `a page of ${text.length} bytes`);
      seen.push(...page.items.map((e) => e.after.i));
      if (page.nextCursor === null) break;
      cursor = `&cursor=${page.nextCursor}`;
    }
    assert.deepEqual(seen, [5, 4, 3, 2, 1, 0], 'every entry once, newest first');
  });

  it('a failed change leaves neither a version nor an audit row', async () => {
    const { body: r } = await h.call('POST', '/api/rules', diskRule());
    await h.call('POST', '/api/rules', diskRule('second'));
    const clash = await h.call('PUT', `/api/rules/${r.id}`, diskRule('second'), { 'if-match': '"1"' });
    assert.equal(clash.status, 409);
    const versions = await db.db.selectFrom('rule_versions').select('version').where('rule_id', '=', r.id).execute();
    assert.equal(versions.length, 1);
    const audits = await db.db.selectFrom('audit_log').select('action').where('entity_id', '=', r.id).execute();
    assert.equal(audits.length, 1);
  });

  describe('test endpoint', () => {
    const diskPayload = () =>
      sampleFor('v3-incident.triggered-01.json', newIncidentId(), { data: { title: 'Disk full on db-07.prod.example.com', urgency: 'high' } });

    it('explains a match against a real webhook payload and renders actions without running them', async () => {
      const { body: r } = await h.call('POST', '/api/rules', diskRule());
      const res = await h.call('POST', `/api/rules/${r.id}/test`, { payload: diskPayload(), environment: { host: 'db-07' } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.matched, true);
      assert.deepEqual(res.body.appliesTo, { service: { id: 'PA2P440', matches: true }, eventType: { type: 'incident.triggered', matches: true } });
      assert.equal(res.body.explanation.kind, 'all');
      assert.equal(res.body.explanation.children.length, 2);
      assert.match(res.body.explanationText, /✓ .*incident\.urgency equals "high"/);
      assert.deepEqual(res.body.renderedActions[0].args, ['db-07']);
      assert.equal(res.body.renderedActions[1].content, 'Cleanup ran on db-07 for Disk full on db-07.prod.example.com');
      assert.equal(await db.db.selectFrom('rule_matches').select('id').executeTakeFirst(), undefined, 'nothing recorded');
      assert.equal(await db.db.selectFrom('incidents').select('id').executeTakeFirst(), undefined, 'nothing stored');
    });

    it('says why it does not match (sample title, other event type)', async () => {
      const { body: r } = await h.call('POST', '/api/rules', diskRule());
      const sample = sampleFor('v3-incident.triggered-01.json', newIncidentId());
      const res = await h.call('POST', `/api/rules/${r.id}/test`, { payload: sample.event });
      assert.equal(res.body.matched, false);
      assert.equal(res.body.appliesTo.service.matches, true);
      assert.match(res.body.explanationText, /✗ .*incident\.title matches/);
      const ack = sampleFor('v3-incident.acknowledged-01.json', newIncidentId());
      const res2 = await h.call('POST', `/api/rules/${r.id}/test`, { payload: ack });
      assert.equal(res2.body.appliesTo.eventType.matches, false);
      assert.equal(res2.body.matched, false);
    });

    it('tests against a stored incident', async () => {
      const { body: r } = await h.call('POST', '/api/rules', diskRule());
      const id = newIncidentId();
      await db.db
        .insertInto('incidents')
        .values({
          id,
          title: 'Disk usage above 95% on web-3',
          status: 'triggered',
          urgency: 'high',
          service_id: 'PA2P440',
          workflow_id: `incident-${id}`,
          assignees: '[]',
          environment: JSON.stringify({ host: 'web-3', sources: { host: 'x' } }),
        })
        .execute();
      const res = await h.call('POST', `/api/rules/${r.id}/test`, { incidentId: id });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.matched, true);
      assert.deepEqual(res.body.renderedActions[0].args, ['web-3']);
      assert.equal((await h.call('POST', `/api/rules/${r.id}/test`, { incidentId: 'PNOPE' })).status, 404);
    });

    it('tests an unsaved rule and reports bad requests with paths', async () => {
      const res = await h.call('POST', '/api/rules/test', { rule: diskRule(), payload: diskPayload(), environment: { host: 'h1' } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.matched, true);
      const bad = await h.call('POST', '/api/rules/test', { rule: { ...diskRule(), name: 'X Y' }, payload: diskPayload() });
      assert.equal(bad.status, 400);
      assert.deepEqual(bad.body.errors.map((e: { path: string }) => e.path), ['rule.name']);
      // What only the whole rule shows is refused as a save refuses it (parseRuleInput's cross-field check).
      const ownResolve = { ...diskRule(), actions: [...diskRule().actions, { type: 'pagerduty.resolve' }], verify: { within: '10m' } };
      const unsaveable = await h.call('POST', '/api/rules/test', { rule: ownResolve, payload: diskPayload() });
      assert.equal(unsaveable.status, 400, JSON.stringify(unsaveable.body));
      assert.deepEqual(unsaveable.body.errors.map((e: { path: string }) => e.path), ['rule.verify.check']);
      const neither = await h.call('POST', '/api/rules/test', { rule: diskRule() });
      assert.deepEqual(neither.body.errors.map((e: { path: string }) => e.path), ['payload']);
      const notPd = await h.call('POST', '/api/rules/test', { rule: diskRule(), payload: { hello: 1 } });
      assert.equal(notPd.status, 400);
      assert.ok(notPd.body.errors.some((e: { path: string }) => e.path === 'payload.event.data'));
    });

    it('says which script action (and verify check) the run would refuse when an incident value makes an argument an option', async () => {
      // The README's rule, and an alert whose custom detail host is '--apply': the run refuses disk-cleanup.sh
      // --apply (src/domain/script-args.ts); the test must say so instead of showing it as an action that runs.
      const alerts = [{ id: 'Q1', body: { details: { host: '--apply' } } }];
      const refusal = (actionId: string, path: string) => ({ actionId, path, argIndex: 0, reason: optionFromData(['{{ environment.host }}'], ['--apply']) });
      const unsaved = await h.call('POST', '/api/rules/test', { rule: diskRule(), payload: diskPayload(), alerts });
      assert.equal(unsaved.status, 200, JSON.stringify(unsaved.body));
      assert.equal(unsaved.body.matched, true);
      assert.deepEqual(unsaved.body.renderedActions[0].args, ['--apply']);
      assert.match(String(unsaved.body.refusedArgs?.[0]?.reason), /^args\.0: the value rendered into "\{\{ environment\.host \}\}" starts with "-"/);
      assert.deepEqual(unsaved.body.refusedArgs, [refusal('a0', 'actions.0')]);

      // A stored rule with a verify check that takes the host too: both are named.
      const withCheck = { ...diskRule(), verify: { within: '10m', check: { type: 'script.agent', script: 'disk/check.sh', args: ['{{ environment.host }}'] } } };
      const { body: r } = await h.call('POST', '/api/rules', withCheck);
      const stored = await h.call('POST', `/api/rules/${r.id}/test`, { payload: diskPayload(), alerts });
      assert.equal(stored.status, 200, JSON.stringify(stored.body));
      assert.deepEqual(stored.body.refusedArgs, [refusal('a0', 'actions.0'), refusal('check', 'verify.check')]);

      // Said even when the rule does not match (a preview while writing it), and for a stored incident.
      const other = await h.call('POST', `/api/rules/${r.id}/test`, { payload: sampleFor('v3-incident.triggered-01.json', newIncidentId()), alerts });
      assert.equal(other.body.matched, false);
      assert.equal(other.body.refusedArgs.length, 2);
      const id = newIncidentId();
      await db.db
        .insertInto('incidents')
        .values({ id, title: 'Disk full on web-3', status: 'triggered', urgency: 'high', service_id: 'PA2P440', workflow_id: `incident-${id}`, assignees: '[]', environment: JSON.stringify({ host: '-rf' }) })
        .execute();
      const fromIncident = await h.call('POST', `/api/rules/${r.id}/test`, { incidentId: id });
      assert.deepEqual(fromIncident.body.refusedArgs.map((x: { actionId: string; argIndex: number }) => [x.actionId, x.argIndex]), [['a0', 0], ['check', 0]]);

      // What the run lets through is not flagged: an ordinary host, the value inside its option, or after '--'.
      const fine = await h.call('POST', '/api/rules/test', { rule: diskRule(), payload: diskPayload(), environment: { host: 'db-07' } });
      assert.deepEqual(fine.body.refusedArgs, []);
      for (const args of [['--host={{ environment.host }}'], ['--', '{{ environment.host }}']]) {
        const rule = { ...diskRule(), actions: [{ type: 'script.agent', script: 'disk-cleanup.sh', args, idempotent: true }] };
        const res = await h.call('POST', '/api/rules/test', { rule, payload: diskPayload(), alerts });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.deepEqual(res.body.refusedArgs, [], JSON.stringify(args));
      }
    });
  });
});
