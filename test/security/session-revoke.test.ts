// An admin cuts off a signed-in user whose account is compromised (DELETE /api/sessions, README "Single
// sign-on"): every live session of that user is refused from the next request on, another user's session
// keeps working, only the admin scope may do it, it is audited, and a revoked session buys nothing new
// (no session, no API token). Before it, a session lived until its owner signed out or it expired. A token
// minted from a session of the user goes too, even when that session had already ended (signed out, timed
// out, swept), and so do the tokens minted with it; before, only tokens named by a still-live session did.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Kysely, PostgresDialect, type CompiledQuery } from 'kysely';
import type { createApp } from '../../src/api/app.js';
import { hashToken } from '../../src/api/auth.js';
import { newSecret } from '../../src/api/session.js';
import { createSession } from '../../src/services/sessions.js';
import type { Database } from '../../src/db/database.js';
import { revokeOwnerSessions, type SessionOwner } from '../../src/db/repositories/sessions.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { ADMIN_TOKEN, issueToken } from '../helpers/stack.js';
import { insertTestSession, SSO_ISSUER, SSO_ORIGIN, ssoApp } from '../helpers/sessions.js';

const ORIGIN = SSO_ORIGIN;
const ISSUER = SSO_ISSUER;
const GROUPS = { admin: 'sre-admins', write: 'sre', read: 'viewers' } as const;

