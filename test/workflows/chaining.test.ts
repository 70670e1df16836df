import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ActionWhen } from '../../src/contracts/index.js';
import { explainChain } from '../../src/domain/rules/chaining.js';
import { startHttpPeer, type HttpPeer } from '../helpers/http-peer.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

// The chaining rule through the real workflow: random rules (random `when`s, random actions failing at the
// peer) run end to end, and what ran (requests at the peer) and what was recorded must be what the
// documented rule says. The pure rule itself is checked on thousands of cases in test/unit/rules-chaining.
describe('rule chaining through the workflow (random rules and outcomes)', function () {
  let stack: Stack;
  let hook: HttpPeer;
  const failing = new Set<string>();

  before(async function () {
    hook = await startHttpPeer([{ method: 'POST', path: /^\/hook\/(?<key>[a-z0-9-]+)$/, handle: (req) => ({ status: failing.has(req.params.key!) ? 500 : 204 }) }]);
    stack = await startStack({ env: { ACTION_EGRESS_ALLOW: '127.0.0.1/32' } });
  });
  after(async function () {
    await stack?.stop();
    await hook?.close();
  });

  it('every action runs or is skipped as explainChain says, with the same reason', async function () {
    this.timeout(300_000);
    const seed = Number(process.env.CHAINING_SEED ?? Date.now() % 1_000_000);
    const rules = fc.sample(
      fc.array(fc.record({ when: fc.constantFrom<ActionWhen>('success', 'failure', 'always'), fails: fc.boolean() }), { minLength: 1, maxLength: 6 }),
      { numRuns: 8, seed },
    );
    await Promise.all(
      rules.map(async (spec, r) => {
        const svc = newServiceId();
        const key = (i: number) => `${svc.toLowerCase()}-a${i}`;
        spec.forEach((a, i) => a.fails && failing.add(key(i)));
        await insertRule(stack.db.db, {
          name: `chain-${svc.toLowerCase()}`,
          services: [svc],
          actions: spec.map((a, i) => ({ id: `a${i}`, type: 'notify.webhook' as const, url: `${hook.url}/hook/${key(i)}`, body: '{}', when: a.when, retry: { maximumAttempts: 1 } })),
        });
        const id = newIncidentId();
        await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { service: { id: svc, type: 'service_reference', summary: 's' } } }));
        const runs = await eventually(async () => {
          const rows = await stack.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).orderBy('action_index').execute();
          return rows.length === spec.length && rows.every((x) => x.finished_at) ? rows : undefined;
        }, 120_000, `rule ${r} (seed ${seed}) to finish`);
        const expected = explainChain(
          spec.map((a, i) => ({ id: `a${i}`, when: a.when })),
          (id) => (spec[Number(id.slice(1))]!.fails ? 'failed' : 'succeeded'),
        );
        const context = `seed ${seed}, rule ${JSON.stringify(spec)}`;
        assert.deepEqual(runs.map((x) => [x.action_id, x.status, x.reason]), expected.map((e) => [e.actionId, e.status, e.reason]), context);
        spec.forEach((_, i) => {
          const requests = hook.requests.filter((q) => q.path === `/hook/${key(i)}`).length;
          assert.equal(requests, expected[i]!.run ? 1 : 0, `a${i}: ${context}`);
        });
      }),
    );
  });
});
