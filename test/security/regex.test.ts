// Attacks with super-linear regular expressions through every entry point: rule tests with a read token,
// rule validation and creation, saved rules and environment extractors in the worker, and the extractors
// file itself. The API and the worker run as their own processes (what production runs), so a pinned
// CPU shows as what an attacker would see: /healthz stops answering, incidents stop being processed.
// The deadlines are hang detectors, not speed figures.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startChildRoot, type ChildRoot } from '../helpers/fault-process.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { ADMIN_TOKEN, eventually, SAMPLE_HISTORY_DAYS, WEBHOOK_SECRET } from '../helpers/stack.js';
import { testTemporal } from '../helpers/temporal.js';
import { signBody } from '../../src/pagerduty/signature.js';
import { startApiProcess, watchHealth, type ApiProcess } from './attack.js';

const HANG = 60_000;
const DIGITS = '1'.repeat(3000);

/** Patterns that take a backtracking engine exponential or high-polynomial time on their subject. */
const EVIL: [pattern: string, subject: string][] = [
  ['\\d+\\d+\\d+\\d+x', DIGITS],
  ['(a+)+$', `${'a'.repeat(5000)}!`],
  ['(a|aa)+$', `${'a'.repeat(5000)}!`],
  ['^(\\w+\\s?)*$', `${'word '.repeat(3000)}!`],
  ['(.*a){12}$', `${'a'.repeat(5000)}b`],
];

