import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { Kysely, PostgresDialect, type CompiledQuery } from 'kysely';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import type { Database } from '../../src/db/database.js';
import { ownedTokenIds } from '../../src/db/repositories/tokens.js';
import { createLogger } from '../../src/logger.js';
import { hashToken, LISTED_REVOKED_TOKENS } from '../../src/services/tokens.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

// Revoking a token (DELETE /api/tokens/{id}) or cutting a user off (DELETE /api/sessions) revokes the tree of
// tokens minted with theirs (api_tokens.minted_with), while other requests run on other connections:
// - a token being minted with a token of the tree holds that token (FOR SHARE) until it is stored; the
//   statement of the revocation that waited for that row cannot see the new token, so the revocation revokes
//   again until a pass finds nothing (src/db/repositories/tokens.ts revokeMintedWith). Reduced to one pass,
//   the token minted meanwhile stayed live.
// - two revocations at once locked the rows of overlapping trees in different orders, and each waited for a
//   row the other held: Postgres failed one with a deadlock (40P01), answered 500. Revocations now take
//   turns (an advisory lock taken before any row, src/services/tokens.ts inRevocation).
// - a cut-off finds the user's tokens by index (migration 2027-01-13T00-00-token-owner-indexes).
// - the answers list the first 100 tokens revoked, and say how many; all are revoked.
// The races are set up, not hoped for: a minting is held at its last statement by a third connection that
// holds the row of the team the new token joins (its membership's foreign key waits for it), and each step
// waits until Postgres shows the statements waiting for their locks.

const ADMIN = 'token-revoke-race-admin-0123456789abcdef';
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read by the assertions
type Doc = Record<string, any>;
interface Answer {
  status: number;
  text: string;
  body: Doc;
}

