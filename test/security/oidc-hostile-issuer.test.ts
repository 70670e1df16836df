// What a hostile or compromised identity provider can make the API's sign-in do with its answers. Its
// discovery document or key set answering with a redirect (to an internal address, or to itself without
// end) is not followed: openid-client asks with `redirect: 'manual'` and src/api/oidc.ts passes that on to
// fetch, so the sign-in fails on the redirect and the address it names is never asked.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestDatabase } from '../helpers/db.js';
import { signInStarted, ssoAppOnNewDatabase } from '../helpers/oidc-provider.js';

const CLIENT_ID = 'selfheal-dashboard';

interface Peer {
  url: string;
  /** The paths asked, in order. */
  asked: string[];
  close(): Promise<void>;
}

async function peer(handle: (req: http.IncomingMessage, res: http.ServerResponse, url: string) => void): Promise<Peer> {
  const asked: string[] = [];
  let url = '';
  const server = http.createServer((req, res) => {
    asked.push(req.url ?? '');
    handle(req, res, url);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    asked,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

describe('security: a hostile identity provider cannot send the sign-in elsewhere with a redirect', function () {
  this.timeout(60_000);
  const dbs: TestDatabase[] = [];
  const peers: Peer[] = [];
  /** Stands for an internal service (cloud metadata, an admin API): it must never be asked. */
  let internal: Peer;

  before(async function () {
    internal = await peer((_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":[]}'));
    peers.push(internal);
  });
  after(async function () {
    for (const p of peers) await p.close();
    for (const d of dbs) await d.close();
  });

  it('a discovery document that redirects (to an internal address, or to itself) is not followed: a fixed 502 page', async function () {
    const toInternal = await peer((_req, res) => void res.writeHead(302, { location: `${internal.url}/latest/meta-data/` }).end());
    const loop = await peer((req, res) => void res.writeHead(302, { location: req.url ?? '/' }).end());
    peers.push(toInternal, loop);
    for (const issuer of [toInternal, loop]) {
      const app = await ssoAppOnNewDatabase(dbs, { OIDC_ISSUER_URL: issuer.url, SELFHEAL_PUBLIC_URL: 'http://127.0.0.1:8080' });
      const res = await app.request('/auth/login');
      const page = await res.text();
      assert.equal(res.status, 502, page);
      assert.match(page, /The identity provider cannot be reached/);
      assert.ok(!page.includes(internal.url), page);
      assert.deepEqual(issuer.asked, ['/.well-known/openid-configuration'], 'asked once, the redirect not followed');
    }
    assert.deepEqual(internal.asked, [], 'the address a redirect named was never asked');
  });

  it('a key set (jwks_uri) that redirects to an internal address is not followed: the sign-in is refused', async function () {
    let nonce = '';
    const provider = await peer((req, res, issuer) => {
      if (req.url === '/.well-known/openid-configuration') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({ issuer, authorization_endpoint: `${issuer}/authorize`, token_endpoint: `${issuer}/token`, jwks_uri: `${issuer}/jwks`, response_types_supported: ['code'], subject_types_supported: ['public'], id_token_signing_alg_values_supported: ['RS256'] }),
        );
      } else if (req.url === '/token') {
        // An ID token whose claims pass; its signature is checked against the key set, which redirects.
        const now = Math.floor(Date.now() / 1000);
        const idToken = `${b64({ alg: 'RS256', kid: 'k1', typ: 'JWT' })}.${b64({ iss: issuer, aud: CLIENT_ID, sub: 'mallory', nonce, iat: now, exp: now + 300, groups: ['sre'], email: 'm@example.com' })}.${Buffer.from('not a signature').toString('base64url')}`;
        req.resume();
        req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'at', token_type: 'Bearer', id_token: idToken })));
      } else if (req.url === '/jwks') {
        res.writeHead(302, { location: `${internal.url}/computeMetadata/v1/` }).end();
      } else res.writeHead(404).end();
    });
    peers.push(provider);
    const app = await ssoAppOnNewDatabase(dbs, { OIDC_ISSUER_URL: provider.url, SELFHEAL_PUBLIC_URL: 'http://127.0.0.1:8080' });
    const login = await app.request('/auth/login');
    assert.equal(login.status, 302, await login.clone().text());
    nonce = new URL(login.headers.get('location')!).searchParams.get('nonce')!;
    const { state, cookie } = signInStarted(login);
    const res = await app.request(`/auth/callback?code=c0de&state=${encodeURIComponent(state)}`, { headers: { cookie } });
    const page = await res.text();
    assert.ok(res.status === 400 || res.status === 502, `${res.status}: ${page}`);
    assert.equal(res.headers.getSetCookie().some((c) => c.startsWith('__Host-selfheal-session=') && !c.includes('Max-Age=0')), false, 'no session');
    assert.ok(!page.includes(internal.url), page);
    assert.ok(provider.asked.includes('/jwks'), `the key set was asked: ${provider.asked.join(', ')}`);
    assert.deepEqual(internal.asked, [], 'the address the key set redirected to was never asked');
  });
});
