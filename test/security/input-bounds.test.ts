// Attacks on the API's input bounds, against the real API process (src/server.ts) with real Postgres and
// Temporal: oversized bodies on every route, chunked and declared, with and without a token; JSON
// nested too deep or holding huge strings. What is asserted is what the attacker sees: the answer, how
// much of the upload the server took before answering, whether it hung up, and the process's memory.
// Last, the document a body carries to POST /ui/convert, in process (it needs no Temporal).
import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { convertOffThread, MAX_WAITING_CONVERSIONS } from '../../src/api/convert.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { ADMIN_TOKEN, SAMPLE_HISTORY_DAYS, WEBHOOK_SECRET } from '../helpers/stack.js';
import { testTemporal } from '../helpers/temporal.js';
import { signBody } from '../../src/pagerduty/signature.js';
import { startApiProcess, upload, type ApiProcess } from './attack.js';

const MiB = 1024 * 1024;
/** What each attack tries to send: far more than any limit (256 KiB, 1 MiB, 4 MiB) and than the server discards after one (64 MiB). */
const ATTACK_BYTES = 128 * MiB;

describe('security: every request body is bounded while it streams', function () {
  let db: TestDatabase;
  let api: ApiProcess;
  const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };

  before(async function () {
    const temporal = await testTemporal();
    db = await createTestDatabase();
    api = await startApiProcess({
      DATABASE_URL: db.url,
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_TASK_QUEUE: `security-bounds-${Date.now()}`,
      SELFHEAL_ADMIN_TOKEN: ADMIN_TOKEN,
      PAGERDUTY_WEBHOOK_SECRETS: WEBHOOK_SECRET,
      SELFHEAL_RETENTION_DAYS: SAMPLE_HISTORY_DAYS,
    });
  });
  after(async function () {
    await api?.stop();
  });

  /** Every route that takes a body: the known ones, and whatever the OpenAPI document lists. */
  async function bodyRoutes(): Promise<[string, string][]> {
    const known: [string, string][] = [
      ['POST', '/webhooks/pagerduty'],
      ['POST', '/api/rules'],
      ['POST', '/api/rules/validate'],
      ['POST', '/api/rules/test'],
      ['PUT', '/api/rules/r-1'],
      ['POST', '/api/rules/r-1/test'],
      ['POST', '/api/rules/r-1/rollback'],
      ['POST', '/api/environments'],
      ['PUT', '/api/environments/prod'],
      ['POST', '/api/environments/prod/check'],
      ['POST', '/api/jobs'],
      ['PUT', '/api/jobs/j-1'],
      ['POST', '/api/jobs/j-1/trigger'],
      ['POST', '/api/jobs/j-1/backfill'],
      ['POST', '/api/tokens'],
      ['POST', '/api/incidents/Q1/approvals/1'],
      ['DELETE', '/api/rules/r-1'],
      ['POST', '/ui/convert'],
      ['POST', '/no/such/route'],
    ];
    const doc = (await (await fetch(`${api.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const method of Object.keys(ops)) {
        if (!['post', 'put', 'patch', 'delete'].includes(method)) continue;
        const concrete = path.replace(/\{[^}]+\}/g, 'x1');
        if (!known.some(([m, p]) => m === method.toUpperCase() && p.replace(/[^/]+$/, '') === concrete.replace(/[^/]+$/, '') && p.split('/').length === concrete.split('/').length)) {
          known.push([method.toUpperCase(), concrete]);
        }
      }
    }
    return known;
  }

  it('answers 413 to an oversized chunked body on every route, with or without a token, after reading little of it', async function () {
    this.timeout(600_000);
    const routes = await bodyRoutes();
    assert.ok(routes.length >= 19);
    const seen: string[] = [];
    for (const [method, path] of routes) {
      for (const headers of [auth, {}]) {
        const label = `${method} ${path} ${'authorization' in headers ? 'with' : 'without'} a token`;
        const before = api.memory().peak;
        const r = await upload({ port: api.port, method, path, headers, total: ATTACK_BYTES }).catch((err: Error) => assert.fail(`${label}: ${err.message}`));
        const grew = api.memory().peak - before;
        seen.push(`${label}: ${r.status} after ${(r.sentBeforeAnswer / MiB).toFixed(1)} MiB, peak RSS +${(grew / MiB).toFixed(1)} MiB`);
        // The server answered long before the upload was through: it stopped reading. (What the client got
        // onto the wire before the answer includes the kernel's socket buffers, a few MiB.)
        assert.equal(r.sentEverything, false, `${label}: the server took all ${ATTACK_BYTES} bytes, then answered ${r.status}; peak RSS +${grew} bytes`);
        assert.ok(r.sentBeforeAnswer < ATTACK_BYTES / 2, `${label}: ${r.sentBeforeAnswer} bytes went in before the answer`);
        // The process never held the upload: its peak resident memory grew by far less than one attack.
        assert.ok(grew < 32 * MiB, `${label}: peak RSS grew by ${grew} bytes`);
        assert.equal(r.status, 413, `${label}: ${r.status} ${r.body.slice(0, 200)}`);
        assert.equal(r.headers['content-type'], 'application/problem+json', label);
        assert.match(JSON.parse(r.body).detail, /^the body exceeds \d+ bytes, the limit of /, label);
        // …and then hung up (after discarding what was already in flight).
        assert.equal(r.serverClosed, true, `${label}: the connection stayed open`);
      }
    }
    process.stdout.write(`      ${seen.length} uploads refused; largest intake before the answer: ${Math.max(...seen.map((s) => Number(/after ([\d.]+) MiB/.exec(s)![1])))} MiB\n`);
  });

  it('answers 413 at once to a declared Content-Length over the limit, without waiting for the body', async function () {
    for (const [path, headers] of [
      ['/webhooks/pagerduty', {}],
      ['/api/rules', auth],
      ['/api/rules', {}],
      ['/api/rules/test', auth],
    ] as const) {
      // 100 MiB announced, 1 KiB sent: a server that waited for the body would never answer (hang detector).
      const r = await upload({ port: api.port, path, headers, total: 1024, contentLength: 100 * MiB, deadlineMs: 20_000 });
      assert.equal(r.status, 413, `${path}: ${r.status} ${r.body.slice(0, 200)}`);
      assert.equal(r.headers['content-type'], 'application/problem+json');
      assert.equal(r.serverClosed, true, `${path}: the connection stayed open`);
    }
  });

  it('keeps a keep-alive connection usable after a small overshoot: the next request on it is answered', async function () {
    for (let round = 0; round < 3; round++) {
      const body = new ReadableStream<Uint8Array>({
        start(ctl) {
          for (let i = 0; i < 40; i++) ctl.enqueue(new TextEncoder().encode('x'.repeat(10 * 1024)));
          ctl.close();
        },
      });
      const res = await fetch(`${api.url}/webhooks/pagerduty`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, duplex: 'half' } as RequestInit);
      assert.equal(res.status, 413);
      await res.arrayBuffer();
      // The same pooled connection carries the next request (a dropped one fails with "other side closed").
      for (const wait of [0, 700]) {
        await new Promise((r) => setTimeout(r, wait));
        assert.equal((await fetch(`${api.url}/healthz`)).status, 200);
      }
    }
  });

  it('still takes bodies up to the limit: a 3 MiB rule test and a signed webhook are answered normally', async function () {
    const alerts = Array.from({ length: 60 }, (_, i) => ({ id: `A${i}`, body: { details: { log: 'x'.repeat(50_000) } } }));
    const big = { rule: { name: 'big-test', services: ['*'], actions: [{ type: 'pagerduty.note', content: 'n' }] }, payload: sampleFor('v3-incident.triggered-01.json', newIncidentId()), alerts };
    const body = JSON.stringify(big);
    assert.ok(body.length > 2.5 * MiB && body.length < 4 * MiB);
    const res = await fetch(`${api.url}/api/rules/test`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(((await res.json()) as { matched: boolean }).matched, true);

    const raw = JSON.stringify(sampleFor('v3-incident.triggered-01.json', newIncidentId()));
    const hook = await fetch(`${api.url}/webhooks/pagerduty`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-pagerduty-signature': signBody(raw, WEBHOOK_SECRET) }, body: raw });
    assert.equal(hook.status, 202, await hook.clone().text());
  });

  it('refuses JSON nested deeper than 64 levels with a 400 naming the problem, on every JSON route', async function () {
    const deep = (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;
    const nested = deep(100_000);
    // A rule test whose payload nests 100,000 levels deep: today's code parsed it and failed on the
    // answer (JSON.stringify ran out of stack); a webhook delivery nesting as deep, signed.
    const cases: [string, string, Record<string, string>][] = [
      ['/api/rules/test', `{"rule":{"name":"deep","services":["*"],"actions":[{"type":"pagerduty.note","content":"x"}]},"payload":{"event":{"id":"E1","event_type":"incident.triggered","resource_type":"incident","occurred_at":"2024-01-01T00:00:00Z","data":{"id":"Q1","type":"incident","x":${nested}}}}}`, auth],
      ['/api/rules', nested, auth],
      ['/api/environments', nested, auth],
      ['/api/tokens', nested, auth],
    ];
    const webhook = `{"event":{"id":"E-deep","event_type":"incident.triggered","resource_type":"incident","occurred_at":"2024-01-01T00:00:00Z","data":{"id":"QDEEP","type":"incident","x":${deep(20_000)}}}}`;
    cases.push(['/webhooks/pagerduty', webhook, { 'x-pagerduty-signature': signBody(webhook, WEBHOOK_SECRET) }]);
    for (const [path, body, headers] of cases) {
      const res = await fetch(`${api.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body, signal: AbortSignal.timeout(30_000) });
      const problem = (await res.json()) as { detail: string; errors?: { path: string; message: string }[] };
      assert.equal(res.status, 400, `${path}: ${res.status} ${JSON.stringify(problem).slice(0, 300)}`);
      assert.match(problem.detail, /nests deeper than 64 levels/, path);
    }
  });

  it('refuses oversized strings with a 400 naming where they are', async function () {
    const payload = sampleFor('v3-incident.triggered-01.json', newIncidentId(), { data: { title: 'T'.repeat(300 * 1024) } });
    const res = await fetch(`${api.url}/api/rules/test`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ rule: { name: 'long', services: ['*'], actions: [{ type: 'pagerduty.note', content: 'x' }] }, payload }),
    });
    const problem = (await res.json()) as { detail: string; errors: { path: string; message: string }[] };
    assert.equal(res.status, 400, JSON.stringify(problem).slice(0, 300));
    assert.deepEqual(problem.errors, [{ path: 'payload.event.data.title', message: `string of ${300 * 1024} characters; the limit is ${256 * 1024}` }]);

    // Keys count too, and the default routes allow 64 KiB.
    const key = await fetch(`${api.url}/api/environments`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'e', labels: { ['k'.repeat(70_000)]: 'v' } }) });
    assert.equal(key.status, 400);
    assert.match(((await key.json()) as { detail: string }).detail, /a string of 70000 characters at labels\.k+; the limit is 65536/);
  });
});

