import assert from 'node:assert/strict';
import { ConfigError, loadConfig, parseRoleMap } from '../../src/config.js';
import { identityFrom, mergeUserInfo, SignInError } from '../../src/api/oidc.js';

const SSO = {
  OIDC_ISSUER_URL: 'https://login.example.com/realms/sre',
  OIDC_CLIENT_ID: 'selfheal',
  OIDC_CLIENT_SECRET: 'client-secret-value-123',
  SELFHEAL_PUBLIC_URL: 'https://selfheal.example.com',
  OIDC_ROLE_MAP: 'sre-admins=admin,sre=write,viewers=read',
};

const refused = (env: Record<string, string>, variable: string, pattern: RegExp) =>
  assert.throws(
    () => loadConfig(env),
    (err: unknown) => err instanceof ConfigError && err.variable === variable && pattern.test(err.message) && !err.message.includes('client-secret-value-123'),
    `${variable} ${pattern}`,
  );

describe('single sign-on configuration (OIDC_*, SESSION_*)', function () {
  it('is off by default, with token sign-in and 12 h / 1 h sessions', function () {
    const { sso } = loadConfig({});
    assert.equal(sso.oidc, undefined);
    assert.equal(sso.tokenSignIn, true);
    assert.deepEqual(sso.session, { maxAgeSeconds: 43_200, idleTimeoutSeconds: 3_600, maxPerUser: 10 });
  });

  it('derives the redirect URL and the public origin from SELFHEAL_PUBLIC_URL, with defaults for scopes, claim and button', function () {
    const { oidc } = loadConfig(SSO).sso;
    assert.ok(oidc);
    assert.equal(oidc.redirectUrl, 'https://selfheal.example.com/auth/callback');
    assert.equal(oidc.publicOrigin, 'https://selfheal.example.com');
    assert.deepEqual(oidc.scopes, ['openid', 'profile', 'email']);
    assert.equal(oidc.groupsClaim, 'groups');
    assert.equal(oidc.providerName, 'login.example.com');
    assert.deepEqual([...oidc.roleMap], [
      ['sre-admins', 'admin'],
      ['sre', 'write'],
      ['viewers', 'read'],
    ]);
  });

  it('reads a JSON role map, for group names with commas and equals signs (LDAP DNs)', function () {
    assert.deepEqual([...parseRoleMap('{"cn=sre,ou=groups,dc=example,dc=com": "write"}')], [['cn=sre,ou=groups,dc=example,dc=com', 'write']]);
    assert.deepEqual([...parseRoleMap('/sre/on-call=write')], [['/sre/on-call', 'write']]);
  });

  it('names the variable that is missing or wrong', function () {
    refused({ OIDC_CLIENT_ID: 'x' }, 'OIDC_ISSUER_URL', /required with OIDC_CLIENT_ID/);
    refused({ ...SSO, OIDC_CLIENT_ID: '' }, 'OIDC_CLIENT_ID', /required/);
    refused({ ...SSO, OIDC_ROLE_MAP: '' }, 'OIDC_ROLE_MAP', /required/);
    refused({ ...SSO, OIDC_ROLE_MAP: 'sre=superuser' }, 'OIDC_ROLE_MAP', /"sre" to "superuser"; a role is one of read, write, admin/);
    refused({ ...SSO, OIDC_ROLE_MAP: 'sre' }, 'OIDC_ROLE_MAP', /must be group=role/);
    refused({ ...SSO, OIDC_ROLE_MAP: '{"sre": ' }, 'OIDC_ROLE_MAP', /not valid JSON/);
    refused({ ...SSO, SELFHEAL_PUBLIC_URL: '' }, 'OIDC_REDIRECT_URL', /required/);
    refused({ ...SSO, OIDC_ISSUER_URL: 'http://login.example.com' }, 'OIDC_ISSUER_URL', /https/);
    refused({ ...SSO, SELFHEAL_PUBLIC_URL: 'http://selfheal.internal:8080' }, 'SELFHEAL_PUBLIC_URL', /Secure session cookie/);
    // An https redirect does not make a plain-http public URL (the dashboard, the approval links, HSTS) safe.
    refused({ ...SSO, SELFHEAL_PUBLIC_URL: 'http://selfheal.internal:8080', OIDC_REDIRECT_URL: 'https://selfheal.example.com/auth/callback' }, 'SELFHEAL_PUBLIC_URL', /must be https with single sign-on/);
    refused({ ...SSO, OIDC_REDIRECT_URL: 'https://selfheal.example.com/callback' }, 'OIDC_REDIRECT_URL', /\/auth\/callback/);
    refused({ ...SSO, OIDC_SCOPES: 'profile email' }, 'OIDC_SCOPES', /openid/);
    refused({ ...SSO, SESSION_MAX_AGE_SECONDS: '0' }, 'SESSION_MAX_AGE_SECONDS', /between 1 and 2592000/);
    refused({ ...SSO, SESSION_IDLE_TIMEOUT_SECONDS: '1h' }, 'SESSION_IDLE_TIMEOUT_SECONDS', /whole number/);
    refused({ ...SSO, SESSION_MAX_PER_USER: '0' }, 'SESSION_MAX_PER_USER', /between 1 and 1000|at least 1|1/);
    refused({ ...SSO, SESSION_MAX_PER_USER: '1001' }, 'SESSION_MAX_PER_USER', /1000/);
    refused({ ...SSO, DASHBOARD_TOKEN_SIGN_IN: 'no' }, 'DASHBOARD_TOKEN_SIGN_IN', /true/);
    refused({ DASHBOARD_TOKEN_SIGN_IN: 'false' }, 'DASHBOARD_TOKEN_SIGN_IN', /only with single sign-on/);
  });

  it('allows plain http only on loopback names, where browsers keep Secure cookies', function () {
    const { oidc } = loadConfig({ ...SSO, OIDC_ISSUER_URL: 'http://127.0.0.1:9000', SELFHEAL_PUBLIC_URL: 'http://localhost:8080' }).sso;
    assert.equal(oidc?.redirectUrl, 'http://localhost:8080/auth/callback');
    const both = loadConfig({ ...SSO, SELFHEAL_PUBLIC_URL: 'http://127.0.0.1:8080', OIDC_REDIRECT_URL: 'http://127.0.0.1:8080/auth/callback' }).sso;
    assert.equal(both.oidc?.publicOrigin, 'http://127.0.0.1:8080');
  });
});