describe('security: revocations of minted tokens, against mintings and each other', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let app: ReturnType<typeof createApp>;
  const suffix = randomUUID().slice(0, 8);

  const call = async (token: string, method: string, path: string, body?: unknown): Promise<Answer> => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await app.request(path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await res.text();
    return { status: res.status, text, body: text ? (JSON.parse(text) as Doc) : {} };
  };
  const mint = async (by: string, name: string, extra: Doc = {}) => {
    const res = await call(by, 'POST', '/api/tokens', { name: `${name}-${suffix}`, scopes: ['admin'], ...extra });
    assert.equal(res.status, 201, res.text);
    return { id: res.body.id as string, token: res.body.token as string };
  };
  const works = async (token: string) => (await call(token, 'GET', '/api/teams')).status;

  /** Until `n` statements of this database wait for a lock (20 s at most, then fails naming what waits). */
  const waiting = async (n: number, what: string) => {
    let rows: { query: string; wait_event: string }[] = [];
    for (let i = 0; i < 200; i++) {
      ({ rows } = await db.pool.query("SELECT query, wait_event FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"));
      if (rows.length >= n) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(`${what}: ${n} statements should wait for a lock, ${rows.length} do: ${JSON.stringify(rows)}`);
  };

  /**
   * A minting with `token` held before it ends: a connection of the test holds the row of a team the new
   * token joins, so the minting has locked its token (FOR SHARE) and stored the new one, and waits at its
   * membership (foreign key). `release` lets it commit; `minting` is its answer.
   */
  const heldMinting = async (token: string, name: string): Promise<{ minting: Promise<Answer>; release: () => Promise<void> }> => {
    const team = `held-${randomUUID().slice(0, 8)}`;
    const created = await call(ADMIN, 'POST', '/api/teams', { name: team });
    assert.equal(created.status, 201, created.text);
    const holder = await db.pool.connect();
    let released = false;
    const release = async () => {
      if (released) return;
      released = true;
      await holder.query('COMMIT');
      holder.release();
    };
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT name FROM teams WHERE name = $1 FOR UPDATE', [team]);
      const minting = call(token, 'POST', '/api/tokens', { name: `${name}-${suffix}`, teams: [`${team}:admin`] });
      await waiting(1, 'the held minting');
      const { rows } = await db.pool.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE 'insert into "team_memberships"%'`);
      assert.equal(rows.length, 1, 'the minting waits at its membership, its token stored');
      return { minting, release };
    } catch (e) {
      await release();
      throw e;
    }
  };

  before(async function () {
    // Two connections of one Postgres at once: PGlite (no DATABASE_URL) has one.
    if (!process.env.DATABASE_URL) this.skip();
    db = await createTestDatabase();
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1', SELFHEAL_RATE_LIMIT_BURST: '100000' });
    app = createApp({ config, db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }) }, allRoutes);
  });
  after(async () => db?.close());

  it('a token minted with a token of the tree while the revocation waits for that token is revoked too, and answers 401', async function () {
    const leaked = await mint(ADMIN, 'leaked');
    const child = await mint(leaked.token, 'child');
    // The holder of the leaked token mints with its child; the minting has locked the child and stored its token.
    const held = await heldMinting(child.token, 'late');
    const revoke = call(ADMIN, 'DELETE', `/api/tokens/${leaked.id}`);
    try {
      // The revocation revoked the leaked token and waits, in the statement that revokes its tree, for the child.
      await waiting(2, 'the revocation waits for the child the minting holds');
      const { rows } = await db.pool.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE '%WITH RECURSIVE%'`);
      assert.equal(rows.length, 1, 'the statement that revokes the tree waits');
    } finally {
      await held.release();
    }
    const minted = await held.minting;
    assert.equal(minted.status, 201, `the minting ended first, and stored its token: ${minted.text}`);
    const revoked = await revoke;
    assert.equal(revoked.status, 200, revoked.text);
    const late = minted.body as { id: string; token: string };
    assert.equal(await works(child.token), 401);
    assert.equal(await works(late.token), 401, 'the token minted while the revocation waited still works');
    assert.deepEqual(revoked.body.revokedWith.map((t: Doc) => t.id).sort(), [child.id, late.id].sort());
    assert.equal(revoked.body.revokedWithTotal, 2);
    const audit = await db.db.selectFrom('audit_log').select('after').where('action', '=', 'token.revoke').where('entity_id', '=', late.id).execute();
    assert.deepEqual(
      audit.map((a) => [(a.after as Doc).reason, (a.after as Doc).mintedWith]),
      [['minted with a revoked token', child.id]],
    );
  });

  it('a token revoked while a cut-off of its minter revokes it too (their trees overlap): both answer 200, no deadlock', async function () {
    // The tree: a token of the user, a token minted with it (no owner), and one minted with that, issued to
    // the user again. The cut-off revokes the user's two, then the tree minted with them; the token
    // revocation revokes the middle one, then its tree. At once, each held a row the other waited for.
    const email = `mallory-${suffix}@example.com`;
    const own = await mint(ADMIN, 'mallory-laptop', { owner: email });
    const middle = await mint(own.token, 'stash');
    const deeper = await mint(middle.token, 'stash-2', { owner: email });
    // A minting with the middle token holds it, so the two revocations meet in a known order: the token
    // revocation waits for the middle token first, then the cut-off comes.
    const held = await heldMinting(middle.token, 'stash-3');
    let revoke: Promise<Answer> | undefined;
    let cut: Promise<Answer> | undefined;
    try {
      revoke = call(ADMIN, 'DELETE', `/api/tokens/${middle.id}`);
      await waiting(2, 'the token revocation waits for the middle token');
      cut = call(ADMIN, 'DELETE', `/api/sessions?email=${encodeURIComponent(email)}`);
      // Before the fix it revoked the user's tokens (the deeper one among them), then waited for the middle one.
      await waiting(3, 'the cut-off waits');
    } finally {
      await held.release();
    }
    const minted = await held.minting;
    assert.equal(minted.status, 201, minted.text);
    const [revoked, cutOff] = await Promise.all([revoke!, cut!]);
    assert.equal(revoked.status, 200, `DELETE /api/tokens/{id}: ${revoked.text}`);
    assert.equal(cutOff.status, 200, `DELETE /api/sessions: ${cutOff.text}`);
    for (const t of [own, middle, deeper, minted.body as { token: string }]) assert.equal(await works(t.token), 401);
    // Each token is revoked once, by one of them, and audited once.
    const ids = [own.id, middle.id, deeper.id, minted.body.id as string];
    const listed = [...revoked.body.revokedWith.map((t: Doc) => t.id), revoked.body.id, ...cutOff.body.tokens.map((t: Doc) => t.id)];
    assert.deepEqual(listed.sort(), [...ids].sort());
    const audit = await db.db.selectFrom('audit_log').select('entity_id').where('action', '=', 'token.revoke').where('entity_id', 'in', ids).execute();
    assert.deepEqual(audit.map((a) => a.entity_id).sort(), [...ids].sort());
  });

  it(`the answers list the first ${LISTED_REVOKED_TOKENS} tokens revoked and say how many; all are revoked, the audit bounded likewise`, async function () {
    const leaked = await mint(ADMIN, 'wide');
    const email = `wendy-${suffix}@example.com`;
    const own = await mint(ADMIN, 'wendy-laptop', { owner: email });
    // 150 tokens minted with each (stored as the minting stores them; minting 300 through the API adds nothing).
    const many = async (parent: string, prefix: string) => {
      const rows = Array.from({ length: 150 }, (_, i) => ({
        id: randomUUID(),
        name: `${prefix}-${i}`,
        token_hash: hashToken(`shk_${randomUUID()}`),
        scopes: ['read'],
        created_by: `token:${prefix}`,
        expires_at: new Date(Date.now() + 86_400_000),
        minted_with: parent,
      }));
      await db.db.insertInto('api_tokens').values(rows).execute();
      return rows.map((r) => r.id);
    };
    const wide = await many(leaked.id, `wide-${suffix}`);
    const wendy = await many(own.id, `wendy-${suffix}`);

    const revoked = await call(ADMIN, 'DELETE', `/api/tokens/${leaked.id}`);
    assert.equal(revoked.status, 200, revoked.text);
    assert.equal(revoked.body.revokedWith.length, LISTED_REVOKED_TOKENS);
    assert.equal(revoked.body.revokedWithTotal, 150);
    const live = (ids: string[]) => db.db.selectFrom('api_tokens').select('id').where('id', 'in', ids).where('revoked_at', 'is', null).execute();
    assert.deepEqual(await live(wide), [], 'every token minted with it is revoked, listed or not');

    const cut = await call(ADMIN, 'DELETE', `/api/sessions?email=${encodeURIComponent(email)}`);
    assert.equal(cut.status, 200, cut.text);
    assert.equal(cut.body.tokens.length, LISTED_REVOKED_TOKENS);
    assert.equal(cut.body.tokensTotal, 151);
    assert.equal(cut.body.tokens[0].id, own.id, 'the token issued to her first, then those minted with it');
    assert.deepEqual(await live(wendy), []);
    const entry = await db.db.selectFrom('audit_log').select('after').where('action', '=', 'session.revoke_user').where('entity_id', '=', email).executeTakeFirstOrThrow();
    assert.equal((entry.after as Doc).tokens.length, LISTED_REVOKED_TOKENS);
    assert.equal((entry.after as Doc).tokensTotal, 151);
  });

  it("finds a user's tokens by index, by subject and by e-mail in any case (migration 2027-01-13T00-00-token-owner-indexes)", async function () {
    const indexes = await db.pool.query<{ name: string; def: string }>("SELECT indexname AS name, indexdef AS def FROM pg_indexes WHERE tablename = 'api_tokens'");
    const defs = new Map(indexes.rows.map((i) => [i.name, i.def]));
    assert.match(defs.get('api_tokens_owner_idx') ?? 'missing', /\(owner\)/);
    assert.match(defs.get('api_tokens_owner_lower_idx') ?? 'missing', /lower\(owner\)/);
    assert.match(defs.get('api_tokens_created_by_idx') ?? 'missing', /\(created_by\)/);
    assert.match(defs.get('api_tokens_created_by_lower_idx') ?? 'missing', /lower\(created_by\)/);
    // The plan of the repository's own statement, sequential scans priced out: every arm of its OR has an
    // index, or the planner reads the whole table.
    const planOf = async (owner: { subject: string } | { email: string }, creators: string[]) => {
      let sent: CompiledQuery | undefined;
      const logging = new Kysely<Database>({ dialect: new PostgresDialect({ pool: db.pool }), log: (e) => void (sent ??= e.query) });
      await ownedTokenIds(logging, owner, creators);
      const client = await db.pool.connect();
      try {
        await client.query('BEGIN');
        await client.query('SET LOCAL enable_seqscan = off');
        const { rows } = await client.query(`EXPLAIN ${sent!.sql}`, [...sent!.parameters]);
        return rows.map((r: Record<string, string>) => Object.values(r)[0]).join('\n');
      } finally {
        await client.query('ROLLBACK');
        client.release();
      }
    };
    const bySubject = await planOf({ subject: `sub-${randomUUID()}` }, ['user:someone']);
    const byEmail = await planOf({ email: 'Someone@Example.com' }, ['user:someone@example.com']);
    for (const plan of [bySubject, byEmail]) assert.doesNotMatch(plan, /Seq Scan on api_tokens/, plan);
    for (const index of ['api_tokens_owner_idx', 'api_tokens_created_by_idx', 'api_tokens_session_subject_idx']) assert.match(bySubject, new RegExp(index), bySubject);
    for (const index of ['api_tokens_owner_lower_idx', 'api_tokens_created_by_lower_idx', 'api_tokens_session_email_idx', 'api_tokens_session_subject_idx']) {
      assert.match(byEmail, new RegExp(index), byEmail);
    }
  });

  it('POST /api/tokens documents its refusals as problem+json: 400, 401, 409, 413', async function () {
    const doc = (await (await app.request('/openapi.json')).json()) as Doc;
    const responses = doc.paths['/api/tokens'].post.responses as Doc;
    for (const status of ['400', '401', '403', '409', '413', '429']) {
      assert.ok(responses[status]?.content?.['application/problem+json'], `POST /api/tokens documents ${status} as problem+json`);
    }
    const revoke = doc.paths['/api/tokens/{id}'].delete.responses['200'].content['application/json'].schema as Doc;
    const props = (revoke.properties ?? doc.components.schemas[String(revoke.$ref).split('/').pop()!]?.properties) as Doc;
    assert.equal(props.revokedWith.maxItems, LISTED_REVOKED_TOKENS);
    assert.ok(props.revokedWithTotal, 'revokedWithTotal is documented');
  });
});
