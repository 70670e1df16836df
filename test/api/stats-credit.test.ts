// A rule's effectiveness counts only what the rule itself did (docs/runbooks/read-the-stats.md: "of the
// incidents the rule acted on, how many it fixed alone"). Before, each rule's numbers took the incident's
// label over every rule's remediations, so a rule whose script failed showed an auto-remediated share of 1
// when another rule fixed the incident.
import assert from 'node:assert/strict';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { ADMIN_TOKEN } from '../helpers/stack.js';
import { sampleFor } from '../helpers/samples.js';

const at = (m: number) => new Date(Date.UTC(2026, 4, 10, 9, m));
const RANGE = 'since=2026-05-01T00:00:00Z&until=2026-06-01T00:00:00Z';
const INCIDENT = 'PCREDIT1';
const monitor = { id: 'PMON', type: 'service_reference', summary: 'monitoring' };

describe('effectiveness statistics: each rule is credited only with its own fixes', function () {
  let db: TestDatabase;
  let app: ReturnType<typeof createApp>;
  const json = async (path: string) => {
    const res = await app.request(path, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(res.status, 200, await res.clone().text());
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    return (await res.json()) as any;
  };

  before(async function () {
    db = await createTestDatabase();
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN_TOKEN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    app = createApp({ config, db: db.db, temporal: {} as never, logger: createLogger({ level: 'silent' }) }, allRoutes);

    // One incident, two rules on it: A's restart failed (and its check said unverified), then B's failover
    // succeeded and was verified, and the monitor resolved the incident; no person touched it.
    for (const id of ['rule-a', 'rule-b']) {
      const definition = { name: id, services: ['PSVC'], enabled: true, actions: [{ id: 'fix', type: 'script.ssh', script: 'fix.sh' }] };
      await db.db.insertInto('rules').values({ id, name: id, version: 1, enabled: true, definition: JSON.stringify(definition) }).execute();
      await db.db.insertInto('rule_versions').values({ rule_id: id, version: 1, definition: JSON.stringify(definition), change: 'create', actor: 'token:alice', created_at: at(0) }).execute();
    }
    await db.db
      .insertInto('incidents')
      .values({ id: INCIDENT, title: 'db down', status: 'resolved', service_id: 'PSVC', assignees: '[]', environment: '{}', workflow_id: `incident-${INCIDENT}`, pd_created_at: at(0), created_at: at(0), resolved_at: at(20) })
      .execute();
    for (const [sample, when, agent] of [['v3-incident.triggered-01.json', at(0), undefined], ['v3-incident.resolved-01.json', at(20), monitor]] as const) {
      const body = sampleFor(sample, INCIDENT, { occurredAt: when.toISOString() });
      if (agent) body.event.agent = agent;
      await db.db
        .insertInto('incident_events')
        .values({ event_id: body.event.id, incident_id: INCIDENT, event_type: String(body.event.event_type), resource_type: 'incident', occurred_at: when, payload: JSON.stringify(body) })
        .execute();
    }
    for (const [ruleId, status, verification, start] of [['rule-a', 'failed', 'unverified', 1], ['rule-b', 'succeeded', 'verified', 10]] as const) {
      const match = await db.db
        .insertInto('rule_matches')
        .values({ incident_id: INCIDENT, event_id: `E-${ruleId}`, rule_id: ruleId, rule_version: 1, rule_name: ruleId, explanation: '{}', decision: 'run', target: 'db-1', matched_at: at(start), verification })
        .returning('id')
        .executeTakeFirstOrThrow();
      const id = `${INCIDENT}:${ruleId}:a0:${match.id}`;
      await db.db
        .insertInto('action_runs')
        .values({ id, idempotency_key: id, incident_id: INCIDENT, match_id: String(match.id), rule_id: ruleId, rule_version: 1, action_index: 0, action_id: 'fix', action_type: 'script.ssh', status, started_at: at(start), finished_at: at(start + 1) })
        .execute();
    }
  });
  after(async () => db?.close());

  it("a rule whose run failed is not auto-remediated because another rule fixed the incident; the one that fixed it is", async function () {
    const a = await json(`/api/rules/rule-a/stats?${RANGE}`);
    assert.deepEqual(a.incidents, { 'auto-remediated': 0, assisted: 1, human: 0, open: 0 });
    assert.equal(a.autoRemediatedShare, 0);
    const b = await json(`/api/rules/rule-b/stats?${RANGE}`);
    assert.deepEqual(b.incidents, { 'auto-remediated': 1, assisted: 0, human: 0, open: 0 });
    assert.equal(b.autoRemediatedShare, 1);
  });

  it("overall: each rule's line says the same, while the fleet-wide label of the incident stays auto-remediated", async function () {
    const s = await json(`/api/stats?${RANGE}`);
    assert.deepEqual(s.incidents, { 'auto-remediated': 1, assisted: 0, human: 0, open: 0 }, 'automation as a whole fixed it');
    assert.equal(s.autoRemediatedShare, 1);
    const share = new Map(s.rules.map((r: { id: string; autoRemediatedShare: number | null }) => [r.id, r.autoRemediatedShare]));
    assert.deepEqual(Object.fromEntries(share), { 'rule-a': 0, 'rule-b': 1 });
  });
});
