// A user signs in (GET /auth/callback stores a session) while an admin cuts them off (DELETE /api/sessions),
// against a real OpenID Connect provider (test/helpers/oidc-provider.ts). The cut-off's promise: every
// session of the user is gone when it answers. A session stored after it answered is allowed (the cut-off
// does not stop the user from signing in again at the provider); a session stored while it ran must be
// revoked by it. Before, the sign-in's transaction could store its session, the cut-off revoke every
// session it could see (not that one, uncommitted) and answer, and then the sign-in commit: a session the
// audit log shows created before the cut-off outlived it, unlisted in its answer. Sign-ins now take the
// revocations' lock shared (src/services/sessions.ts createSession): a cut-off waits for the sign-ins in
// flight and revokes their sessions, and a sign-in waits for a cut-off in flight and stores its session after.
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { CookieJar, jarFetch, serveLater, startOidcProvider, throughProvider, type OidcProvider } from '../helpers/oidc-provider.js';
import { insertTestSession } from '../helpers/sessions.js';
import { lockJobId } from '../../src/db/repositories/jobs.js';
import { inTransaction } from '../../src/db/repositories/transactions.js';
import { inRevocation } from '../../src/services/tokens.js';

const ADMIN = 'sign-in-cut-off-race-admin-0123456789abcdef';
const CLIENT_ID = 'selfheal-dashboard';
const CLIENT_SECRET = 'sign-in-race-client-secret-0123456789abcdef';
const SUBJECT = 'mallory';
const EMAIL = 'mallory@example.com';
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read by the assertions
type Doc = Record<string, any>;