describe('security: user regexes cannot stall the API or the worker', function () {
  this.timeout(300_000);
  let db: TestDatabase;
  let api: ApiProcess;
  let worker: ChildRoot;
  let readToken: string;
  let env: Record<string, string>;
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };

  before(async function () {
    const temporal = await testTemporal();
    db = await createTestDatabase();
    // An extractor an operator might write, super-linear on a title of digits.
    const extractorsFile = path.join(os.tmpdir(), `selfheal-security-extractors-${randomUUID()}.json`);
    await writeFile(extractorsFile, JSON.stringify({ extractors: [{ type: 'regex', source: 'title', pattern: '(?<host>\\d+\\d+\\d+\\d+x)' }] }));
    env = {
      DATABASE_URL: db.url,
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_TASK_QUEUE: `security-regex-${randomUUID()}`,
      SELFHEAL_ADMIN_TOKEN: ADMIN_TOKEN,
      PAGERDUTY_WEBHOOK_SECRETS: WEBHOOK_SECRET,
      SELFHEAL_RETENTION_DAYS: SAMPLE_HISTORY_DAYS,
      SELFHEAL_EXTRACTORS_FILE: extractorsFile,
    };
    api = await startApiProcess(env);
    worker = startChildRoot('src/worker.ts', env);
    await worker.waitFor(/worker started/, 90_000);
    const created = await fetch(`${api.url}/api/tokens`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'reader', scopes: ['read'] }) });
    assert.equal(created.status, 201);
    readToken = ((await created.json()) as { token: string }).token;
  });
  after(async function () {
    await worker?.stop();
    await api?.stop();
  });

  const post = (path: string, body: unknown, headers: Record<string, string> = admin) =>
    fetch(`${api.url}${path}`, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(HANG) });

  it('answers POST /api/rules/test (read token) with super-linear patterns while /healthz keeps answering', async function () {
    const reader = { authorization: `Bearer ${readToken}`, 'content-type': 'application/json' };
    for (const [pattern, subject] of [...EVIL, ['^Disk full', DIGITS] as [string, string]]) {
      const health = watchHealth(api.url);
      const rule = { name: 'evil', services: ['*'], conditions: { field: 'incident.title', op: 'matches', value: pattern }, actions: [{ type: 'pagerduty.note', content: 'x' }] };
      // The title also goes through the API's extractors (the super-linear one in SELFHEAL_EXTRACTORS_FILE).
      const res = await post('/api/rules/test', { rule, payload: sampleFor('v3-incident.triggered-01.json', newIncidentId(), { data: { title: subject } }) }, reader).catch((err: Error) =>
        assert.fail(`${pattern}: no answer within ${HANG} ms (${err.message})`),
      );
      const { answered, failures } = await health.stop();
      assert.equal(res.status, 200, `${pattern}: ${await res.clone().text()}`);
      const body = (await res.json()) as { matched: boolean; context: { environment: Record<string, unknown> } };
      assert.equal(body.matched, false, pattern);
      assert.equal(body.context.environment.host, undefined, 'the extractor looked and found no host');
      assert.deepEqual(failures, [], `${pattern}: /healthz stalled while the rule test ran`);
      assert.ok(answered >= 1, `${pattern}: /healthz answered ${answered} times`);
    }
  });

  it('validates and saves linear-time patterns, and refuses what RE2 cannot run with a 400 naming the construct', async function () {
    const reader = { authorization: `Bearer ${readToken}`, 'content-type': 'application/json' };
    const rule = (value: string) => ({ name: `re-${randomUUID().slice(0, 8)}`, services: ['*'], conditions: { field: 'incident.title', op: 'matches', value }, actions: [{ type: 'pagerduty.note', content: 'x' }] });
    for (const [pattern] of EVIL) {
      assert.equal((await post('/api/rules/validate', rule(pattern), reader)).status, 200, pattern);
    }
    for (const [pattern, construct] of [
      ['^Disk(?= full)', /^lookahead \(\?=…\) is not supported/],
      ['(?<!prod-)db', /^negative lookbehind/],
      ['(\\w+) \\1', /^backreference/],
    ] as const) {
      for (const [route, headers] of [['/api/rules/validate', reader], ['/api/rules', admin]] as const) {
        const res = await post(route, rule(pattern), headers);
        const problem = (await res.json()) as { errors: { path: string; message: string }[] };
        assert.equal(res.status, 400, `${route} ${pattern}: ${JSON.stringify(problem)}`);
        const issue = problem.errors.find((e) => e.path === 'conditions.value');
        assert.ok(issue && construct.test(issue.message), `${route} ${pattern}: ${JSON.stringify(problem.errors)}`);
      }
    }
  });

  // Our own patterns meet the same input: the template placeholder pattern was super-linear on `{{` and a
  // run of spaces with no `}}` (3,000 spaces held the API's event loop for a minute; 25,000 fit a note).
  it('answers a read token\'s rule validation and test of a template of `{{` and 25,000 spaces while /healthz keeps answering', async function () {
    const reader = { authorization: `Bearer ${readToken}`, 'content-type': 'application/json' };
    const content = `{{${' '.repeat(24_990)}`;
    const rule = { name: 'spaces', services: ['*'], actions: [{ type: 'pagerduty.note', content }] };
    for (const [route, body] of [
      ['/api/rules/validate', rule],
      ['/api/rules/test', { rule, payload: sampleFor('v3-incident.triggered-01.json', newIncidentId()) }],
    ] as const) {
      const health = watchHealth(api.url);
      const res = await post(route, body, reader).catch((err: Error) => assert.fail(`${route}: no answer within ${HANG} ms (${err.message})`));
      const { answered, failures } = await health.stop();
      assert.equal(res.status, 200, `${route}: ${await res.clone().text()}`);
      assert.deepEqual(failures, [], `${route}: /healthz stalled`);
      assert.ok(answered >= 1, `${route}: /healthz answered ${answered} times`);
    }
  });

  it('keeps processing incidents when a saved rule and an extractor meet their worst input in the worker', async function () {
    const service = newServiceId();
    const create = async (name: string, pattern: string) => {
      const res = await post('/api/rules', { name, services: [service], priority: name === 'evil' ? 10 : 20, dryRun: true, conditions: { field: 'incident.title', op: 'matches', value: pattern }, actions: [{ type: 'pagerduty.note', content: 'x' }] });
      assert.equal(res.status, 201, await res.clone().text());
    };
    await create('evil', '\\d+\\d+\\d+\\d+x');
    await create('digits', '^\\d+$');
    await create('disk', '^Disk full');
    const deliver = async (title: string) => {
      const id = newIncidentId();
      const raw = JSON.stringify(sampleFor('v3-incident.triggered-01.json', id, { data: { title, service: { id: service, type: 'service_reference', summary: 's' } } }));
      const res = await fetch(`${api.url}/webhooks/pagerduty`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-pagerduty-signature': signBody(raw, WEBHOOK_SECRET) }, body: raw });
      assert.equal(res.status, 202, await res.clone().text());
      return id;
    };
    const matched = (id: string) =>
      eventually(async () => {
        const rows = await db.db.selectFrom('rule_matches').select(['rule_name', 'decision']).where('incident_id', '=', id).execute();
        return rows.length > 0 ? rows.map((r) => [r.rule_name, r.decision]) : undefined;
      }, HANG, `rule matches of ${id}`);

    // The worker extracts (the super-linear extractor) and matches (the super-linear rule) on 3,000 digits…
    const evil = await deliver(DIGITS);
    // …and then still handles the next incident.
    const next = await deliver('Disk full on db-1');
    assert.deepEqual(await matched(evil), [['digits', 'dry_run']]);
    assert.deepEqual(await matched(next), [['disk', 'dry_run']]);
  });

  it('bounds the new engine too: a rule of many large patterns is refused within the rule budget, promptly', async function () {
    // Large counted repetitions make large programs; a rule's patterns together are capped, and checking
    // stops compiling once the cap is passed. (A guard for the engine itself: the old one ran these fast.)
    const reader = { authorization: `Bearer ${readToken}`, 'content-type': 'application/json' };
    const group = (g: number) => ({ any: Array.from({ length: 100 }, (_, i) => ({ field: 'incident.title', op: 'matches', value: `(?:[^x]{1000})(?:[^y]{1000})(?:[^z]{999})${g}-${i}` })) });
    const any = [0, 1, 2, 3].map(group);
    const health = watchHealth(api.url);
    const res = await post('/api/rules/test', { rule: { name: 'big', services: ['*'], conditions: { any }, actions: [{ type: 'pagerduty.note', content: 'x' }] }, payload: sampleFor('v3-incident.triggered-01.json', newIncidentId()) }, reader);
    const { failures } = await health.stop();
    const problem = (await res.json()) as { errors: { path: string; message: string }[] };
    assert.equal(res.status, 400, JSON.stringify(problem).slice(0, 300));
    assert.equal(problem.errors.length, 400);
    assert.deepEqual(problem.errors[0], { path: 'rule.conditions.any.0.any.0.value', message: 'pattern compiles to 3004 instructions; the limit is 1000 (counted repetition such as {500} is what makes a pattern large)' });
    for (const e of problem.errors.slice(1)) assert.match(e.message, /^the rule's regular expressions together compile to more than 2000 instructions/, e.path);
    assert.deepEqual(failures, [], '/healthz stalled while the rule was checked');
  });

  it('refuses to start with an extractors file RE2 cannot run, naming the construct', async function () {
    const file = path.join(os.tmpdir(), `selfheal-security-extractors-${randomUUID()}.json`);
    await writeFile(file, JSON.stringify({ extractors: [{ type: 'regex', source: 'title', pattern: '(?<host>\\S+)(?=\\.prod)' }] }));
    for (const entry of ['src/server.ts', 'src/worker.ts'] as const) {
      const child = startChildRoot(entry, { ...env, PORT: '0', HOST: '127.0.0.1', SELFHEAL_EXTRACTORS_FILE: file });
      await eventually(async () => child.process.exitCode !== null || /API listening|worker started/.test(child.output()), HANG, `${entry} to exit`);
      assert.notEqual(child.process.exitCode, null, `${entry} started with a lookahead extractor:\n${child.output().slice(-500)}`);
      assert.match(child.output(), /SELFHEAL_EXTRACTORS_FILE .*extractors\.0\.pattern lookahead \(\?=…\) is not supported/);
      await child.stop();
    }
  });
});
