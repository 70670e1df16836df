// A seeded history with known effectiveness answers (issue 22), shared by the stats API, CLI and dashboard
// tests. One rule on service PSTATS: created in dry run on 2026-03-10, live from 2026-03-20.
//   B1, B2  before the rule (3600 s, 7200 s to resolve)        → without automation, human
//   D1      matched in dry run (1800 s)                         → without automation, human
//   W1      fix succeeded, the monitor resolved 3 min later     → auto-remediated (300 s), verified
//   W2      fix succeeded, a person annotated, then resolved    → assisted (1200 s), unverified
//   W3      fix failed, a person resolved                       → assisted (2400 s)
//   W4      fix succeeded, our own pagerduty.resolve resolved   → auto-remediated (180 s), verified
//   S1–S3   skipped: flapping on db-7 (twice), rate limit once  → open, human
//   X1      another service, resolved by a person (100 s)       → human
//   OLD     before the range                                    → not counted
import type { Kysely } from 'kysely';
import type { Database } from '../../src/db/database.js';
import { sampleFor } from './samples.js';

export const STATS_RANGE = { since: '2026-03-01T00:00:00Z', until: '2026-04-01T00:00:00Z' };
export const STATS_RULE_ID = 'rule-stats-1';
export const STATS_RULE_NAME = 'restart-replica';

const at = (day: number, h: number, m: number, s = 0) => new Date(Date.UTC(2026, 2, day, h, m, s));
const monitor = { id: 'PMON', type: 'service_reference', summary: 'monitoring' };