describe('security: a sign-in racing a cut-off of its user', function () {
  this.timeout(180_000);
  let db: TestDatabase;
  let op: OidcProvider;
  let server: Awaited<ReturnType<typeof serveLater>>;
  let base: string;
  let host: string;

  before(async function () {
    // Two connections of one Postgres at once: PGlite (no DATABASE_URL) has one.
    if (!process.env.DATABASE_URL) this.skip();
    db = await createTestDatabase();
    server = await serveLater();
    base = server.url;
    host = new URL(base).hostname;
    op = await startOidcProvider({
      users: { [SUBJECT]: { email: EMAIL, name: 'Mallory', groups: ['sre-admins'] } },
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      redirectUri: `${base}/auth/callback`,
      postLogoutRedirectUri: `${base}/ui`,
    });
    const config = loadConfig({
      NODE_ENV: 'test',
      SELFHEAL_ADMIN_TOKEN: ADMIN,
      DATABASE_URL: db.url,
      TEMPORAL_ADDRESS: '127.0.0.1:1',
      OIDC_ISSUER_URL: op.issuer,
      OIDC_CLIENT_ID: CLIENT_ID,
      OIDC_CLIENT_SECRET: CLIENT_SECRET,
      SELFHEAL_PUBLIC_URL: base,
      OIDC_SCOPES: 'openid email profile groups',
      OIDC_ROLE_MAP: 'sre-admins=admin',
      // A sign-in revokes the user's older live sessions in its transaction: it touches their rows too.
      SESSION_MAX_PER_USER: '1',
      SELFHEAL_RATE_LIMIT_BURST: '100000',
      SELFHEAL_AUTH_MAX_FAILURES: '1000',
    });
    const app = createApp({ config, db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }) }, allRoutes);
    server.serve((req) => app.fetch(req));
  });
  after(async function () {
    await server?.close();
    await op?.close();
    await db?.close();
  });

  /** A sign-in of mallory at the provider, up to its callback: the URL to request in `jar`'s browser. */
  async function untilCallback(jar: CookieJar): Promise<string> {
    const start = await jarFetch(jar, `${base}/auth/login`);
    assert.equal(start.status, 302, await start.text());
    const callback = new URL(await throughProvider(jar, start.headers.get('location')!, `${base}/auth/callback`, SUBJECT));
    return `${base}${callback.pathname}${callback.search}`;
  }
  const cutOff = async () => {
    const res = await fetch(`${base}/api/sessions?subject=${SUBJECT}`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN}` } });
    const text = await res.text();
    return { status: res.status, text, body: (text ? JSON.parse(text) : {}) as Doc };
  };
  /** The session the jar's cookie names (the row's id), undefined when the callback set none. */
  const sessionOf = async (jar: CookieJar) => {
    const cookie = jar.get(host, '__Host-selfheal-session');
    if (cookie === undefined) return undefined;
    const hash = createHash('sha256').update(cookie).digest('hex');
    return (await db.db.selectFrom('auth_sessions').select(['id', 'revoked_at']).where('secret_hash', '=', hash).executeTakeFirst()) ?? undefined;
  };
  const works = async (jar: CookieJar) => (await jarFetch(jar, `${base}/auth/session`)).status;
  /** The audit entry's id (the order in which the log recorded it) of `action` on `entityId`, the last one. */
  const auditId = async (action: string, entityId: string) =>
    Number((await db.db.selectFrom('audit_log').select('id').where('action', '=', action).where('entity_id', '=', entityId).orderBy('id', 'desc').executeTakeFirstOrThrow()).id);
  /** Older live sessions of mallory, as earlier sign-ins left them (the sign-in revokes them past the limit). */
  const older = (n: number) =>
    Promise.all(Array.from({ length: n }, () => insertTestSession(db.db, { issuer: op.issuer, subject: SUBJECT, actor: `user:${EMAIL}`, email: EMAIL, scopes: ['admin'], groups: ['sre-admins'] })));
  /** Until `n` statements of this database wait for a lock (20 s at most, then fails naming what waits). */
  const waiting = async (n: number, what: string) => {
    let rows: { query: string }[] = [];
    for (let i = 0; i < 200; i++) {
      ({ rows } = await db.pool.query("SELECT query FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"));
      if (rows.length >= n) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(`${what}: ${n} statements should wait for a lock, ${rows.length} do: ${JSON.stringify(rows)}`);
  };

  it('a session the sign-in stored while the cut-off ran is revoked by it and listed in its answer (the race held open)', async function () {
    const [old] = await older(1);
    // A connection of the test holds mallory's older session, which the sign-in revokes past the limit after it
    // stored its own: the sign-in waits there, its session stored and not committed.
    const holder = await db.pool.connect();
    let held = true;
    const release = async () => {
      if (!held) return;
      held = false;
      await holder.query('COMMIT');
      holder.release();
    };
    const jar = new CookieJar();
    let signIn: Promise<Response> | undefined;
    let cut: ReturnType<typeof cutOff> | undefined;
    try {
      const callback = await untilCallback(jar);
      await holder.query('BEGIN');
      await holder.query('SELECT id FROM auth_sessions WHERE id = $1 FOR UPDATE', [old!.id]);
      signIn = jarFetch(jar, callback);
      await waiting(1, 'the sign-in waits for the older session');
      cut = cutOff();
      await waiting(2, 'the cut-off waits');
    } finally {
      await release();
    }
    const signedIn = await signIn!;
    assert.equal(signedIn.status, 303, await signedIn.clone().text());
    const answer = await cut!;
    assert.equal(answer.status, 200, answer.text);
    const session = await sessionOf(jar);
    assert.ok(session, 'the callback stored a session');
    assert.ok(
      answer.body.sessions.some((s: Doc) => s.id === session.id),
      `the session stored while the cut-off ran is listed as revoked: ${JSON.stringify(answer.body.sessions)} (session ${session.id}, created in the audit log before the cut-off: ${(await auditId('session.create', session.id)) < (await auditId('session.revoke_user', SUBJECT))})`,
    );
    assert.equal(await works(jar), 401, 'the session stored while the cut-off ran is refused');
  });

  it('thirty sign-ins at the moment of a cut-off: no deadlock, no 500, and no session created before the cut-off survives it', async function () {
    const rounds = 30;
    for (let i = 0; i < rounds; i++) {
      // Three older live sessions: the sign-in revokes them past the limit while the cut-off revokes them too.
      await older(3);
      const jar = new CookieJar();
      const callback = await untilCallback(jar);
      // The callback asks the provider's token and userinfo endpoints before it stores the session: the cut-off
      // starts a little later, by a different delay each round, to meet the sign-in's transaction.
      const delay = (i * 7) % 40;
      const [signedIn, answer] = await Promise.all([jarFetch(jar, callback), new Promise((r) => setTimeout(r, delay)).then(cutOff)]);
      assert.equal(signedIn.status, 303, `round ${i}: the callback answered ${signedIn.status}: ${(await signedIn.text()).slice(0, 500)}`);
      assert.equal(answer.status, 200, `round ${i}: the cut-off answered ${answer.status}: ${answer.text}`);
      const session = await sessionOf(jar);
      assert.ok(session, `round ${i}: the callback stored a session`);
      const listed = answer.body.sessions.some((s: Doc) => s.id === session.id);
      if (listed) {
        assert.equal(await works(jar), 401, `round ${i}: a session the cut-off listed is refused`);
      } else {
        // Not revoked by it: then it was stored after it, as the audit log records them.
        const created = await auditId('session.create', session.id);
        const cut = await auditId('session.revoke_user', SUBJECT);
        assert.ok(created > cut, `round ${i}: session ${session.id} created before the cut-off (audit ${created} < ${cut}) outlived it, unlisted`);
        assert.equal(session.revoked_at, null);
        // The next round starts with no live session of this sign-in left to race with.
        await cutOff();
      }
    }
  });

  /**
   * Runs `run` until it calls its `hold` (then holds what it took) and keeps it there until the returned
   * release is called: the lock a transaction took stays taken meanwhile.
   */
  const holding = async (run: (hold: () => Promise<void>) => Promise<unknown>) => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let held!: () => void;
    const taken = new Promise<void>((r) => (held = r));
    const done = run(async () => {
      held();
      await released;
    });
    await Promise.race([taken, done]);
    return async () => {
      release();
      await done;
    };
  };
  /** A sign-in of mallory from start to callback in a new browser: the callback's answer, and the jar. */
  const signIn = async (bound: number) => {
    const jar = new CookieJar();
    const callback = await untilCallback(jar);
    const started = Date.now();
    const answer = await Promise.race([jarFetch(jar, callback), new Promise<undefined>((r) => setTimeout(r, bound, undefined))]);
    assert.ok(answer, `the sign-in should be answered within ${bound / 1000} s; it still waits after ${Math.round((Date.now() - started) / 1000)} s`);
    return { answer, page: await answer.text(), jar };
  };

  it('a sign-in during a long revocation waits a few seconds at most: 503 with Retry-After and a page, no session, not a connection held until the statement timeout', async function () {
    // A revocation holds its lock as a long one would (a tree of thousands of tokens): each sign-in waiting for
    // it held a pool connection until the statement timeout (30 s), so a few sign-ins at that moment took the
    // API's pool (alert intake included) with them.
    const release = await holding((hold) => inRevocation(db.db, hold));
    try {
      const { answer, page, jar } = await signIn(15_000);
      assert.equal(answer.status, 503, page.slice(0, 500));
      assert.ok(Number(answer.headers.get('retry-after')) > 0, `Retry-After: ${answer.headers.get('retry-after')}`);
      assert.match(answer.headers.get('content-type') ?? '', /text\/html/);
      assert.match(page, /data-testid="sign-in-refused"/);
      assert.equal(await sessionOf(jar), undefined, 'no session is stored');
    } finally {
      await release();
    }
    // The revocation over, the user signs in as before.
    const { answer, page, jar } = await signIn(15_000);
    assert.equal(answer.status, 303, page.slice(0, 500));
    assert.equal(await works(jar), 200);
    await cutOff();
  });

  it("a job whose id hashes to the revocations' lock (64 bits, found in a minute) does not hold off sign-ins or revocations while it is changed", async function () {
    // hashtextextended is no cryptographic hash: its last 12-byte block can be solved for any 64-bit key. A
    // user who may create jobs (write) named one so, and each change of it, and each pass of the worker's
    // schedule reconcile over it, held the revocations' lock alone across its Temporal calls.
    const id = 'yzxb54by3g-mprtsw-x3';
    const { rows } = await db.pool.query("SELECT hashtextextended($1, 0) = hashtextextended('api_tokens:revocation', 0) AS same", [`job:${id}`]);
    assert.equal(rows[0].same, true, 'the id is made to collide with the key the revocations took');
    const release = await holding((hold) =>
      inTransaction(db.db, async (trx) => {
        await lockJobId(trx, id);
        await hold();
      }),
    );
    try {
      const { answer, page, jar } = await signIn(15_000);
      assert.equal(answer.status, 303, `the sign-in during a change of job ${id}: ${page.slice(0, 300)}`);
      const cut = await Promise.race([cutOff(), new Promise<undefined>((r) => setTimeout(r, 10_000, undefined))]);
      assert.ok(cut, 'the cut-off answers while the job is being changed');
      assert.equal(cut.status, 200, cut.text);
      assert.equal(await works(jar), 401, 'the cut-off revoked the session');
    } finally {
      await release();
    }
  });

  it('a token minted from a session at the moment of its cut-off: the minting is refused or its token revoked, no 500', async function () {
    for (let i = 0; i < 20; i++) {
      const [s] = await older(1);
      const headers = { cookie: s!.cookie, origin: base, 'sec-fetch-site': 'same-origin', 'x-csrf-token': s!.csrf, 'content-type': 'application/json' };
      const name = `race-${randomUUID().slice(0, 8)}`;
      const delay = (i * 3) % 10;
      const [minted, answer] = await Promise.all([
        fetch(`${base}/api/tokens`, { method: 'POST', headers, body: JSON.stringify({ name, scopes: ['admin'] }) }),
        new Promise((r) => setTimeout(r, delay)).then(cutOff),
      ]);
      assert.equal(answer.status, 200, `round ${i}: the cut-off answered ${answer.status}: ${answer.text}`);
      const body = (await minted.json()) as Doc;
      if (minted.status === 201) {
        assert.ok(answer.body.tokens.some((t: Doc) => t.id === body.id), `round ${i}: the token minted from the session is revoked with it`);
        const used = await fetch(`${base}/api/tokens`, { headers: { authorization: `Bearer ${body.token}` } });
        assert.equal(used.status, 401, `round ${i}: the token minted from the cut-off session is refused`);
      } else {
        assert.equal(minted.status, 401, `round ${i}: the minting answered ${minted.status}: ${JSON.stringify(body)}`);
      }
    }
  });
});
