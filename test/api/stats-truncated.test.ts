// An answer that read only part of the range says `truncated` (docs/runbooks/read-the-stats.md). The stats
// read at most MAX_INCIDENTS of the incidents the automation ran on, and a rule's stats at most as many
// incidents without it; before, the incidents past those caps were left out silently while `truncated`
// stayed false.
import assert from 'node:assert/strict';
import { sql, type KyselyPlugin } from 'kysely';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { MAX_INCIDENTS, MAX_MATCHES } from '../../src/services/stats.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { ADMIN_TOKEN } from '../helpers/stack.js';

const SINCE = Date.UTC(2026, 5, 1);
const iso = (ms: number) => new Date(ms).toISOString();
const RAN_ON = MAX_INCIDENTS + 1;
const DRY_DAY = new Date(SINCE + 2 * 86_400_000);

describe('effectiveness statistics say truncated when the incidents they label are past the cap', function () {
  let db: TestDatabase;
  let app: ReturnType<typeof createApp>;
  const json = async (path: string) => {
    const res = await app.request(path, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(res.status, 200, await res.clone().text());
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    return (await res.json()) as any;
  };

  before(async function () {
    assert.ok(RAN_ON < MAX_MATCHES, 'the matches alone stay under their own cap');
    db = await createTestDatabase();
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN_TOKEN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    app = createApp({ config, db: db.db, temporal: {} as never, logger: createLogger({ level: 'silent' }) }, allRoutes);
    await db.db.insertInto('rules').values({ id: 'rule-busy', name: 'rule-busy', version: 1, enabled: true, definition: JSON.stringify({ name: 'rule-busy', services: ['PBUSY'] }) }).execute();
    // One more incident than the cap, each opened the day before the range and run on once in it, one
    // second apart: no incident is opened in the range, so only the incidents ran on can pass the cap.
    const opened = new Date(SINCE - 86_400_000);
    const first = new Date(SINCE);
    await sql`insert into incidents (id, title, status, service_id, assignees, environment, workflow_id, pd_created_at, created_at)
      select 'PB' || g, 'busy', 'triggered', 'PBUSY', '[]'::jsonb, '{}'::jsonb, 'incident-PB' || g, ${opened}, ${opened} from generate_series(1, ${RAN_ON}) g`.execute(db.db);
    await sql`insert into rule_matches (incident_id, event_id, rule_id, rule_version, rule_name, explanation, decision, target, matched_at)
      select 'PB' || g, 'E-PB' || g, 'rule-busy', 1, 'rule-busy', '{}'::jsonb, 'run', 'db-1', ${first}::timestamptz + (g - 1) * interval '1 second' from generate_series(1, ${RAN_ON}) g`.execute(db.db);
    // A second rule, never live, matched the same incidents in dry run two days later: they are its
    // incidents without automation, again one more than the cap.
    await db.db.insertInto('rules').values({ id: 'rule-dry', name: 'rule-dry', version: 1, enabled: true, definition: JSON.stringify({ name: 'rule-dry', services: ['PNONE'], dryRun: true }) }).execute();
    await sql`insert into rule_matches (incident_id, event_id, rule_id, rule_version, rule_name, explanation, decision, target, matched_at)
      select 'PB' || g, 'E-DRY' || g, 'rule-dry', 1, 'rule-dry', '{}'::jsonb, 'dry_run', 'db-1', ${DRY_DAY}::timestamptz + (g - 1) * interval '1 second' from generate_series(1, ${RAN_ON}) g`.execute(db.db);
  });
  after(async () => db?.close());

  it('a rule that ran on more incidents than the cap: truncated, in its own stats and overall; on exactly the cap, not', async function () {
    const range = `since=${iso(SINCE)}&until=${iso(SINCE + 86_400_000)}`;
    const rule = await json(`/api/rules/rule-busy/stats?${range}`);
    assert.equal(rule.runs, RAN_ON, 'every match was read');
    assert.equal(rule.incidents.open, MAX_INCIDENTS, 'only the cap of incidents was labelled');
    assert.equal(rule.truncated, true);
    const overall = await json(`/api/stats?${range}`);
    assert.equal(overall.runs, RAN_ON);
    assert.equal(overall.truncated, true);

    // The range ends before the last match: the rule ran on exactly MAX_INCIDENTS incidents, all labelled.
    const exact = `since=${iso(SINCE)}&until=${iso(SINCE + MAX_INCIDENTS * 1000)}`;
    const ruleAtCap = await json(`/api/rules/rule-busy/stats?${exact}`);
    assert.deepEqual([ruleAtCap.runs, ruleAtCap.incidents.open, ruleAtCap.truncated], [MAX_INCIDENTS, MAX_INCIDENTS, false]);
    const overallAtCap = await json(`/api/stats?${exact}`);
    assert.deepEqual([overallAtCap.runs, overallAtCap.truncated], [MAX_INCIDENTS, false]);
  });

  // One answer here reads 20,001 matches and labels as many incidents: hundreds of MB and seconds. Ten at
  // once (a read token's whole burst) took 48 s and 1.7 GB, and every other caller waited seconds.
  it('answers at once: one computed per process, four wait their turn, the rest 503 with Retry-After', async function () {
    // The first answer's reads of rule_matches are held until the line is full, so a loaded host (the first
    // answer done before the last request reaches the gate) cannot make it look like fewer were turned away.
    let held = true;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const matchQueries = new Set<unknown>();
    const holdMatches: KyselyPlugin = {
      transformQuery(args) {
        if (JSON.stringify(args.node).includes('rule_matches')) matchQueries.add(args.queryId);
        return args.node;
      },
      async transformResult(args) {
        if (held && matchQueries.has(args.queryId)) await gate;
        return args.result;
      },
    };
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN_TOKEN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    const gated = createApp({ config, db: db.db.withPlugin(holdMatches), temporal: {} as never, logger: createLogger({ level: 'silent' }) }, allRoutes);
    const range = `since=${iso(SINCE)}&until=${iso(SINCE + 86_400_000)}`;
    const paths = Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? `/api/stats?${range}` : `/api/rules/rule-busy/stats?${range}`));
    const early: number[] = [];
    const pending = paths.map(async (p) => {
      const res = await gated.request(p, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      early.push(res.status);
      return res;
    });
    // Past the one computing and the four in line, the rest are answered while the first is still held.
    for (const deadline = Date.now() + 30_000; early.length < 3; ) {
      assert.ok(Date.now() < deadline, `only ${early.length} answered while the first was held`);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(early, [503, 503, 503]);
    held = false;
    release();
    const answers = await Promise.all(pending);
    const statuses = answers.map((a) => a.status).sort();
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 503, 503, 503]);
    for (const busy of answers.filter((a) => a.status === 503)) {
      assert.equal(busy.headers.get('retry-after'), '5');
      assert.equal(busy.headers.get('content-type'), 'application/problem+json');
      assert.match(((await busy.json()) as { detail: string }).detail, /computing as many statistics as it computes at once/);
    }
    for (const ok of answers.filter((a) => a.status === 200)) assert.equal(((await ok.json()) as { runs: number }).runs, RAN_ON);
    // The line empties: the next answer is computed.
    assert.equal((await json(`/api/stats?${range}`)).runs, RAN_ON);
  });

  it('a rule whose incidents without automation are more than the cap: truncated', async function () {
    const s = await json(`/api/rules/rule-dry/stats?since=${iso(DRY_DAY.getTime())}&until=${iso(DRY_DAY.getTime() + 86_400_000)}`);
    assert.deepEqual([s.runs, s.dryRuns, s.truncated], [0, RAN_ON, true]);
  });
});