describe('roles from the groups claim', function () {
  const cfg = { groupsClaim: 'groups', roleMap: parseRoleMap('sre-admins=admin,sre=write,viewers=read') };

  it('gives the roles of every mapped group, highest first, and keeps only mapped groups', function () {
    const who = identityFrom({ email: 'a@example.com', email_verified: true, groups: ['viewers', 'all-staff', 'sre-admins'] }, 'sub-1', undefined, cfg);
    assert.deepEqual(who.roles, ['admin', 'read']);
    assert.deepEqual(who.mappedGroups, ['viewers', 'sre-admins']);
    assert.equal(who.actor, 'user:a@example.com');
  });

  it('reads a dotted claim path (Keycloak realm roles) and a single string', function () {
    const nested = identityFrom({ realm_access: { roles: ['sre'] } }, 'sub-2', undefined, { ...cfg, groupsClaim: 'realm_access.roles' });
    assert.deepEqual(nested.roles, ['write']);
    assert.equal(nested.actor, 'user:sub-2');
    assert.deepEqual(identityFrom({ groups: 'viewers' }, 's', undefined, cfg).roles, ['read']);
  });

  it('refuses a user in no mapped group, or whose groups claim is missing or not a list of strings', function () {
    for (const claims of [{ groups: ['staff'] }, {}, { groups: [{ name: 'sre' }] }, { groups: 42 }]) {
      assert.throws(() => identityFrom(claims, 's', undefined, cfg), (err: unknown) => err instanceof SignInError && err.status === 403 && err.reason === 'no_mapped_group');
    }
  });
});

describe('the name a signed-in user is recorded under (the actor)', function () {
  const cfg = { groupsClaim: 'groups', roleMap: parseRoleMap('sre=write') };
  const actorOf = (claims: Record<string, unknown>) => identityFrom({ email: 'victim@example.com', name: 'Victim', groups: ['sre'], ...claims }, 'sub-9', undefined, cfg);

  it('is the email only when the provider marks it verified (true, or the string "true")', function () {
    for (const verified of [true, 'true']) {
      const who = actorOf({ email_verified: verified });
      assert.equal(who.actor, 'user:victim@example.com', `email_verified: ${JSON.stringify(verified)}`);
    }
  });

  it('is the subject when the email is marked unverified, the claim is absent (Microsoft Entra ID) or anything else; email and name stay for display', function () {
    for (const claims of [{ email_verified: false }, {}, { email_verified: 'false' }, { email_verified: 'yes' }, { email_verified: 1 }, { email_verified: null }]) {
      const who = actorOf(claims);
      assert.equal(who.actor, 'user:sub-9', JSON.stringify(claims));
      assert.equal(who.subject, 'sub-9');
      assert.equal(who.email, 'victim@example.com');
      assert.equal(who.name, 'Victim');
    }
  });

  it('is the subject without a usable email, even a verified one', function () {
    assert.equal(actorOf({ email: undefined, email_verified: true }).actor, 'user:sub-9');
    assert.equal(actorOf({ email: '', email_verified: true }).actor, 'user:sub-9');
    assert.equal(actorOf({ email: `${'a'.repeat(250)}@example.com`, email_verified: true }).actor, 'user:sub-9');
  });

  it('does not change the roles', function () {
    assert.deepEqual(actorOf({}).roles, ['write']);
    assert.deepEqual(actorOf({ email_verified: true }).roles, ['write']);
  });
});

