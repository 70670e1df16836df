// Explanation amplification, attacked as a `read` token (found in review): every predicate of a rule test
// turned the whole value it read into JSON text, twice, to show its first 120 characters. 400 copies of
// `event exists` over an incident holding 3.5 MiB of strings (one 3.6 MB request, every bound respected)
// serialised about 2.8 GB and held the API's event loop for 12.6 s; a backtest and the worker's matching run
// the same code. Now an explanation writes an object's JSON only as far as it shows (jsonPrefix), once per
// object. What is asserted is the work, not the time: the JSON text the API writes while answering.
import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { jsonPrefix } from '../../src/domain/text.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { sampleFor } from '../helpers/samples.js';

const ADMIN = 'security-explain-admin-token-0123456789';
const MiB = 1024 * 1024;

describe('security: a rule explanation costs what it shows, not what it reads (read token)', function () {
  let db: TestDatabase;
  let app: ReturnType<typeof createApp>;
  let reader: string;

  before(async function () {
    db = await createTestDatabase();
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    app = createApp({ config, db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }) }, allRoutes);
    const issued = await app.request('/api/tokens', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'reader', scopes: ['read'] }),
    });
    reader = ((await issued.json()) as { token: string }).token;
  });
  after(async () => db?.close());

  it('400 predicates over a 3.5 MiB incident: the answer explains each, and the API writes megabytes of JSON, not gigabytes', async function () {
    this.timeout(120_000);
    const payload = sampleFor('v3-incident.triggered-01.json', 'QEXPLAIN1') as unknown as { event: { data: Record<string, unknown> } };
    payload.event.data.blob = Array.from({ length: 14 }, (_, i) => 'x'.repeat(250 * 1024 - i));
    const group = (n: number) => ({ any: Array.from({ length: n }, () => ({ field: 'event', op: 'exists' })) });
    const rule = { name: 'explainer', services: ['*'], conditions: { all: [group(100), group(100), group(100), group(100)] }, actions: [{ type: 'pagerduty.note', content: 'x' }] };
    const body = JSON.stringify({ rule, payload });
    assert.ok(body.length > 3.4 * MiB, `${body.length} bytes`);

    const stringify = JSON.stringify;
    let written = 0;
    JSON.stringify = ((...args: Parameters<typeof JSON.stringify>) => {
      const out = stringify(...args);
      written += out?.length ?? 0;
      return out;
    }) as typeof JSON.stringify;
    let res: Response;
    let text: string;
    try {
      res = await app.request('/api/rules/test', { method: 'POST', headers: { authorization: `Bearer ${reader}`, 'content-type': 'application/json' }, body });
      text = await res.text();
    } finally {
      JSON.stringify = stringify;
    }
    assert.equal(res.status, 200, text.slice(0, 300));
    const answer = JSON.parse(text) as { matched: boolean; explanation: unknown };
    assert.equal(answer.matched, true);
    // Every predicate explained, each showing the start of the event and where it was cut.
    const shown = text.match(/event exists: actual \{/g) ?? [];
    assert.ok(shown.length >= 400, `${shown.length} predicates explained`);
    const actuals: unknown[] = [];
    const walk = (n: unknown): void => {
      if (Array.isArray(n)) n.forEach(walk);
      else if (n && typeof n === 'object') {
        for (const [k, v] of Object.entries(n)) {
          if (k === 'actual') actuals.push(v);
          else walk(v);
        }
      }
    };
    walk(answer.explanation);
    assert.ok(actuals.length >= 400);
    for (const a of actuals) assert.ok(typeof a === 'string' && a.length === 121 && a.startsWith('{') && a.endsWith('…'), String(a).slice(0, 200));
    // Before: about 2.8 GB (2 × 400 × 3.5 MiB). The answer itself and the log are a few hundred KB.
    assert.ok(written < 8 * MiB, `the API wrote ${(written / MiB).toFixed(1)} MiB of JSON to answer`);
  });

  it('jsonPrefix writes what JSON.stringify writes, up to the bound, and says when it cut', function () {
    const values: unknown[] = [
      null, true, 0, -1.5, 'plain', 'quote " and \\ and \n', [], {}, [1, 'a', null, undefined, () => 1],
      { a: 1, b: undefined, c: () => 1, d: [{ e: 'f' }], date: new Date(0) }, { '\u{1F525}': '\u{1F525}'.repeat(3) }, [Number.NaN, Infinity],
    ];
    for (const v of values) assert.deepEqual(jsonPrefix(v, 1000), { text: JSON.stringify(v), cut: false }, JSON.stringify(v));
    const big = { title: 'x'.repeat(MiB), list: Array.from({ length: 100_000 }, (_, i) => ({ i })) };
    const p = jsonPrefix(big, 120);
    assert.equal(p.cut, true);
    assert.equal(p.text.length, 120);
    assert.ok(JSON.stringify(big).startsWith(p.text));
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    assert.equal(jsonPrefix(cyclic, 50).cut, true, 'a cycle stops at the bound');
  });
});
