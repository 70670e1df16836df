// selfheal sessions revoke (an admin cuts a signed-in user off), and the CLI's answer to the per-caller
// request budget (429 `limit: caller-budget`: wait Retry-After and send again), run as an SRE would (the
// real launcher in a child process) against a real API server and Postgres.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { TestDatabase } from '../helpers/db.js';
import { startLoggedApi, type LoggedApi } from '../helpers/logged-api.js';
import { ADMIN_TOKEN } from '../helpers/stack.js';
import { selfheal } from '../helpers/cli.js';
import { insertTestSession } from '../helpers/sessions.js';

const ISSUER = 'https://login.example.com/realms/sre';
const BURST = 3;

describe('selfheal sessions revoke, and the request budget, against a real server', function () {
  this.timeout(120_000);
  let api: LoggedApi;
  let db: TestDatabase;
  let server: LoggedApi['server'];
  const as = (token: string) => api.as(token);
  const requests = () => api.requests();

  before(async function () {
    api = await startLoggedApi({
      SELFHEAL_PUBLIC_URL: 'https://selfheal.example.com',
      OIDC_ISSUER_URL: ISSUER,
      OIDC_CLIENT_ID: 'selfheal',
      OIDC_CLIENT_SECRET: 'oidc-client-secret-value',
      OIDC_ROLE_MAP: 'sre=write,viewers=read',
      SELFHEAL_RATE_LIMIT_BURST: String(BURST),
      SELFHEAL_RATE_LIMIT_PER_SECOND: '1',
    });
    ({ db, server } = api);
  });
  after(async () => api?.close());

  async function signedIn(subject: string, email: string): Promise<string> {
    return (await insertTestSession(db.db, { issuer: ISSUER, subject, actor: `user:${email}`, email, scopes: ['write'], groups: ['sre'] })).cookie;
  }
  const sessionWorks = async (cookie: string) => (await fetch(`${server.url}/api/incidents`, { headers: { cookie } })).status;
  const newToken = async (scope: string) => {
    const run = await selfheal(['tokens', 'create', '--name', `t-${randomUUID().slice(0, 6)}`, '--scope', scope], as(ADMIN_TOKEN));
    assert.equal(run.code, 0, run.stderr);
    return run.stdout.split('\n')[1]!;
  };

  it('revoke --email (or --subject) cuts the user off and says how many sessions; a write token gets 403, exit 3', async function () {
    const cookie = await signedIn(`sub-${randomUUID()}`, 'mallory@example.com');
    const other = await signedIn(`sub-${randomUUID()}`, 'bob@example.com');
    assert.equal(await sessionWorks(cookie), 200);

    const writer = await newToken('write');
    const refused = await selfheal(['sessions', 'revoke', '--email', 'mallory@example.com'], as(writer));
    assert.equal(refused.code, 3);
    assert.match(refused.stderr, /^DELETE \/api\/sessions\?email=mallory%40example\.com failed: 403 /);
    assert.equal(await sessionWorks(cookie), 200);

    const issued = await selfheal(['--json', 'tokens', 'create', '--name', 'mallory-laptop', '--scope', 'read', '--owner', 'mallory@example.com'], as(ADMIN_TOKEN));
    assert.equal(issued.code, 0, issued.stderr);
    const owned = JSON.parse(issued.stdout) as { id: string; token: string };
    const run = await selfheal(['sessions', 'revoke', '--email', 'Mallory@Example.com'], as(ADMIN_TOKEN));
    assert.equal(run.code, 0, run.stderr);
    assert.equal(
      run.stdout.trimEnd(),
      'revoked 1 live session of e-mail Mallory@Example.com (user:mallory@example.com); requests with them are refused with 401\n' +
        `revoked 1 API token issued to them: mallory-laptop (${owned.id})`,
    );
    assert.equal((await fetch(`${server.url}/api/incidents`, { headers: { authorization: `Bearer ${owned.token}` } })).status, 401, 'her token too');
    assert.equal(await sessionWorks(cookie), 401);
    assert.equal(await sessionWorks(other), 200);

    const json = await selfheal(['--json', 'sessions', 'revoke', '--subject', 'sub-nobody'], as(ADMIN_TOKEN));
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), { revoked: 0, sessions: [], tokens: [], tokensTotal: 0 });

    const usage = await selfheal(['sessions', 'revoke'], as(ADMIN_TOKEN));
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /give --subject or --email/);
  });

  it('a 429 of the request budget is waited out (Retry-After) and sent again, once the server did nothing', async function () {
    const reader = await newToken('read');
    const cliAnswers = (from: number) => requests().slice(from).filter((l) => l.req?.path === '/api/jobs').map((l) => l.status);
    // Keep the token's bucket empty (on another path) until the CLI's request has been refused once. A token
    // refilled just as the CLI's first request lands lets it through at once: that attempt proves nothing
    // about waiting, so it is made again (a few times at most).
    let reached: (number | undefined)[] = [];
    for (let attempt = 0; attempt < 4 && reached[0] !== 429; attempt++) {
      const from = requests().length;
      let spending = true;
      const spender = (async () => {
        while (spending && !cliAnswers(from).includes(429)) {
          await fetch(`${server.url}/api/rules`, { headers: { authorization: `Bearer ${reader}` } });
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      const run = await selfheal(['jobs', 'list'], as(reader));
      spending = false;
      await spender;
      assert.equal(run.code, 0, run.stderr);
      reached = cliAnswers(from);
      assert.equal(reached.at(-1), 200, reached.join(','));
    }
    assert.equal(reached[0], 429, `the first answer was the budget's: ${reached.join(',')}`);
  });
});
