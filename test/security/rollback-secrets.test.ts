// Rolling back to a version the current rules would refuse (docs/security.md "Secrets": "A rollback to a
// version whose references the current policy refuses answers 409"; "Script variables are an allow list":
// rollbacks to an old version naming another variable are refused, 409 naming the same field). The old
// version was valid when it was saved; the operator narrowed the policy since (or the allow list came
// later). The refusal must write nothing: no version, no audit entry, the rule as it was.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

const ADMIN = 'rollback-secrets-admin-token-0123456789';
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read by the assertions
type Doc = Record<string, any>;

describe('security: a rollback to a version the current rules refuse is 409 and writes nothing', function () {
  let db: TestDatabase;

  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => db?.close());

  /** The API over the shared database, with the secret-reference policy of `env`. */
  function api(env: Record<string, string> = {}) {
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1', SELFHEAL_RATE_LIMIT_BURST: '100000', ...env });
    const app = createApp({ config, db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }) }, allRoutes);
    return async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Doc }> => {
      const h: Record<string, string> = { authorization: `Bearer ${ADMIN}`, ...headers };
      if (body !== undefined) h['content-type'] = 'application/json';
      const res = await app.request(path, { method, headers: h, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      const text = await res.text();
      return { status: res.status, body: text ? (JSON.parse(text) as Doc) : {} };
    };
  }

  /** What a refused rollback must leave as it was. */
  async function state(id: string) {
    return {
      rule: await db.db.selectFrom('rules').select(['version', 'name', 'enabled', 'definition', 'updated_at']).where('id', '=', id).executeTakeFirstOrThrow(),
      versions: (await db.db.selectFrom('rule_versions').select('version').where('rule_id', '=', id).orderBy('version').execute()).map((v) => v.version),
      audit: (await db.db.selectFrom('audit_log').select(['id', 'action']).where('entity_id', '=', id).orderBy('id').execute()).map((a) => a.action),
    };
  }

  it('a version whose webhookUrlRef the policy no longer allows: 409 naming actions.0.webhookUrlRef; the wider policy rolls back', async function () {
    const wide = api({ SECRET_REF_ENV_PREFIXES: 'SELFHEAL_SECRET_,OPS_' });
    const name = `ops-hook-${randomUUID().slice(0, 6)}`;
    const v1 = { name, services: ['PROLLBACK'], actions: [{ id: 'chat', type: 'notify.slack', webhookUrlRef: 'env:OPS_HOOK', text: 'seen' }] };
    const created = await wide('POST', '/api/rules', v1);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id as string;
    const v2 = { name, services: ['PROLLBACK'], actions: [{ id: 'note', type: 'pagerduty.note', content: 'seen' }] };
    assert.equal((await wide('PUT', `/api/rules/${id}`, v2, { 'if-match': '"1"' })).status, 200);

    // The operator narrows the policy to the default (SELFHEAL_SECRET_ only).
    const narrow = api();
    assert.deepEqual((await narrow('POST', '/api/rules', { ...v1, name: `${name}-new` })).body.errors?.map((e: Doc) => e.path), ['actions.0.webhookUrlRef'], 'saving it now is refused (400)');
    const before = await state(id);
    const refused = await narrow('POST', `/api/rules/${id}/rollback`, { version: 1 });
    assert.equal(refused.status, 409, JSON.stringify(refused.body));
    assert.equal(refused.body.status, 409);
    assert.match(refused.body.detail, /^version 1 names secrets outside the allowed prefixes or directories/);
    assert.deepEqual(refused.body.errors.map((e: Doc) => e.path), ['actions.0.webhookUrlRef']);
    assert.match(refused.body.errors[0].message, /SELFHEAL_SECRET_/, 'the message says what the policy allows');
    assert.deepEqual(await state(id), before, 'no version, no audit entry, the rule unchanged');
    assert.deepEqual(before.versions, [1, 2]);

    // The same rollback under the policy the version was saved with goes through: the policy is what refused.
    const allowed = await wide('POST', `/api/rules/${id}/rollback`, { version: 1 });
    assert.equal(allowed.status, 200, JSON.stringify(allowed.body));
    assert.equal(allowed.body.version, 3);
  });

  it('a version whose script environment names a variable outside SELFHEAL_PARAM_ (stored before the allow list): 409 naming actions.0.environment.<NAME>', async function () {
    const call = api();
    const name = `script-env-${randomUUID().slice(0, 6)}`;
    const rule = (environment: Record<string, string>) => ({ name, services: ['PROLLBACK'], actions: [{ id: 'fix', type: 'script.agent', script: 'disk-cleanup.sh', environment }] });
    assert.deepEqual((await call('POST', '/api/rules', { ...rule({ DRY_RUN: '1' }), name: `${name}-new` })).body.errors?.map((e: Doc) => e.path), ['actions.0.environment.DRY_RUN'], 'saving it now is a 400');
    const created = await call('POST', '/api/rules', rule({ SELFHEAL_PARAM_DRY_RUN: '1' }));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id as string;
    assert.equal((await call('PUT', `/api/rules/${id}`, rule({ SELFHEAL_PARAM_DRY_RUN: '0' }), { 'if-match': '"1"' })).status, 200);
    // Version 1 as a release before the allow list stored it.
    const stored = await db.db.selectFrom('rule_versions').select('definition').where('rule_id', '=', id).where('version', '=', 1).executeTakeFirstOrThrow();
    const old = structuredClone(stored.definition) as { actions: { environment: Record<string, string> }[] };
    old.actions[0]!.environment = { DRY_RUN: '1' };
    await db.db.updateTable('rule_versions').set({ definition: JSON.stringify(old) }).where('rule_id', '=', id).where('version', '=', 1).execute();

    const before = await state(id);
    const refused = await call('POST', `/api/rules/${id}/rollback`, { version: 1 });
    assert.equal(refused.status, 409, JSON.stringify(refused.body));
    assert.match(refused.body.detail, /^version 1 is no longer a valid rule/);
    assert.deepEqual(refused.body.errors.map((e: Doc) => e.path), ['actions.0.environment.DRY_RUN']);
    assert.match(refused.body.errors[0].message, /SELFHEAL_PARAM_DRY_RUN/, 'the message names the variable to use instead');
    assert.deepEqual(await state(id), before, 'no version, no audit entry, the rule unchanged');
  });
});
