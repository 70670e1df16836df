import assert from 'node:assert/strict';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { mapConcurrent } from '../helpers/fault-http.js';
import { startHttpPeer, type HttpPeer } from '../helpers/http-peer.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';
import { proxyDatabase, type TcpProxy } from '../helpers/tcp-proxy.js';

// A burst of incidents on three hosts, two rules with one remediation per host at a time, and Postgres cut
// off in the middle of it (every connection dropped, new ones refused) for a few seconds. At the hosts (the
// remediation endpoint, which tracks what is in flight per host) never more than one at a time; afterwards
// every incident is matched once, each run finished, every lease released, nothing left running.
describe('fault: Postgres restarted during a burst, with per-host limits', function () {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let stack: Stack;
  let hook: HttpPeer;
  const inFlight = new Map<string, number>();
  const worst = new Map<string, number>();

  before(async function () {
    db = await createTestDatabase();
    let proxied: string;
    ({ proxy, url: proxied } = await proxyDatabase(db.url));
    hook = await startHttpPeer([
      {
        method: 'POST',
        path: '/hook',
        handle: async (req) => {
          const host = (req.json as { host: string }).host;
          const n = (inFlight.get(host) ?? 0) + 1;
          inFlight.set(host, n);
          worst.set(host, Math.max(worst.get(host) ?? 0, n));
          await new Promise((r) => setTimeout(r, 400));
          inFlight.set(host, (inFlight.get(host) ?? 1) - 1);
          return { status: 204 };
        },
      },
    ]);
    stack = await startStack({
      env: { ACTION_EGRESS_ALLOW: '127.0.0.1/32', DATABASE_URL: proxied },
      db,
      extractors: { extractors: [{ type: 'regex', source: 'title', pattern: '^\\[(?<host>[a-z0-9-]+)\\]' }] },
    });
  });
  after(async function () {
    proxy?.up();
    await stack?.stop();
    await proxy?.close();
    await hook?.close();
  });

  it('never runs two remediations on a host at once, and loses, repeats or strands nothing', async function () {
    this.timeout(300_000);
    const [svcA, svcB] = [newServiceId(), newServiceId()];
    for (const svc of [svcA, svcB]) {
      await insertRule(stack.db.db, {
        name: `burst-${svc.toLowerCase()}`,
        services: [svc],
        policies: { concurrencyPerTarget: 1 },
        actions: [{ id: 'fix', type: 'notify.webhook', url: `${hook.url}/hook`, body: '{"host": "{{ environment.host }}"}', retry: { maximumAttempts: 1 } }],
      });
    }
    const hosts = ['burst-1', 'burst-2', 'burst-3'];
    const ids = Array.from({ length: 36 }, () => newIncidentId());
    const payloads = ids.map((id, i) =>
      sampleFor('v3-incident.triggered-01.json', id, { data: { title: `[${hosts[i % 3]}] down`, service: { id: i % 2 ? svcA : svcB, type: 'service_reference', summary: 's' } } }),
    );
    const first = payloads.slice(0, 18);
    const rest = payloads.slice(18);
    assert.ok((await mapConcurrent(first, 9, async (p) => (await stack.deliver(p)).status)).every((s) => s === 202));
    // Postgres goes away mid-burst (every connection cut) and comes back 3 s later.
    await new Promise((r) => setTimeout(r, 300));
    proxy.down();
    assert.ok((await mapConcurrent(rest, 9, async (p) => (await stack.deliver(p)).status)).every((s) => s === 202));
    await new Promise((r) => setTimeout(r, 3000));
    proxy.up();

    const matches = await eventually(async () => {
      const m = await db.db.selectFrom('rule_matches').select(['incident_id', 'decision', 'skip_reason', 'target']).where('incident_id', 'in', ids).execute();
      return m.length === ids.length ? m : undefined;
    }, 180_000, 'every incident matched once');
    const ran = matches.filter((m) => m.decision === 'run');
    assert.ok(ran.length >= hosts.length, `${ran.length} runs`);
    for (const m of matches.filter((x) => x.decision !== 'run')) assert.match(m.skip_reason ?? '', /^concurrency: 1 remediation\(s\) already running on burst-\d/);

    const runs = await eventually(async () => {
      const r = await db.db.selectFrom('action_runs').select(['incident_id', 'status', 'finished_at', 'error', 'attempts']).where('incident_id', 'in', ids).execute();
      return r.length === ran.length && r.every((x) => x.finished_at) ? r : undefined;
    }, 180_000, 'every run finished');
    assert.ok(runs.every((r) => r.status === 'succeeded'), JSON.stringify(runs.filter((r) => r.status !== 'succeeded')));
    // At the hosts: one at a time, and one request per run.
    for (const h of hosts) assert.ok((worst.get(h) ?? 0) <= 1, `${h} had ${worst.get(h)} remediations at once`);
    assert.equal(hook.requests.length, ran.length);
    await eventually(async () => (await db.db.selectFrom('target_leases').select('id').where('incident_id', 'in', ids).where('released_at', 'is', null).execute()).length === 0, 60_000, 'every lease released');
    assert.equal((await db.db.selectFrom('incidents').select('id').where('id', 'in', ids).execute()).length, ids.length, 'no incident lost');
  });
});