describe('security: an admin revokes every session of a user', function () {
  let db: TestDatabase;
  let app: ReturnType<typeof createApp>;
  const api = (path: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    if (!headers.has('authorization') && !headers.has('cookie')) headers.set('authorization', `Bearer ${ADMIN_TOKEN}`);
    if (init.body && !headers.has('content-type')) headers.set('content-type', 'application/json');
    return Promise.resolve(app.request(path, { ...init, headers }));
  };

  before(async function () {
    db = await createTestDatabase();
    app = ssoApp(db, {
      OIDC_ROLE_MAP: `${GROUPS.admin}=admin,${GROUPS.write}=write,${GROUPS.read}=read`,
    });
  });
  after(async () => db?.close());

  interface Signed {
    id: string;
    cookie: string;
    csrf: string;
  }
  /** A session as the sign-in stores it: the user (subject, e-mail) with one group giving `role`. */
  async function signedIn(subject: string, email: string, role: keyof typeof GROUPS): Promise<Signed> {
    return insertTestSession(db.db, { issuer: ISSUER, subject, actor: `user:${email}`, email, scopes: [role], groups: [GROUPS[role]] });
  }
  const withSession = (s: Signed, init: RequestInit = {}) => ({ ...init, headers: { cookie: s.cookie, origin: ORIGIN, 'sec-fetch-site': 'same-origin', 'x-csrf-token': s.csrf, ...(init.headers as Record<string, string>) } });
  const works = async (s: Signed) => (await api('/api/incidents', withSession(s))).status;
  const liveSessionsOf = (subject: string) => db.db.selectFrom('auth_sessions').select('id').where('subject', '=', subject).where('revoked_at', 'is', null).execute();

  it("revokes every live session of the user at once; another user's session keeps working; audited with the admin and the count", async function () {
    const subject = `sub-mallory-${randomUUID()}`;
    const laptop = await signedIn(subject, 'mallory@example.com', 'admin');
    const phone = await signedIn(subject, 'mallory@example.com', 'admin');
    const bob = await signedIn(`sub-bob-${randomUUID()}`, 'bob@example.com', 'write');
    for (const s of [laptop, phone, bob]) assert.equal(await works(s), 200);

    const res = await api(`/api/sessions?subject=${encodeURIComponent(subject)}`, { method: 'DELETE' });
    assert.equal(res.status, 200, await res.clone().text());
    const body = (await res.json()) as { revoked: number; sessions: { id: string; actor: string; subject: string }[] };
    assert.equal(body.revoked, 2);
    assert.deepEqual(body.sessions.map((s) => s.id).sort(), [laptop.id, phone.id].sort());

    for (const s of [laptop, phone]) {
      const refused = await api('/api/incidents', withSession(s));
      assert.equal(refused.status, 401);
      assert.match(((await refused.json()) as { detail: string }).detail, /expired or was signed out/);
    }
    assert.equal(await works(bob), 200, "another user's session still works");

    const audit = await db.db.selectFrom('audit_log').selectAll().where('action', '=', 'session.revoke_user').where('entity_id', '=', subject).execute();
    assert.equal(audit.length, 1);
    assert.equal(audit[0]!.actor, 'admin-token');
    assert.equal(audit[0]!.entity_type, 'user');
    const after = audit[0]!.after as { by: string; revoked: number; sessions: string[]; actors: string[] };
    assert.deepEqual([after.by, after.revoked, after.sessions.sort(), after.actors], ['subject', 2, [laptop.id, phone.id].sort(), ['user:mallory@example.com']]);
    // The admin reads it back through the API, like every audit entry.
    const listed = (await (await api(`/api/audit?action=session.revoke_user&entityId=${encodeURIComponent(subject)}`)).json()) as { items: unknown[] };
    assert.equal(listed.items.length, 1);

    // Again: nothing live is left, and the answer says so (the call is audited all the same).
    const twice = (await (await api(`/api/sessions?subject=${encodeURIComponent(subject)}`, { method: 'DELETE' })).json()) as { revoked: number };
    assert.equal(twice.revoked, 0);
  });

  it('the session.revoke_user entry names the first 100 actors of the sessions revoked and says how many (actorsTotal), as it does sessions and tokens', async function () {
    // An address any account at the provider may carry unverified: 130 subjects signed in under it, each
    // acting as user:<subject>. Before, the entry listed every actor, without bound.
    const email = `Shared.${randomUUID().slice(0, 6)}@Example.com`;
    const subjects = Array.from({ length: 130 }, (_, i) => `sub-${i}-${randomUUID()}`);
    for (const subject of subjects) await insertTestSession(db.db, { issuer: ISSUER, subject, actor: `user:${subject}`, email, scopes: ['read'], groups: [GROUPS.read] });
    const res = await api(`/api/sessions?email=${encodeURIComponent(email)}`, { method: 'DELETE' });
    assert.equal(res.status, 200, await res.clone().text());
    const body = (await res.json()) as { revoked: number; sessions: unknown[] };
    assert.equal(body.revoked, 130);
    assert.equal(body.sessions.length, 100);
    const entry = await db.db.selectFrom('audit_log').select('after').where('action', '=', 'session.revoke_user').where('entity_id', '=', email).executeTakeFirstOrThrow();
    const after = entry.after as { revoked: number; sessions: string[]; actors: string[]; actorsTotal: number };
    assert.equal(after.revoked, 130);
    assert.equal(after.sessions.length, 100);
    assert.equal(after.actors.length, 100, `the entry lists ${after.actors.length} actors`);
    assert.equal(after.actorsTotal, 130);
    assert.equal(new Set(after.actors).size, 100, 'each actor once');
    for (const a of after.actors) assert.ok(subjects.includes(a.slice('user:'.length)), a);
  });

  it('the API tokens issued to the user under that name go with the sessions: by e-mail in any case, by subject exactly; other tokens keep working; audited', async function () {
    const subject = `sub-nina-${randomUUID()}`;
    const issue = async (name: string, owner?: string) => {
      const res = await api('/api/tokens', { method: 'POST', body: JSON.stringify({ name, scopes: ['read'], ...(owner ? { owner } : {}) }) });
      assert.equal(res.status, 201, await res.clone().text());
      return (await res.json()) as { id: string; token: string };
    };
    const byMail = await issue('nina-laptop', 'Nina@Example.com');
    const bySub = await issue('nina-ci', `user:${subject}`);
    const olga = await issue('olga-laptop', 'olga@example.com');
    const shared = await issue('nina-shared');
    const reads = async (t: { token: string }) => (await api('/api/incidents', { headers: { authorization: `Bearer ${t.token}` } })).status;
    for (const t of [byMail, bySub, olga, shared]) assert.equal(await reads(t), 200);

    const mail = await api(`/api/sessions?email=${encodeURIComponent('nina@EXAMPLE.com')}`, { method: 'DELETE' });
    assert.equal(mail.status, 200);
    assert.deepEqual(((await mail.json()) as { tokens: unknown[] }).tokens, [{ id: byMail.id, name: 'nina-laptop' }]);
    assert.equal(await reads(byMail), 401, 'the token issued to her address is refused');
    assert.equal(await reads(bySub), 200, 'a token issued to her subject is not named by her address');

    const sub = await api(`/api/sessions?subject=${encodeURIComponent(subject)}`, { method: 'DELETE' });
    assert.deepEqual(((await sub.json()) as { tokens: unknown[] }).tokens, [{ id: bySub.id, name: 'nina-ci' }]);
    assert.equal(await reads(bySub), 401);
    assert.equal(await reads(olga), 200, "another person's token still works");
    assert.equal(await reads(shared), 200, 'a token issued to nobody in particular is not touched');

    const audit = await db.db.selectFrom('audit_log').select(['actor', 'entity_id', 'after']).where('action', '=', 'token.revoke').where('entity_id', 'in', [byMail.id, bySub.id]).orderBy('id').execute();
    assert.deepEqual(audit.map((a) => [a.actor, a.entity_id, (a.after as { reason: string }).reason]), [['admin-token', byMail.id, 'owner cut off'], ['admin-token', bySub.id, 'owner cut off']]);
    const cut = await db.db.selectFrom('audit_log').select('after').where('action', '=', 'session.revoke_user').where('entity_id', '=', subject).executeTakeFirstOrThrow();
    assert.deepEqual((cut.after as { tokens: string[] }).tokens, [bySub.id]);
  });

  it('a revoked session gets nothing new: no session, no API token, no sign-out of anything', async function () {
    const subject = `sub-eve-${randomUUID()}`;
    const eve = await signedIn(subject, 'eve@example.com', 'admin');
    // While live, an admin session could mint a token; the revocation must stop exactly that.
    assert.equal((await api('/api/tokens', withSession(eve))).status, 200);
    assert.equal((await api(`/api/sessions?subject=${encodeURIComponent(subject)}`, { method: 'DELETE' })).status, 200);

    const who = await api('/auth/session', withSession(eve));
    assert.equal(who.status, 401);
    assert.ok(!who.headers.getSetCookie().some((l) => l.startsWith('__Host-selfheal-session=') && !/Max-Age=0/i.test(l)), 'no new session cookie');
    const mint = await api('/api/tokens', withSession(eve, { method: 'POST', body: JSON.stringify({ name: 'eve-persistence', scopes: ['admin'] }), headers: { 'content-type': 'application/json' } }));
    assert.equal(mint.status, 401);
    const revokeOthers = await api(`/api/sessions?email=${encodeURIComponent('bob@example.com')}`, withSession(eve, { method: 'DELETE' }));
    assert.equal(revokeOthers.status, 401);
    const out = await api('/auth/logout', withSession(eve, { method: 'POST' }));
    assert.equal(out.status, 200);
    assert.equal(((await out.json()) as { logoutUrl: string | null }).logoutUrl, null, 'no ID token handed out for a dead session');

    assert.deepEqual(await liveSessionsOf(subject), [], 'no live session of the user');
    const tokens = await db.db.selectFrom('api_tokens').select('id').where('name', '=', 'eve-persistence').execute();
    assert.deepEqual(tokens, [], 'no token minted');
  });

  it('a token minted from the session before it was cut off goes with it, though it names no owner; tokens others issued keep working', async function () {
    const subject = `sub-mallory-${randomUUID()}`;
    const mallory = await signedIn(subject, 'mallory@example.com', 'admin');
    // The review's repro: a stolen admin session mints a year-long admin token with no owner.
    const minted = await api('/api/tokens', withSession(mallory, { method: 'POST', body: JSON.stringify({ name: 'ci', scopes: ['admin'], expiresIn: '366d' }), headers: { 'content-type': 'application/json' } }));
    assert.equal(minted.status, 201, await minted.clone().text());
    const { id, token } = (await minted.json()) as { id: string; token: string };
    const others = await api('/api/tokens', { method: 'POST', body: JSON.stringify({ name: 'admin-ci', scopes: ['read'] }) });
    const other = (await others.json()) as { id: string; token: string };
    assert.equal((await api('/api/tokens', { headers: { authorization: `Bearer ${token}` } })).status, 200, 'the minted token works while the session lives');

    const cut = await api(`/api/sessions?email=${encodeURIComponent('Mallory@Example.com')}`, { method: 'DELETE' });
    assert.equal(cut.status, 200);
    assert.deepEqual(((await cut.json()) as { tokens: { id: string }[] }).tokens.map((t) => t.id), [id], 'the minted token is listed as revoked');
    // Before, it kept working for a year: the session was gone, its token not.
    assert.equal((await api('/api/tokens', { headers: { authorization: `Bearer ${token}` } })).status, 401);
    assert.equal((await api('/api/incidents', { headers: { authorization: `Bearer ${other.token}` } })).status, 200, "the admin's own token is untouched");
  });

  /** POST /api/tokens with these headers (a session's or a bearer's); the answer's status and body. */
  const mint = async (init: RequestInit, name: string) => {
    const headers = { 'content-type': 'application/json', ...(init.headers as Record<string, string>) };
    const res = await api('/api/tokens', { ...init, method: 'POST', headers, body: JSON.stringify({ name, scopes: ['admin'], expiresIn: '366d' }) });
    return { status: res.status, body: (await res.json()) as { id: string; token: string; mintedFrom: { session: string; issuer: string; subject: string; email: string | null } | null; detail?: string } };
  };
  const bearer = (token: string, init: RequestInit = {}): RequestInit => ({ ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string>) } });
  const tokenWorks = async (token: string) => (await api('/api/tokens', bearer(token))).status;
  /** Until a statement of this test's database waits for a row lock (a minute at most). */
  const someoneWaitsForALock = async () => {
    for (let i = 0; i < 600; i++) {
      const { rows } = await db.pool.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'");
      if ((rows[0] as { n: number }).n > 0) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  it('a token minted from a session that has since been signed out goes with the subject, and so do tokens minted with it (a verified e-mail: the session acted as user:<email>)', async function () {
    const subject = `sub-mallory-${randomUUID()}`;
    const email = `mallory.${randomUUID().slice(0, 6)}@corp.example`;
    // The review's repro: a stolen admin cookie reads the CSRF token, mints a year-long admin token, signs out.
    const stolen = await signedIn(subject, email, 'admin');
    const who = (await (await api('/auth/session', withSession(stolen))).json()) as { actor: string; csrfToken: string };
    assert.equal(who.actor, `user:${email}`);
    const ci = await mint(withSession({ ...stolen, csrf: who.csrfToken }), 'ci');
    assert.equal(ci.status, 201, JSON.stringify(ci.body));
    assert.deepEqual(ci.body.mintedFrom, { session: stolen.id, issuer: ISSUER, subject, email });
    assert.equal((await api('/auth/logout', withSession(stolen, { method: 'POST' }))).status, 200);
    // The session is gone; its token mints the next one, which inherits where it came from.
    const ci2 = await mint(bearer(ci.body.token), 'ci-2');
    assert.equal(ci2.status, 201, JSON.stringify(ci2.body));
    assert.deepEqual(ci2.body.mintedFrom, ci.body.mintedFrom);
    const admins = await mint({}, 'admin-ci');
    assert.equal(admins.body.mintedFrom, null, 'the admin token is no session');

    const cut = await api(`/api/sessions?subject=${encodeURIComponent(subject)}`, { method: 'DELETE' });
    assert.equal(cut.status, 200);
    const body = (await cut.json()) as { revoked: number; tokens: { id: string }[] };
    assert.equal(body.revoked, 0, 'no session was live');
    assert.deepEqual(body.tokens.map((t) => t.id).sort(), [ci.body.id, ci2.body.id].sort(), 'the tokens minted from the ended session are listed as revoked');
    assert.equal(await tokenWorks(ci.body.token), 401, 'the token minted from the stolen session is refused');
    assert.equal(await tokenWorks(ci2.body.token), 401, 'and so is the token it minted');
    assert.equal(await tokenWorks(admins.body.token), 200, "the admin's own token is untouched");
  });

  it('the mirror case: a token minted from a session that timed out goes with the e-mail address it carried, unverified (the session acted as user:<sub>), and from any session of that subject', async function () {
    const subject = `sub-mallory-${randomUUID()}`;
    const email = `Mallory.${randomUUID().slice(0, 6)}@Corp.example`;
    const start = (mail: string | null) => insertTestSession(db.db, { issuer: ISSUER, subject, actor: `user:${subject}`, email: mail, scopes: ['admin'], groups: [GROUPS.admin] });
    const withMail = await start(email);
    const noMail = await start(null); // the provider gave no address this time
    const fromMail = await mint(withSession(withMail), 'laptop');
    const fromNoMail = await mint(withSession(noMail), 'script');
    assert.deepEqual([fromMail.status, fromNoMail.status], [201, 201]);
    // Both sessions time out (idle), their rows kept until the sweep.
    await db.db.updateTable('auth_sessions').set({ last_seen_at: new Date(Date.now() - 2 * 3600_000) }).where('id', 'in', [withMail.id, noMail.id]).execute();
    assert.equal(await works(withMail), 401);

    const cut = await api(`/api/sessions?email=${encodeURIComponent(email.toUpperCase())}`, { method: 'DELETE' });
    assert.equal(cut.status, 200);
    const body = (await cut.json()) as { revoked: number; tokens: { id: string }[] };
    assert.equal(body.revoked, 0, 'no session was live');
    assert.deepEqual(body.tokens.map((t) => t.id).sort(), [fromMail.body.id, fromNoMail.body.id].sort());
    assert.equal(await tokenWorks(fromMail.body.token), 401, 'the token minted from the session that carried the address is refused');
    assert.equal(await tokenWorks(fromNoMail.body.token), 401, "the token minted from another session of the address's subject is refused");
  });

  it('a token minted from a session swept since (a day after it ended) still goes with the address the session carried', async function () {
    const subject = `sub-mallory-${randomUUID()}`;
    const email = `mallory.${randomUUID().slice(0, 6)}@corp.example`;
    const gone = await insertTestSession(db.db, { issuer: ISSUER, subject, actor: `user:${subject}`, email, scopes: ['admin'], groups: [GROUPS.admin] });
    const minted = await mint(withSession(gone), 'ci');
    assert.equal(minted.status, 201);
    await db.db.deleteFrom('auth_sessions').where('id', '=', gone.id).execute();
    const cut = await api(`/api/sessions?email=${encodeURIComponent(email)}`, { method: 'DELETE' });
    assert.deepEqual(((await cut.json()) as { tokens: { id: string }[] }).tokens.map((t) => t.id), [minted.body.id]);
    assert.equal(await tokenWorks(minted.body.token), 401);
  });

  it('a session or token revoked while a token is being minted with it: the minting waits and is refused, nothing is stored', async function () {
    const subject = `sub-mallory-${randomUUID()}`;
    const stolen = await signedIn(subject, `mallory.${randomUUID().slice(0, 6)}@corp.example`, 'admin');
    const parent = await mint(withSession(stolen), 'parent');
    assert.equal(parent.status, 201);
    assert.equal(await tokenWorks(parent.body.token), 200, 'used once: its use is recorded, and not again within the minute');
    // A revocation holds the row from when it changes it until it commits; a minting authenticated just
    // before must not slip a token past it.
    for (const [what, revoke, init] of [
      ['session', 'UPDATE auth_sessions SET revoked_at = now() WHERE id = $1', withSession(stolen)],
      ['token', 'UPDATE api_tokens SET revoked_at = now() WHERE id = $1', bearer(parent.body.token)],
    ] as const) {
      const other = await db.pool.connect();
      try {
        await other.query('BEGIN');
        await other.query(revoke, [what === 'session' ? stolen.id : parent.body.id]);
        const late = mint(init, `late-${what}`);
        await Promise.race([late, someoneWaitsForALock()]);
        await other.query('COMMIT');
        const answer = await late;
        assert.equal(answer.status, 401, `minted with the ${what} revoked meanwhile: ${JSON.stringify(answer.body)}`);
      } finally {
        other.release();
      }
      assert.deepEqual(await db.db.selectFrom('api_tokens').select('id').where('name', '=', `late-${what}`).execute(), [], `no token minted with the ${what}`);
    }
  });

  it('a token minted with a token of the user while the cut-off waits for that token is revoked with it', async function () {
    const subject = `sub-mallory-${randomUUID()}`;
    const stolen = await signedIn(subject, `mallory.${randomUUID().slice(0, 6)}@corp.example`, 'admin');
    const parent = await mint(withSession(stolen), 'parent');
    assert.equal(parent.status, 201);
    // The minting (src/services/tokens.ts, done here by hand to hold it at that point) has locked its parent
    // token; the cut-off waits for it, and then must find the token it stored.
    const child = { id: randomUUID(), value: `shk_${randomUUID()}` };
    const minting = await db.pool.connect();
    try {
      await minting.query('BEGIN');
      await minting.query('SELECT id FROM api_tokens WHERE id = $1 FOR SHARE', [parent.body.id]);
      const cut = api(`/api/sessions?subject=${encodeURIComponent(subject)}`, { method: 'DELETE' });
      await Promise.race([cut, someoneWaitsForALock()]);
      await minting.query(
        `INSERT INTO api_tokens (id, name, token_hash, scopes, created_by, expires_at, session_id, session_issuer, session_subject, session_email)
         SELECT $1, 'child', $2, '{admin}', 'token:parent', now() + interval '1 day', session_id, session_issuer, session_subject, session_email FROM api_tokens WHERE id = $3`,
        [child.id, hashToken(child.value), parent.body.id],
      );
      await minting.query('COMMIT');
      const body = (await (await cut).json()) as { tokens: { id: string }[] };
      assert.deepEqual(body.tokens.map((t) => t.id).sort(), [parent.body.id, child.id].sort(), 'the token minted meanwhile is revoked too');
    } finally {
      minting.release();
    }
    assert.equal(await tokenWorks(child.value), 401);
  });

  it('only the admin scope may revoke: read and write tokens, and a write session, get 403 and nothing changes', async function () {
    const subject = `sub-alice-${randomUUID()}`;
    const alice = await signedIn(subject, 'alice@example.com', 'read');
    const reader = await issueToken({ api }, `reader-${randomUUID().slice(0, 6)}`, ['read']);
    const writer = await issueToken({ api }, `writer-${randomUUID().slice(0, 6)}`, ['write']);
    const bob = await signedIn(`sub-bob-${randomUUID()}`, 'bob2@example.com', 'write');
    const path = `/api/sessions?subject=${encodeURIComponent(subject)}`;
    for (const [who, init] of [
      ['read token', { method: 'DELETE', headers: { authorization: `Bearer ${reader}` } }],
      ['write token', { method: 'DELETE', headers: { authorization: `Bearer ${writer}` } }],
      ['write session', withSession(bob, { method: 'DELETE' })],
    ] as const) {
      const res = await api(path, init);
      assert.equal(res.status, 403, who);
      assert.match(((await res.json()) as { detail: string }).detail, /"admin" scope/, who);
    }
    assert.equal(await works(alice), 200, 'still signed in');
    assert.equal((await liveSessionsOf(subject)).length, 1);
    const audit = await db.db.selectFrom('audit_log').select('id').where('action', '=', 'session.revoke_user').where('entity_id', '=', subject).execute();
    assert.deepEqual(audit, [], 'nothing audited for a refused call');
  });

  it("finds a user's sessions by index, by subject and by e-mail in any case (migration 2026-12-12T00-00-auth-sessions-owner-indexes)", async function () {
    const indexes = await db.pool.query<{ name: string; def: string }>("SELECT indexname AS name, indexdef AS def FROM pg_indexes WHERE tablename = 'auth_sessions'");
    const defs = new Map(indexes.rows.map((i) => [i.name, i.def]));
    assert.match(defs.get('auth_sessions_subject_idx') ?? 'missing', /\(subject\)/);
    assert.match(defs.get('auth_sessions_email_idx') ?? 'missing', /lower\(email\)/);
    // The plan of the revocation's own statement (captured as the repository sends it), with sequential
    // scans priced out so that the planner shows which index it can use, whatever the table's size.
    const planOf = async (owner: SessionOwner) => {
      let sent: CompiledQuery | undefined;
      const logging = new Kysely<Database>({ dialect: new PostgresDialect({ pool: db.pool }), log: (e) => void (sent ??= e.query) });
      await revokeOwnerSessions(logging, owner);
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
    assert.match(await planOf({ subject: `sub-${randomUUID()}` }), /auth_sessions_subject_idx/);
    assert.match(await planOf({ email: 'Someone@Example.com' }), /auth_sessions_email_idx/);
  });

  it('by e-mail (any case), also from an admin dashboard session; a request naming neither or both is a 400', async function () {
    const email = `Carol.${randomUUID().slice(0, 6)}@Example.com`;
    const carol = await signedIn(`sub-carol-${randomUUID()}`, email, 'write');
    const admin = await signedIn(`sub-ada-${randomUUID()}`, 'ada@example.com', 'admin');
    const res = await api(`/api/sessions?email=${encodeURIComponent(email.toLowerCase())}`, withSession(admin, { method: 'DELETE' }));
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(((await res.json()) as { revoked: number }).revoked, 1);
    assert.equal(await works(carol), 401);
    assert.equal(await works(admin), 200, "the admin's own session is not touched");
    const audit = await db.db.selectFrom('audit_log').select(['actor', 'entity_id']).where('action', '=', 'session.revoke_user').where('entity_id', '=', email.toLowerCase()).executeTakeFirstOrThrow();
    assert.equal(audit.actor, 'user:ada@example.com');

    for (const query of ['', `?subject=x&email=${encodeURIComponent(email)}`]) {
      const bad = await api(`/api/sessions${query}`, { method: 'DELETE' });
      assert.equal(bad.status, 400, query);
    }
  });

  it('concurrent sign-ins of one user keep at most the limit live: twelve at once with a limit of 3 leave 3, the newest, and revoke nine, audited', async function () {
    const subject = `sub-${randomUUID()}`;
    const record = () => ({
      id: randomUUID(),
      secretHash: hashToken(newSecret()),
      issuer: ISSUER,
      subject,
      actor: 'user:zoe@example.com',
      email: 'zoe@example.com',
      name: null,
      scopes: ['write'],
      groups: [GROUPS.write],
      idTokenSealed: null,
      maxAgeSeconds: 3600,
      idleTimeoutSeconds: 3600,
    });
    const records = Array.from({ length: 12 }, record);
    await Promise.all(records.map((r) => createSession(db.db, r, [], 3)));
    const rows = await db.db.selectFrom('auth_sessions').select(['id', 'revoked_at', 'created_at']).where('subject', '=', subject).orderBy('created_at', 'desc').execute();
    const live = rows.filter((r) => r.revoked_at === null);
    assert.equal(live.length, 3, `live: ${live.length}`);
    assert.deepEqual(live.map((r) => r.id), rows.slice(0, 3).map((r) => r.id), 'the newest three');
    const evicted = await db.db.selectFrom('audit_log').select('entity_id').where('action', '=', 'session.revoke').where('entity_id', 'in', records.map((r) => r.id)).execute();
    assert.equal(evicted.length, 9);
  });
});