// YAML ⇄ JSON for the rule editor takes a read token. Before, a 60 KB YAML document of 99 aliases of one
// 30,000-item anchored list came back as 36 MB (after about 0.65 s of blocked event loop), and a JSON array
// nested 20,000 deep in `text` was a 500 (the answer's encoder ran out of stack): the body's depth limit
// covered the body, not the document inside it.
describe('security: POST /ui/convert bounds the document it converts', function () {
  let db: TestDatabase;
  let app: ReturnType<typeof createApp>;
  let reader: string;
  const logged: string[] = [];

  before(async function () {
    db = await createTestDatabase();
    // A budget these tests do not run out of (each conversion costs 10 of it); the last test checks the charge.
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN_TOKEN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1', SELFHEAL_RATE_LIMIT_BURST: '100000' });
    const logger = createLogger({ level: 'error', destination: { write: (line: string) => void logged.push(line) } });
    app = createApp({ config, db: db.db, temporal: {} as Client, logger }, allRoutes);
    const issued = await app.request('/api/tokens', { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'reader', scopes: ['read'] }) });
    reader = ((await issued.json()) as { token: string }).token;
  });
  after(async () => db?.close());

  const convert = (text: string, from: 'json' | 'yaml', to: 'json' | 'yaml' | 'object') =>
    app.request('/ui/convert', { method: 'POST', headers: { authorization: `Bearer ${reader}`, 'content-type': 'application/json' }, body: JSON.stringify({ text, from, to }) });

  async function refused(res: Response, detail: RegExp): Promise<void> {
    const answer = await res.text();
    assert.equal(res.status, 400, answer.slice(0, 300));
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
    const problem = JSON.parse(answer) as { detail: string; errors: { path: string }[] };
    assert.match(problem.detail, detail);
    assert.deepEqual(
      problem.errors.map((e) => e.path),
      ['text'],
    );
    assert.deepEqual(
      logged.filter((line) => line.includes('unhandled error')),
      [],
    );
  }

  it('refuses YAML aliases: 99 aliases of a 30,000-item anchor are a 400, not 36 MB', async function () {
    const text = `a: &a [${Array(30_000).fill('1').join(',')}]\nb: [${Array(99).fill('*a').join(',')}]\n`;
    assert.ok(text.length < 64 * 1024);
    for (const to of ['json', 'object'] as const) await refused(await convert(text, 'yaml', to), /^not valid YAML: YAML aliases \(\*name\) are not supported/);
  });

  it('refuses a document nested deeper than 64 levels, in JSON or YAML', async function () {
    await refused(await convert(`${'['.repeat(20_000)}${']'.repeat(20_000)}`, 'json', 'yaml'), /^the JSON document nests deeper than 64 levels$/);
    await refused(await convert(`${'['.repeat(65)}${']'.repeat(65)}`, 'json', 'object'), /^the JSON document nests deeper than 64 levels$/);
    await refused(await convert(`a: ${'['.repeat(100)}${']'.repeat(100)}`, 'yaml', 'json'), /^the YAML document nests deeper than 64 levels$/);
  });

  it('refuses a document whose converted text passes 1 MiB', async function () {
    // 60 levels of indentation on each of 30,000 items: a 60 KB document, pretty-printed to about 3.7 MB.
    const text = `${'['.repeat(60)}${Array(30_000).fill('1').join(',')}${']'.repeat(60)}`;
    await refused(await convert(text, 'yaml', 'json'), /^the converted document is \d+ characters; the limit is 1048576$/);
  });

  it('still converts rules both ways, up to the depth limit', async function () {
    const yaml = 'name: restart\nservices: ["*"]\nactions:\n  - type: pagerduty.note\n    content: hi\n';
    const toJson = await convert(yaml, 'yaml', 'json');
    assert.equal(toJson.status, 200);
    const { text, value } = (await toJson.json()) as { text: string; value: unknown };
    assert.deepEqual(value, { name: 'restart', services: ['*'], actions: [{ type: 'pagerduty.note', content: 'hi' }] });
    const back = await convert(text, 'json', 'yaml');
    assert.equal(back.status, 200);
    assert.equal(((await back.json()) as { text: string }).text, 'name: restart\nservices:\n  - "*"\nactions:\n  - type: pagerduty.note\n    content: hi\n');
    const deepest = await convert(`${'['.repeat(64)}${']'.repeat(64)}`, 'json', 'object');
    assert.equal(deepest.status, 200, await deepest.clone().text());
  });

  /** A mapping of `n` short keys: the shape whose duplicate-key check grows with the square of n in the yaml library. */
  const denseMapping = (n: number) => Array.from({ length: n }, (_, i) => `k${i}: 1`).join('\n');

  it('refuses a YAML key that appears twice in one mapping, checking each key once (a dense 64 KiB mapping converts)', async function () {
    await refused(await convert('name: a\nactions: []\nname: b\n', 'yaml', 'object'), /^not valid YAML: the key "name" appears twice in one mapping$/);
    await refused(await convert('a:\n  x: 1\n  x: 2\n', 'yaml', 'json'), /^not valid YAML: the key "x" appears twice in one mapping$/);
    const dense = denseMapping(7_000); // just under the 64 KiB a body string may hold
    assert.ok(dense.length < 64 * 1024);
    await refused(await convert(`${dense}\nk5: 2`, 'yaml', 'object'), /the key "k5" appears twice/);
    const ok = await convert(dense, 'yaml', 'object');
    assert.equal(ok.status, 200);
    assert.equal(Object.keys(((await ok.json()) as { value: Record<string, number> }).value).length, 7_000);
  });

  // The YAML parser recurses once per level and bounds neither depth nor time. Before, with a read token:
  // 30,000 nested `[` ran the API's stack out (a 400), and the same again took the process down (V8's
  // "RegExpCompiler Allocation failed - process out of memory", which nothing can catch); 21,000 tags held
  // the event loop 1 to 2 s per request, so six at once kept webhooks waiting 7.7 s for their 401.
  it('refuses YAML nested thousands of levels deep before parsing it, and answers the next request', async function () {
    const hostile = [
      `${'['.repeat(30_000)}${']'.repeat(30_000)}`,
      '['.repeat(60_000),
      `${'{a: '.repeat(15_000)}`,
      `[${'{a: [b, '.repeat(6_000)}`,
    ];
    for (let round = 0; round < 2; round++) {
      for (const text of hostile) await refused(await convert(text, 'yaml', 'json'), /^the YAML document nests deeper than 64 levels$/);
    }
    const still = await convert('a: [1, [2, [3]]]', 'yaml', 'object');
    assert.equal(still.status, 200);
    assert.deepEqual(((await still.json()) as { value: unknown }).value, { a: [1, [2, [3]]] });
  });

  // The scan took a node's properties (a tag `!!seq`, an anchor `&a`), an alias, a byte order mark and the
  // document markers `---` and `...` for the start of a plain scalar, and read what followed them as its
  // text: the brackets after them went to the parser uncounted, which recursed until it ran its thread's
  // stack out (a 400 quoting V8's "Maximum call stack size exceeded") or spent its 2 s on them; the thread
  // of its own kept the process up.
  it('refuses YAML nested thousands of levels deep behind a tag, an anchor, an alias, a byte order mark or a document marker, before parsing it', async function () {
    const deep = '['.repeat(30_000);
    for (const text of [`--- ${deep}`, `a: !!seq ${deep}`, `- &x ${deep}`, `--- !!seq &a ${deep}`, `a: !<tag:yaml.org,2002:seq> ${deep}`, `\uFEFF${deep}`, `\uFEFF--- ${deep}`, `a: *b ${deep}`, `... ${deep}`]) {
      await refused(await convert(text, 'yaml', 'json'), /^the YAML document nests deeper than 64 levels$/);
    }
    // Behind properties, quoted scalars and block scalars are text as elsewhere.
    const rule = ['--- !!map', 'name: !!str "[[[["', `note: &n '${'[['.repeat(50)}'`, 'script: !!str |', ...Array.from({ length: 100 }, () => '  [[ -f /etc/x ]] && echo "{"'), 'actions: !!seq []'].join('\n');
    const ok = await convert(rule, 'yaml', 'object');
    assert.equal(ok.status, 200, await ok.clone().text());
    const { value } = (await ok.json()) as { value: { name: string; script: string; actions: unknown[] } };
    assert.deepEqual([value.name, value.script.split('\n').length, value.actions], ['[[[[', 101, []]);
  });

  it('refuses block nesting and compact sequences that start past column 256, before parsing them', async function () {
    const blocks = Array.from({ length: 300 }, (_, i) => `${' '.repeat(i)}a:`).join('\n');
    for (const text of ['- '.repeat(30_000) + 'x', '? '.repeat(30_000), blocks]) {
      await refused(await convert(text, 'yaml', 'object'), /^the YAML document has content starting past column 256$/);
    }
    // Brackets in plain and quoted scalars, comments and block scalars are text, not nesting.
    const rule = [
      'name: "[[[["',
      `description: ${'a['.repeat(100)}`,
      `note: '${"it''s [[[".repeat(30)}'`,
      `# ${'['.repeat(100)}`,
      'script: |',
      ...Array.from({ length: 100 }, () => '  [[ -f /etc/x ]] && echo "{"'),
      'actions: []',
    ].join('\n');
    const ok = await convert(rule, 'yaml', 'object');
    assert.equal(ok.status, 200, await ok.clone().text());
    assert.equal(((await ok.json()) as { value: { actions: unknown[] } }).value.actions.length, 0);
  });

  // Broken YAML the parser recovers from read on into brackets the scan did not count (after a quoted scalar,
  // `- 'x' [a:`, `a: "x" [`): the document reached the parser, and was refused only by its 2 s limit. The
  // brackets are now counted in total before anything is parsed.
  it('refuses YAML holding more than 10000 flow-collection openers before parsing it, broken YAML included, and still converts rules below it', async function () {
    for (const text of [`- 'x' [a:${'['.repeat(60_000)}`, `a: "x" ${'['.repeat(60_000)}`, `a: "x" [${'{a, ['.repeat(12_000)}`, `- 'x' ${'[a, '.repeat(10_001)}`]) {
      await refused(await convert(text, 'yaml', 'json'), /^the YAML document holds more than 10000 "\[" or "\{"$/);
    }
    const rule = ['name: "[[[["', 'script: |', ...Array.from({ length: 2_000 }, () => '  [[ -f /etc/x ]] && echo "{"'), 'actions: [{id: a, type: log}]'].join('\n');
    const ok = await convert(rule, 'yaml', 'object');
    assert.equal(ok.status, 200, await ok.clone().text());
    const { value } = (await ok.json()) as { value: { script: string; actions: unknown[] } };
    assert.deepEqual([value.script.split('\n').length, value.actions], [2_001, [{ id: 'a', type: 'log' }]]);
  });

  it('a YAML document that takes the parser a second or more never holds the event loop', async function () {
    const slow = `${'!a '.repeat(21_000)}x`;
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const answers = await Promise.all([0, 1, 2].map(() => convert(slow, 'yaml', 'json')));
    delay.disable();
    for (const res of answers) await refused(res, /^(not valid YAML: A node can have at most one tag|the YAML document took more than 2000 ms to convert)/);
    const worstMs = delay.max / 1e6;
    assert.ok(worstMs < 500, `the event loop was held ${Math.round(worstMs)} ms while three such documents were converted`);
  });

  it('converts one document at a time per process; past the queue, 503 with Retry-After', async function () {
    const slow = `${'!a '.repeat(21_000)}x`;
    // One caller holds all the places but one (test/security/line-per-caller.test.ts): two callers fill the line.
    const issued = await app.request('/api/tokens', { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'reader-2', scopes: ['read'] }) });
    const other = ((await issued.json()) as { token: string }).token;
    const byOther = () =>
      app.request('/ui/convert', { method: 'POST', headers: { authorization: `Bearer ${other}`, 'content-type': 'application/json' }, body: JSON.stringify({ text: slow, from: 'yaml', to: 'json' }) });
    const answers = await Promise.all([...Array.from({ length: MAX_WAITING_CONVERSIONS }, () => convert(slow, 'yaml', 'json')), byOther(), byOther()]);
    const statuses = answers.map((r) => r.status).sort();
    assert.deepEqual(statuses, [...Array<number>(MAX_WAITING_CONVERSIONS + 1).fill(400), 503]);
    const busy = answers.find((r) => r.status === 503)!;
    assert.equal(busy.headers.get('retry-after'), '1');
    assert.equal(busy.headers.get('content-type'), 'application/problem+json');
    assert.match(((await busy.json()) as { detail: string }).detail, /converting as many documents as it converts at once/);
  });

  it("a conversion costs 10 of the caller's budget: a read token bursts 10 of them, not 100", async function () {
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN_TOKEN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    const budgeted = createApp({ config, db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }) }, allRoutes);
    const post = () =>
      budgeted.request('/ui/convert', { method: 'POST', headers: { authorization: `Bearer ${reader}`, 'content-type': 'application/json' }, body: JSON.stringify({ text: '[1', from: 'json', to: 'object' }) });
    // At once, so the budget has no time to refill (20 a second); those let through convert or queue (400, 503).
    const statuses = (await Promise.all(Array.from({ length: 11 }, post))).map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 429).length, 1, String(statuses));
    assert.ok(statuses.every((s) => [400, 429, 503].includes(s)), String(statuses));
  });

  it('stops a conversion past its time limit (the worker is ended, the caller gets a 400 reason)', async function () {
    const r = await convertOffThread({ text: `${'!a '.repeat(21_000)}x`, from: 'yaml', to: 'object' }, { timeLimitMs: 20 });
    assert.deepEqual(r, { ok: false, detail: 'the YAML document took more than 20 ms to convert; a rule converts in milliseconds', message: 'took more than 20 ms to convert' });
  });
});
