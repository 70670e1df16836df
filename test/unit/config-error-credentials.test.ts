// A refused configuration value stops start-up with one line naming the variable (README "Configuration"),
// and that line goes to stderr, i.e. the container's or journald's log. It echoed the value unless the
// variable's name said TOKEN|SECRET|KEY|PASSWORD, masking only the userinfo before an `@`: two credentials
// passed both filters and were written out whole, a Slack webhook URL given to
// SELFHEAL_GUARD_PAGE_SLACK_WEBHOOK_REF instead of a reference (whoever has the URL posts to the channel), and
// DATABASE_URL in libpq's keyword/value form (`host=… password=…`), which every Postgres tool accepts. The
// value is now shown only for variables that cannot hold a credential.
import assert from 'node:assert/strict';
import { ConfigError, configVariables, loadConfig, shownInErrors } from '../../src/config.js';

function startupLine(env: Record<string, string>): string {
  try {
    loadConfig({ NODE_ENV: 'production', PAGERDUTY_WEBHOOK_SECRETS: 'whsec-test-0123456789', ...env }, { role: 'api' });
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError: ${String(err)}`);
    return err.message;
  }
  assert.fail('the configuration was accepted');
}

describe('config: a refused value that may be a credential is never echoed', function () {
  it('SELFHEAL_GUARD_PAGE_SLACK_WEBHOOK_REF set to the Slack webhook URL itself: the error names the variable, not the URL', function () {
    const slackUrl = 'https://hooks.slack.com/services/T01ABCDEF/B02GHIJKL/Zq9SlackWebhookSecretPart77';
    const line = startupLine({ SELFHEAL_GUARD_PAGE_SLACK_WEBHOOK_REF: slackUrl });
    assert.equal(line, 'Invalid configuration: SELFHEAL_GUARD_PAGE_SLACK_WEBHOOK_REF must be a secret reference: env:NAME or file:/path');
  });

  it('DATABASE_URL in keyword/value form: the error names the variable, not its password', function () {
    const line = startupLine({ DATABASE_URL: 'host=db.internal port=5432 user=selfheal password=Db-Pa55w0rd-Secret dbname=selfheal' });
    assert.equal(line, 'Invalid configuration: DATABASE_URL must be a postgres:// URL');
  });

  // URLs (a user and password, or a token in the path or query), references, tokens, secrets and user names.
  const credentials: Record<string, string> = {
    DATABASE_URL: 'mysql://selfheal:Cr3d-S3cret@db/selfheal',
    SMTP_URL: 'mail.internal user=mailer Cr3d-S3cret',
    TEMPORAL_UI_URL: 'temporal-ui/?token=Cr3d-S3cret',
    PAGERDUTY_API_URL: 'api.pagerduty.com/Cr3d-S3cret',
    SELFHEAL_PUBLIC_URL: 'selfheal.internal/Cr3d-S3cret',
    JIRA_BASE_URL: 'jira:Cr3d-S3cret',
    GITHUB_API_URL: 'github Cr3d-S3cret',
    EWM_CATALOG_URL: 'ewm Cr3d-S3cret',
    OIDC_ISSUER_URL: 'idp Cr3d-S3cret',
    OIDC_REDIRECT_URL: 'cb Cr3d-S3cret',
    SELFHEAL_GUARD_PAGE_SLACK_WEBHOOK_REF: 'https://hooks.slack.com/services/T0/B0/Cr3d-S3cret',
    SELFHEAL_ADMIN_TOKEN: 'Cr3d-S3cret',
    METRICS_TOKEN: 'Cr3d-S3cret',
  };
  for (const [variable, value] of Object.entries(credentials)) {
    it(`a bad ${variable} is named, its value not shown`, function () {
      const line = startupLine({ [variable]: value });
      assert.match(line, new RegExp(`^Invalid configuration: ${variable} `));
      assert.ok(!line.includes('Cr3d'), line);
    });
  }

  it('single sign-on URLs refused past the schema (plain http, a path other than /auth/callback) are named, not shown', function () {
    const sso = { OIDC_CLIENT_ID: 'selfheal', OIDC_ROLE_MAP: 'sre=admin' };
    const refused: Record<string, string>[] = [
      { OIDC_ISSUER_URL: 'http://idp.example.com/Cr3d-S3cret' },
      { OIDC_ISSUER_URL: 'https://idp.example.com', OIDC_REDIRECT_URL: 'http://selfheal.example.com/auth/callback?k=Cr3d-S3cret' },
      { OIDC_ISSUER_URL: 'https://idp.example.com', OIDC_REDIRECT_URL: 'https://selfheal.example.com/Cr3d-S3cret/auth/callback' },
      { OIDC_ISSUER_URL: 'https://idp.example.com', SELFHEAL_PUBLIC_URL: 'http://ops:Cr3d-S3cret@selfheal.example.com', OIDC_REDIRECT_URL: 'https://selfheal.example.com/auth/callback' },
    ];
    for (const env of refused) {
      const line = startupLine({ ...sso, ...env });
      assert.match(line, /^Invalid configuration: (OIDC_ISSUER_URL|OIDC_REDIRECT_URL|SELFHEAL_PUBLIC_URL) /);
      assert.ok(!line.includes('Cr3d'), line);
    }
  });

  it('no variable whose name says it holds a URL, token, secret, key, password, user or reference has its value shown', function () {
    const shown = configVariables.filter((v) => /(_URL|TOKEN|_SECRETS?|_KEY|PASSWORD|USERNAME|SMTP_USER|_REF)$/.test(v) && shownInErrors(v));
    assert.deepEqual(shown, []);
  });

  it('still shows a value that cannot be a credential', function () {
    assert.equal(startupLine({ PORT: 'abc' }), 'Invalid configuration: PORT must be a whole number between 0 and 65535 (got "abc")');
  });
});