describe('team roles from the groups claim (OIDC_ROLE_MAP group=team:role)', function () {
  it('parses team roles next to global ones, a group named several times giving several, in both notations', function () {
    const { sso } = loadConfig({ ...SSO, OIDC_ROLE_MAP: 'sre-admins=admin,pay-devs=payments:editor,pay-leads=payments:editor,pay-leads=payments:approver' });
    assert.deepEqual([...sso.oidc!.roleMap], [['sre-admins', 'admin']]);
    assert.deepEqual([...sso.oidc!.teamRoleMap], [
      ['pay-devs', [{ team: 'payments', role: 'editor' }]],
      [
        'pay-leads',
        [
          { team: 'payments', role: 'editor' },
          { team: 'payments', role: 'approver' },
        ],
      ],
    ]);
    const json = loadConfig({ ...SSO, OIDC_ROLE_MAP: '{"cn=pay,ou=groups": ["payments:viewer", "checkout:admin"]}' }).sso.oidc!;
    assert.equal(json.roleMap.size, 0, 'a map of team roles only is enough to sign in');
    assert.deepEqual(json.teamRoleMap.get('cn=pay,ou=groups'), [
      { team: 'payments', role: 'viewer' },
      { team: 'checkout', role: 'admin' },
    ]);
  });

  it('names a wrong team role', function () {
    refused({ ...SSO, OIDC_ROLE_MAP: 'pay=payments:owner' }, 'OIDC_ROLE_MAP', /"pay" to a team role that is not valid: role "owner" is not one of viewer, editor, approver, admin/);
    refused({ ...SSO, OIDC_ROLE_MAP: 'pay=Pay Ments:editor' }, 'OIDC_ROLE_MAP', /team "Pay Ments"/);
  });

  it('a user whose only mapped groups give team roles signs in with those roles and no global one', function () {
    const oidc = loadConfig({ ...SSO, OIDC_ROLE_MAP: 'sre=write,pay-devs=payments:editor,pay-leads=payments:approver' }).sso.oidc!;
    const who = identityFrom({ email: 'p@example.com', groups: ['pay-devs', 'pay-leads', 'staff'] }, 's', undefined, oidc);
    assert.deepEqual(who.roles, []);
    assert.deepEqual(who.mappedGroups, ['pay-devs', 'pay-leads']);
    assert.deepEqual(who.teamRoles, [
      { team: 'payments', role: 'approver' },
      { team: 'payments', role: 'editor' },
    ]);
    assert.throws(() => identityFrom({ groups: ['staff'] }, 's', undefined, oidc), (err: unknown) => err instanceof SignInError && err.reason === 'no_mapped_group');
  });
});

describe('claims from the ID token and userinfo together', function () {
  const cfg = { groupsClaim: 'groups', roleMap: parseRoleMap('sre=write') };
  const actor = (id: Record<string, unknown>, info: Record<string, unknown>) => identityFrom(mergeUserInfo({ sub: 'sub-7', ...id }, { sub: 'sub-7', groups: ['sre'], ...info }), 'sub-7', undefined, cfg).actor;

  it("never lets one source's email_verified vouch for the other's address", function () {
    // The ID token names an address without vouching for it; userinfo vouches for the one it has.
    assert.equal(actor({ email: 'victim@example.com' }, { email: 'own@example.com', email_verified: true }), 'user:sub-7');
    assert.equal(actor({ email: 'victim@example.com', email_verified: false }, { email_verified: true }), 'user:sub-7');
    // Each source's own pair is kept: the ID token's when it has an address, else userinfo's.
    assert.equal(actor({ email: 'own@example.com', email_verified: true }, { email_verified: false }), 'user:own@example.com');
    assert.equal(actor({}, { email: 'own@example.com', email_verified: true }), 'user:own@example.com');
    assert.equal(actor({ email_verified: true }, { email: 'victim@example.com' }), 'user:sub-7');
  });

  it('keeps the ID token’s claims over userinfo’s and adds what only userinfo has', function () {
    assert.deepEqual(mergeUserInfo({ sub: 's', name: 'From ID token' }, { sub: 's', name: 'From userinfo', groups: ['sre'] }), { sub: 's', name: 'From ID token', groups: ['sre'] });
  });
});