export async function seedStatsHistory(db: Kysely<Database>, prefix = ''): Promise<{ ruleId: string; ids: Record<string, string> }> {
  const ruleId = `${prefix}${STATS_RULE_ID}`;
  const ids: Record<string, string> = {};
  const def = (dryRun: boolean) => ({ name: `${prefix}${STATS_RULE_NAME}`, services: [`${prefix}PSTATS`], enabled: true, dryRun, actions: [{ id: 'fix', type: 'script.ssh', script: 'fix.sh' }] });
  await db.insertInto('rules').values({ id: ruleId, name: `${prefix}${STATS_RULE_NAME}`, version: 2, enabled: true, definition: JSON.stringify(def(false)) }).execute();
  await db
    .insertInto('rule_versions')
    .values([
      { rule_id: ruleId, version: 1, definition: JSON.stringify(def(true)), change: 'create', actor: 'token:alice', created_at: at(10, 0, 0) },
      { rule_id: ruleId, version: 2, definition: JSON.stringify(def(false)), change: 'update', actor: 'token:alice', created_at: at(20, 0, 0) },
    ])
    .execute();

  let seq = 0;
  async function incident(name: string, opened: Date, resolved: Date | null, service = `${prefix}PSTATS`) {
    const id = `${prefix}${name}`;
    ids[name] = id;
    await db
      .insertInto('incidents')
      .values({ id, title: name, status: resolved ? 'resolved' : 'triggered', service_id: service, assignees: '[]', environment: '{}', workflow_id: `incident-${id}`, pd_created_at: opened, created_at: opened, resolved_at: resolved })
      .execute();
    await event(id, 'v3-incident.triggered-01.json', opened);
    return id;
  }
  async function event(incidentId: string, sample: string, when: Date, agent?: Record<string, unknown>): Promise<string> {
    const body = sampleFor(sample, incidentId, { occurredAt: when.toISOString() });
    if (agent) body.event.agent = agent;
    await db
      .insertInto('incident_events')
      .values({ event_id: body.event.id, incident_id: incidentId, event_type: String(body.event.event_type), resource_type: 'incident', occurred_at: when, payload: JSON.stringify(body) })
      .execute();
    return body.event.id;
  }
  async function match(incidentId: string, when: Date, decision: string, extra: { skip_reason?: string; target?: string; verification?: string | null; version?: number } = {}) {
    const row = await db
      .insertInto('rule_matches')
      .values({
        incident_id: incidentId,
        event_id: `E-${incidentId}-${++seq}`,
        rule_id: ruleId,
        rule_version: extra.version ?? 2,
        rule_name: `${prefix}${STATS_RULE_NAME}`,
        explanation: '{}',
        decision,
        skip_reason: extra.skip_reason ?? null,
        target: extra.target ?? 'db-1',
        matched_at: when,
        verification: extra.verification ?? null,
        // A run's last write: its outcome counted for the breaker (the seeded runs have all ended).
        breaker_outcome: decision === 'run' ? JSON.stringify({ breaker: 'closed', opened: false, failures: 0, threshold: 5 }) : null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return String(row.id);
  }
  async function action(incidentId: string, matchId: string, status: string, start: Date, end: Date, type = 'script.ssh', index = 0) {
    const id = `${incidentId}:${ruleId}:a${index}:${matchId}`;
    await db
      .insertInto('action_runs')
      .values({ id, idempotency_key: id, incident_id: incidentId, match_id: matchId, rule_id: ruleId, rule_version: 2, action_index: index, action_id: `a${index}`, action_type: type, status, started_at: start, finished_at: end })
      .execute();
  }
  async function remediated(name: string, day: number, outcome: { status: string; verification: string | null }, after: (id: string) => Promise<Date>) {
    const opened = at(day, 10, 0);
    const id = await incident(name, opened, null);
    const m = await match(id, at(day, 10, 0, 30), 'run', { verification: outcome.verification });
    await action(id, m, outcome.status, at(day, 10, 1), at(day, 10, 2));
    await action(id, m, 'succeeded', at(day, 10, 2), at(day, 10, 2), 'notify.slack', 1);
    const resolved = await after(id);
    await db.updateTable('incidents').set({ status: 'resolved', resolved_at: resolved }).where('id', '=', id).execute();
  }

  await incident('OLD', new Date(Date.UTC(2026, 1, 20, 10)), new Date(Date.UTC(2026, 1, 20, 11)));
  for (const [name, day, seconds] of [['B1', 2, 3600], ['B2', 5, 7200]] as const) {
    const id = await incident(name, at(day, 10, 0), new Date(at(day, 10, 0).getTime() + seconds * 1000));
    await event(id, 'v3-incident.resolved-01.json', new Date(at(day, 10, 0).getTime() + seconds * 1000));
  }
  const d1 = await incident('D1', at(12, 10, 0), at(12, 10, 30));
  await match(d1, at(12, 10, 0, 30), 'dry_run', { version: 1 });
  await event(d1, 'v3-incident.resolved-01.json', at(12, 10, 30));

  await remediated('W1', 21, { status: 'succeeded', verification: 'verified' }, async (id) => {
    await event(id, 'v3-incident.resolved-01.json', at(21, 10, 5), monitor);
    return at(21, 10, 5);
  });
  await remediated('W2', 22, { status: 'succeeded', verification: 'unverified' }, async (id) => {
    await event(id, 'v3-incident.annotated-01.json', at(22, 10, 3));
    await event(id, 'v3-incident.resolved-01.json', at(22, 10, 20));
    return at(22, 10, 20);
  });
  await remediated('W3', 23, { status: 'failed', verification: null }, async (id) => {
    await event(id, 'v3-incident.resolved-01.json', at(23, 10, 40));
    return at(23, 10, 40);
  });
  await remediated('W4', 24, { status: 'succeeded', verification: 'verified' }, async (id) => {
    // The resolve our pagerduty.resolve action sent: PagerDuty names the API user as agent; the write is ours.
    const echo = await event(id, 'v3-incident.resolved-01.json', at(24, 10, 3));
    await db.insertInto('pagerduty_writes').values({ incident_id: id, kind: 'status', event_type: 'incident.resolved', value: 'resolved', state: 'done', matched_event_id: echo }).execute();
    return at(24, 10, 3);
  });
  for (const [name, reason] of [
    ['S1', 'flapping: db-7 was remediated 3 times in 10m'],
    ['S2', 'flapping: db-7 was remediated 4 times in 10m'],
    ['S3', 'rate limit: 3 runs in the last 60 s (max 2)'],
  ] as const) {
    const id = await incident(name, at(25, 10, 0), null);
    await match(id, at(25, 10, 0, 30), 'skipped', { skip_reason: reason, target: name === 'S3' ? 'db-1' : 'db-7' });
  }
  const x1 = await incident('X1', at(26, 10, 0), new Date(at(26, 10, 0).getTime() + 100_000), `${prefix}POTHER`);
  await event(x1, 'v3-incident.resolved-01.json', new Date(at(26, 10, 0).getTime() + 100_000));
  return { ruleId, ids };
}
