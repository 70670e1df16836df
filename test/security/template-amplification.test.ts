// Template amplification, attacked as a `read` token: a rule test or a backtest renders the rule's actions,
// and a template may repeat `{{ incident.title }}` a thousand times over a title of 64 KiB. Before, nothing
// bounded the rendered size: an 85 KB rule test answered 65 MB, and a ~1 MB one held the API for 30 s and
// took it out of memory. Now a rendered field stops at 64 KiB and the values of one render share 256 KiB
// (src/domain/template.ts), ending with a marker, and a backtest page stops taking items past 8 MiB.
import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { MAX_RENDERED_FIELD, MAX_RENDERED_TOTAL, TRUNCATED } from '../../src/domain/template.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { buildHistory, storeHistory } from '../helpers/history.js';
import { sampleFor } from '../helpers/samples.js';

const ADMIN = 'security-template-admin-token-0123456789';
const KiB = 1024;
const MiB = 1024 * KiB;

describe('security: rendered templates are bounded (rule tests and backtests, read token)', function () {
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

  /** Posts as the read token; the answer is 2xx, or a 4xx problem+json, never a 500. */
  async function post(path: string, body: unknown): Promise<{ status: number; text: string; sent: number }> {
    const sent = JSON.stringify(body);
    const res = await app.request(path, { method: 'POST', headers: { authorization: `Bearer ${reader}`, 'content-type': 'application/json' }, body: sent });
    const text = await res.text();
    assert.ok(res.status < 300 || (res.status < 500 && res.headers.get('content-type')?.startsWith('application/problem+json')), `status ${res.status}: ${text.slice(0, 300)}`);
    return { status: res.status, text, sent: sent.length };
  }

  const amplifying = (placeholders: number) => '{{incident.title}}'.repeat(placeholders);

  it('POST /api/rules/test: thousands of placeholders over a 64 KiB title answer a bounded, marked render', async () => {
    const payload = sampleFor('v3-incident.triggered-01.json', 'QAMPLIFY1') as unknown as { event: { data: { title: string } } };
    payload.event.data.title = 'x'.repeat(64 * KiB); // within the 256 KiB string limit of rule tests
    const rule = {
      name: 'amplifier',
      services: ['*'],
      conditions: { all: [{ field: 'incident.urgency', op: 'equals', value: 'never' }] }, // need not match: actions are rendered as a preview
      actions: [
        { type: 'pagerduty.note', content: amplifying(1000) }, // 18,000 characters, under the 25,000 limit
        { type: 'notify.webhook', url: 'https://hooks.example.com/x', body: `{"t": "${amplifying(100)}", "more": [${Array(100).fill('{{incident.title}}').join(', ')}]}` },
        ...Array.from({ length: 6 }, () => ({ type: 'notify.email', to: ['a@example.com'], subject: 's', body: amplifying(2) })),
      ],
    };
    const { status, text, sent } = await post('/api/rules/test', { rule, payload });
    assert.equal(status, 200, text.slice(0, 300));
    // The request itself, the context echoed back (the title once) and at most MAX_RENDERED_TOTAL of values.
    assert.ok(text.length < sent + 2 * MAX_RENDERED_TOTAL, `a ${sent}-byte request produced a ${text.length}-byte answer`);
    const answer = JSON.parse(text) as { matched: boolean; renderedActions: Record<string, string>[] };
    assert.equal(answer.matched, false);
    const [note, webhook, ...emails] = answer.renderedActions as Record<string, string>[];
    assert.ok(note!.content!.endsWith(TRUNCATED), 'the note says it was cut');
    assert.ok(note!.content!.length <= MAX_RENDERED_FIELD + TRUNCATED.length);
    const body = JSON.parse(webhook!.body!) as { t: string; more: unknown[] };
    assert.ok(body.t.endsWith(TRUNCATED), 'the JSON body stays JSON, its string says it was cut');
    assert.deepEqual(new Set(body.more), new Set([null]), 'a field cut once takes no more values');
    // Each email could take 64 KiB, but the actions of one rule test share MAX_RENDERED_TOTAL: the last keep the marker only.
    assert.ok(emails[0]!.body!.endsWith(TRUNCATED));
    assert.equal(emails.at(-1)!.body, TRUNCATED);
  });

  it('POST /api/rules/backtest: each matched event renders a bounded note, and a page stops at its size bound', async () => {
    const base = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000 - 48 * 3_600_000);
    const history = buildHistory({ incidents: 48, from: base, hours: 24, prefix: 'QAMP' });
    const title = 'y'.repeat(200 * KiB); // a webhook takes strings up to 256 KiB
    for (const incident of history) {
      incident.title = title;
      for (const e of incident.events) if ('title' in e.body.event.data) e.body.event.data.title = title;
    }
    await storeHistory(db.db, history);
    const rule = {
      name: 'amplifier',
      services: ['*'],
      conditions: { field: 'incident.title', op: 'contains', value: 'yyy' },
      actions: [{ type: 'pagerduty.note', content: amplifying(4) }],
    };
    const window = { from: base.toISOString(), to: new Date(base.getTime() + 48 * 3_600_000).toISOString() };
    const { status, text } = await post('/api/rules/backtest', { rule, ...window, limit: 500, only: 'matched' });
    assert.equal(status, 200, text.slice(0, 300));
    const page = JSON.parse(text) as { items: { candidate: { actions: { params: { content: string } }[] } }[]; totalItems: number; nextCursor: string | null };
    assert.ok(page.totalItems >= 48, `${page.totalItems} matched events`);
    assert.ok(text.length < 12 * MiB, `a page of ${page.items.length} items is ${text.length} bytes`);
    assert.ok(page.items.length < page.totalItems && page.nextCursor !== null, 'the rest comes with nextCursor');
    for (const item of page.items) {
      const content = item.candidate.actions[0]!.params.content;
      assert.ok(content.endsWith(TRUNCATED) && content.length <= MAX_RENDERED_FIELD + TRUNCATED.length, `a note of ${content.length} characters`);
    }
    const next = await post('/api/rules/backtest', { rule, ...window, limit: 500, only: 'matched', cursor: page.nextCursor });
    assert.equal(next.status, 200, next.text.slice(0, 300));
    assert.ok(next.text.length < 12 * MiB);
  });
});
