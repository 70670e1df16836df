import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { startApiServer, type ApiServer } from '../../src/server.js';
import { selfheal } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { stubScheduleClient } from '../helpers/schedule-stub.js';

// A rule may hold 20 actions of 25,000 characters (about 500 KB), so one team's editor saving 140 such rules
// made GET /api/rules, which answered every rule whole, 70 MB: the CLI, which refuses any answer over 64 MiB,
// could no longer plan, and `selfheal apply|diff|export` and `rules apply` failed (exit 3) for every token
// reading that team (the admin token GitOps CI runs with), while the server built the whole answer in memory
// for each reader. The list is now paged (8 MiB of definitions a page at most) and the CLI follows the pages.
const ADMIN = 'review-rule-list-admin-token-0123456789';
const RULES = 140;
const PAGE_BYTES = 8 * 1024 * 1024;

describe('the rule list stays usable when one team holds large rules', function () {
  this.timeout(600_000);
  let db: TestDatabase;
  let server: ApiServer;
  let dir: string;

  before(async function () {
    dir = mkdtempSync(path.join(tmpdir(), 'selfheal-large-rules-'));
    db = await createTestDatabase();
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1', SELFHEAL_RATE_LIMIT_BURST: '100000', SELFHEAL_RATE_LIMIT_PER_SECOND: '100000' });
    server = await startApiServer({ config: { ...config, port: 0, host: '127.0.0.1' }, db: db.db, temporal: stubScheduleClient().temporal, logger: createLogger({ level: 'silent' }) });
    const actions = Array.from({ length: 20 }, (_, i) => ({ id: `n${i}`, type: 'pagerduty.note', content: 'x'.repeat(25_000) }));
    for (let i = 0; i < RULES; i++) {
      const res = await fetch(`${server.url}/api/rules`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: `big-${i}`, services: ['PABC123'], actions }),
      });
      assert.equal(res.status, 201, await res.text());
    }
  });
  after(async () => {
    await server?.close();
    await db?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('GET /api/rules answers pages under the byte cap, every rule once', async function () {
    const names = new Set<string>();
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await fetch(`${server.url}/api/rules?limit=500${cursor ? `&cursor=${cursor}` : ''}`, { headers: { authorization: `Bearer ${ADMIN}` } });
      assert.equal(res.status, 200);
      const text = await res.text();
      // The cap counts definitions; the rest of a rule's view is a few hundred bytes.
      assert.ok(Buffer.byteLength(text) <= PAGE_BYTES + 256 * 1024, `page ${pages}: ${Buffer.byteLength(text)} bytes`);
      const page = JSON.parse(text) as { items: { name: string }[]; nextCursor: string | null };
      assert.ok(page.items.length >= 1);
      for (const r of page.items) {
        assert.ok(!names.has(r.name), `${r.name} twice`);
        names.add(r.name);
      }
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    assert.equal(names.size, RULES);
    assert.ok(pages >= 9, `${pages} pages`);
  });

  it('selfheal export writes all 140 rules, and diff plans against all of them', async function () {
    const env = { SELFHEAL_URL: server.url, SELFHEAL_TOKEN: ADMIN };
    const out = path.join(dir, 'export.json');
    const r = await selfheal(['export', '--json', '-o', out], env, 300_000);
    assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr.slice(0, 500)}`);
    assert.equal((JSON.parse(r.stdout) as { rules: number }).rules, RULES);
    const docs = JSON.parse(readFileSync(out, 'utf8')) as { kind: string; name: string; actions: unknown[] }[];
    const rules = docs.filter((d) => d.kind === 'Rule');
    assert.equal(new Set(rules.map((d) => d.name)).size, RULES);
    assert.ok(rules.every((d) => d.actions.length === 20));
    // A file holding one of them, pruning rules: the plan keeps it and deletes the other 139 it read.
    const one = path.join(dir, 'one.json');
    writeFileSync(one, JSON.stringify(rules.find((d) => d.name === 'big-7')));
    const diff = await selfheal(['diff', '--json', '-f', one, '--prune', 'rule'], env, 300_000);
    assert.equal(diff.code, 1, `exit ${diff.code}: ${diff.stderr.slice(0, 500)}`);
    const steps = (JSON.parse(diff.stdout) as { plan: { action: string; kind: string; name?: string; key?: string }[] }).plan;
    assert.equal(steps.filter((s) => s.action === 'delete').length, RULES - 1, JSON.stringify(steps.slice(0, 3)));
    assert.equal(steps.filter((s) => s.action === 'create').length, 0);
  });
});
