import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { sql } from 'kysely';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { loadRuleVersions } from '../../src/db/repositories/history.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { seededIncident, storeHistory, storeRecordedMatch, TITLE_EXTRACTORS, type SeededIncident } from '../helpers/history.js';
import { insertRule } from '../helpers/rules.js';

// An as-recorded backtest (POST /api/rules/backtest with replay: 'as-recorded') reads only the versions of
// the rule its window meets, warm-up included, and counts and measures them first. Before, it read every
// version ever stored (each up to 1 MiB), whatever the window: a rule saved thousands of times made one
// request read gigabytes.

const ADMIN = 'backtest-versions-admin-token-0123456789';
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const MiB = 1024 * 1024;

describe('API: as-recorded backtests read the rule versions their window meets', function () {
  let db: TestDatabase;
  let call: (body: unknown) => Promise<{ status: number; body: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** The window's start: five days ago, on the hour; the window is [T, T + 6h). */
  let T: Date;
  let to: Date;
  const at = (ms: number) => new Date(T.getTime() + ms);

  const disk = (over: Record<string, unknown> = {}) => ({
    name: 'disk-versions',
    services: ['PSTORAGE1'],
    conditions: { field: 'incident.title', op: 'contains', value: 'Disk full' },
    actions: [{ id: 'note', type: 'pagerduty.note', content: 'cleaning {{ environment.host }}' }],
    ...over,
  });

  /**
   * A rule whose versions are `versions` (version 1 first), each created at its `at`, stored as the rules
   * API leaves them, with the rule at its last version.
   */
  async function storeRule(versions: { at: Date; doc: Record<string, unknown> }[]): Promise<string> {
    const id = await insertRule(db.db, versions[0]!.doc as never);
    await db.db.updateTable('rule_versions').set({ created_at: versions[0]!.at }).where('rule_id', '=', id).execute();
    for (const [i, v] of versions.slice(1).entries()) {
      await db.db.insertInto('rule_versions').values({ rule_id: id, version: i + 2, definition: JSON.stringify(v.doc), change: 'update', actor: 'token:rule-author', created_at: v.at }).execute();
    }
    const last = versions[versions.length - 1]!;
    await db.db.updateTable('rules').set({ version: versions.length, definition: JSON.stringify(last.doc) }).where('id', '=', id).execute();
    return id;
  }

  /** Versions `first`..`last` of the rule, the nth created `first + n` seconds after `since`, with `definition` (SQL). */
  async function storeManyVersions(ruleId: string, first: number, last: number, since: Date, definition: ReturnType<typeof sql>) {
    await sql`
      insert into rule_versions (rule_id, version, definition, change, actor, created_at)
      select ${ruleId}, g, ${definition}, 'update', 'token:rule-author', ${since}::timestamptz + g * interval '1 second'
      from generate_series(${first}::int, ${last}::int) g`.execute(db.db);
  }

  before(async function () {
    db = await createTestDatabase();
    T = new Date(Math.floor(Date.now() / HOUR) * HOUR - 5 * DAY);
    to = at(6 * HOUR);
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1', SELFHEAL_RATE_LIMIT_BURST: '100000' });
    const app = createApp({ config, db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }), extractors: TITLE_EXTRACTORS }, allRoutes);
    call = async (body) => {
      const res = await app.request('/api/rules/backtest', { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, body: await res.json() };
    };
  });
  after(async () => db?.close());

  it('replays the versions in force in the window and its warm-up, with the results of reading every version; no other version is read', async function () {
    const cooldown = { policies: { cooldownSeconds: 2 * 3600 } };
    const ruleId = await storeRule([
      { at: at(-5 * DAY), doc: disk({ conditions: { field: 'incident.title', op: 'contains', value: 'Queue' } }) },
      { at: at(-3 * DAY), doc: disk(cooldown) },
      { at: at(-30 * MINUTE), doc: disk({ ...cooldown, description: 'v3: the same, described' }) },
      { at: at(3 * HOUR), doc: disk({ ...cooldown, conditions: { field: 'incident.title', op: 'contains', value: 'Disk usage' } }) },
      { at: at(8 * HOUR), doc: disk({ ...cooldown, conditions: { field: 'incident.title', op: 'contains', value: 'Disk' } }) },
    ]);
    const incident = (id: string, host: string, ms: number, problem?: string): SeededIncident => seededIncident({ id, host, environment: 'prod-eu', at: at(ms), ...(problem ? { problem } : {}) });
    const history = [
      incident('PV0', 'web-1', -4 * HOUR), // before the warm-up
      incident('PV1', 'web-1', -1 * HOUR), // in the warm-up: version 2 runs on web-1, which cools down until T + 1h
      incident('PV2', 'web-1', 30 * MINUTE), // version 3 matches; web-1 still cools down
      incident('PV3', 'web-2', 2 * HOUR), // version 3 runs
      incident('PV4', 'web-3', 4 * HOUR), // version 4 takes only "Disk usage"
      incident('PV5', 'web-3', 5 * HOUR, 'Disk usage above 95%'), // version 4 runs
      incident('PV6', 'web-4', 7 * HOUR), // after the window
    ];
    await storeHistory(db.db, history);
    // What the pipeline decided at the time, by the version in force then.
    const recorded: [SeededIncident, number, string, string | null][] = [
      [history[1]!, 2, 'run', null],
      [history[2]!, 3, 'skipped', 'cooldown: web-1 had a run 90 minutes before'],
      [history[3]!, 3, 'run', null],
      [history[5]!, 4, 'run', null],
    ];
    for (const [inc, version, decision, skipReason] of recorded) {
      const e = inc.events[0]!;
      await storeRecordedMatch(db.db, {
        incidentId: inc.id,
        eventId: e.eventId,
        ruleId,
        version,
        decision,
        skipReason,
        target: inc.host,
        matchedAt: e.at,
        actions: decision === 'run' ? [{ status: 'succeeded', finishedAt: new Date(e.at.getTime() + 20_000), type: 'pagerduty.note' }] : [],
      });
    }

    const res = await call({ ruleId, replay: 'as-recorded', from: T.toISOString(), to: to.toISOString(), only: 'all', limit: 500 });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const s = res.body.summary;
    // The warm-up is the cooldown of the versions in force: two hours, as when every version was read.
    assert.equal(s.window.warmupFrom, at(-2 * HOUR).toISOString());
    assert.equal(s.events.read, 5, 'the warm-up event and the four of the window');
    const outcomes = res.body.items.map((i: { incident: { id: string }; candidate: { version?: number; matched: boolean; decision?: string; policy?: string } }) => [
      i.incident.id,
      i.candidate.version,
      i.candidate.matched,
      i.candidate.decision ?? null,
      i.candidate.policy ?? null,
    ]);
    assert.deepEqual(outcomes, [
      ['PV2', 3, true, 'skipped', 'cooldown'], // the warm-up's run by version 2 still cools web-1 down
      ['PV3', 3, true, 'run', null],
      ['PV4', 4, false, null, null],
      ['PV5', 4, true, 'run', null],
    ]);
    assert.deepEqual(s.vsRecorded.agreement, { same: 3, of: 3 });
    assert.deepEqual(Object.values(s.vsRecorded.counts).filter((n) => n !== 0), []);

    // The versions read: those in force at some instant of the warm-up and the window, and no other.
    const versionsOf = async (from: Date, until: Date) => (await loadRuleVersions(db.db, ruleId, { from, to: until })).map((v) => v.version);
    assert.deepEqual(await versionsOf(at(-2 * HOUR), to), [2, 3, 4], 'the window with its warm-up');
    assert.deepEqual(await versionsOf(T, to), [3, 4], 'the window alone: version 3 was in force at its start');
    assert.deepEqual(await versionsOf(at(3 * HOUR), to), [4], 'a version created at from is the one in force');
    assert.deepEqual(await versionsOf(at(-30 * MINUTE - 1), at(-30 * MINUTE)), [2], 'to is not in the window');
    assert.deepEqual(await versionsOf(at(7 * HOUR), at(9 * HOUR)), [4, 5]);
    assert.deepEqual(await versionsOf(at(-10 * DAY), at(-6 * DAY)), [], 'before the rule existed');
    assert.deepEqual(await versionsOf(at(9 * HOUR), at(10 * HOUR)), [5], 'after the last version');
  });

  it('reads versions stored with creation times out of order as the lane takes them: in version order', async function () {
    // Two saves whose transactions overlapped: version 2 was created before version 1 (now() is when a
    // transaction began). The lane takes version 2 once version 1 exists, and version 1 at no instant.
    const ruleId = await storeRule([
      { at: at(-1 * HOUR), doc: disk({ name: 'disk-overlap' }) },
      { at: at(-3 * HOUR), doc: disk({ name: 'disk-overlap', description: 'v2' }) },
      { at: at(1 * HOUR), doc: disk({ name: 'disk-overlap', description: 'v3' }) },
    ]);
    const versionsOf = async (from: Date, until: Date) => (await loadRuleVersions(db.db, ruleId, { from, to: until })).map((v) => v.version);
    assert.deepEqual(await versionsOf(T, at(2 * HOUR)), [2, 3]);
    // Version 1 is read though the lane takes it at no instant (version 2 takes over as soon as version 1
    // exists): between the bounds, every version is read.
    assert.deepEqual(await versionsOf(at(-2 * HOUR), T), [1, 2]);
    assert.deepEqual(await versionsOf(at(-4 * HOUR), at(-2 * HOUR)), [], 'version 1 did not exist yet');
  });

  it('refuses a window meeting more than 1000 versions before reading any, naming from; a later from that fits is answered', async function () {
    const ruleId = await storeRule([{ at: at(-1 * DAY), doc: disk({ name: 'disk-many' }) }]);
    // Versions 2 to 1002, a second apart from T + 1h: with version 1, in force at T, the window meets 1002.
    await storeManyVersions(ruleId, 2, 1002, at(1 * HOUR), sql`${JSON.stringify(disk({ name: 'disk-many' }))}::jsonb`);
    const res = await call({ ruleId, replay: 'as-recorded', from: T.toISOString(), to: to.toISOString() });
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.equal(
      res.body.detail,
      `the window meets 1002 versions of rule ${ruleId} (warm-up included), more than the cap of 1000: narrow it with a later from (or an earlier to)`,
    );
    assert.deepEqual(res.body.errors, [{ path: 'from', message: 'the window meets more than 1000 versions of the rule' }]);
    assert.deepEqual([res.body.versions, res.body.maxVersions], [1002, 1000]);
    // The same window given by since: the field to change is since.
    const since = await call({ ruleId, replay: 'as-recorded', since: '6h', to: to.toISOString() });
    assert.equal(since.status, 400);
    assert.match(since.body.detail, /: narrow it with a shorter since \(or an earlier to\)$/);
    assert.deepEqual(since.body.errors.map((e: { path: string }) => e.path), ['since']);

    // From version 3's creation on, the window meets versions 3 to 1002: 1000, the cap itself.
    const atCap = await call({ ruleId, replay: 'as-recorded', from: new Date(at(1 * HOUR).getTime() + 3000).toISOString(), to: to.toISOString() });
    assert.equal(atCap.status, 200, JSON.stringify(atCap.body));
    const later = await call({ ruleId, replay: 'as-recorded', from: at(2 * HOUR).toISOString(), to: to.toISOString() });
    assert.equal(later.status, 200, JSON.stringify(later.body));
  });

  it('refuses a window whose versions hold more than 64 MiB of definitions before reading any; a later from that fits is answered', async function () {
    const doc = disk({ name: 'disk-large' });
    const ruleId = await storeRule([{ at: at(-1 * DAY), doc }]);
    // Versions 2 to 66, a second apart from T + 1h, each with a description of 1 MiB: 65 MiB and more.
    await storeManyVersions(ruleId, 2, 66, at(1 * HOUR), sql`${JSON.stringify(doc)}::jsonb || jsonb_build_object('description', repeat('x', ${MiB}::int))`);
    await db.db.insertInto('rule_versions').values({ rule_id: ruleId, version: 67, definition: JSON.stringify(doc), change: 'update', actor: 'token:rule-author', created_at: at(2 * HOUR) }).execute();
    const res = await call({ ruleId, replay: 'as-recorded', from: T.toISOString(), to: to.toISOString() });
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.match(
      res.body.detail,
      new RegExp(`^the 67 versions of rule ${ruleId} that the window meets \\(warm-up included\\) hold 65\\.\\d MiB of definitions, more than the cap of 64\\.0 MiB: narrow it with a later from \\(or an earlier to\\)$`),
    );
    assert.deepEqual(res.body.errors, [{ path: 'from', message: 'the versions of the rule the window meets hold more than 64.0 MiB' }]);
    assert.ok(res.body.bytes > 65 * MiB && res.body.bytes < 66 * MiB, String(res.body.bytes));
    assert.equal(res.body.maxBytes, 64 * MiB);

    // From version 4's creation on: 63 large versions and a small one, under 64 MiB.
    const under = await call({ ruleId, replay: 'as-recorded', from: new Date(at(1 * HOUR).getTime() + 4000).toISOString(), to: to.toISOString() });
    assert.equal(under.status, 200, JSON.stringify(under.body).slice(0, 2000));
    const later = await call({ ruleId, replay: 'as-recorded', from: at(3 * HOUR).toISOString(), to: to.toISOString() });
    assert.equal(later.status, 200, JSON.stringify(later.body).slice(0, 2000));
  });
});
