import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config.js';
import { createIntegrations } from '../../src/integrations.js';
import { startEwmPeer, startGitHubPeer } from '../helpers/http-peer.js';
import { startSmtpPeer } from '../helpers/smtp-peer.js';

// The action integrations as the worker builds them from configuration, each against its real or local peer.
describe('integrations built from configuration', function () {
  it('sends email through SMTP_URL with SMTP_USER / SMTP_PASSWORD to a real SMTP server', async function () {
    const smtp = await startSmtpPeer({ auth: { user: 'selfheal', pass: 'smtp-pass-123' } });
    try {
      const config = loadConfig({ SMTP_URL: `smtp://${smtp.host}:${smtp.port}?plaintext=true`, SMTP_FROM: 'selfheal@example.com', SMTP_USER: 'selfheal', SMTP_PASSWORD: 'smtp-pass-123' });
      const integrations = createIntegrations(config, { env: { SMTP_PASSWORD: 'smtp-pass-123' } });
      const sent = await integrations.email({ to: ['oncall@example.com', 'dba@example.com'], subject: 'db-7 restarted', text: 'Self-healing restarted db-7.' });
      assert.ok(sent.messageId);
      const [mail] = await smtp.waitFor(1);
      assert.equal(mail!.authUser, 'selfheal');
      assert.deepEqual(mail!.envelope.to.sort(), ['dba@example.com', 'oncall@example.com']);
      assert.equal(mail!.subject, 'db-7 restarted');
      assert.match(mail!.body, /Self-healing restarted db-7\./);
    } finally {
      await smtp.close();
    }
  });

  it('says which variables are missing when a provider is not configured', async function () {
    const integrations = createIntegrations(loadConfig({}));
    await assert.rejects(integrations.email({ to: ['a@example.com'], subject: 's', text: 't' }), /email is not configured: set SMTP_URL and SMTP_FROM/);
    await assert.rejects(integrations.workItem({ provider: 'jira', idempotencyKey: 'k', project: 'OPS', title: 't', description: '' }), /Jira is not configured: set JIRA_BASE_URL, JIRA_EMAIL and JIRA_API_TOKEN/);
    await assert.rejects(integrations.workItem({ provider: 'github', idempotencyKey: 'k', repo: 'o/r', title: 't', description: '' }), /GitHub is not configured: set GITHUB_TOKEN/);
    await assert.rejects(integrations.workItem({ provider: 'ewm', idempotencyKey: 'k', project: 'P', title: 't', description: '' }), /IBM EWM is not configured: set EWM_CATALOG_URL, EWM_USERNAME and EWM_PASSWORD/);
  });

  it('opens one GitHub issue and one EWM work item per idempotency key, however often it is retried', async function () {
    const gh = await startGitHubPeer();
    const ewm = await startEwmPeer();
    try {
      const env = { GITHUB_TOKEN: gh.token, EWM_USERNAME: ewm.username, EWM_PASSWORD: ewm.password };
      const config = loadConfig({
        GITHUB_API_URL: gh.apiUrl,
        GITHUB_TOKEN: gh.token,
        EWM_CATALOG_URL: ewm.catalogUrl,
        EWM_USERNAME: ewm.username,
        EWM_PASSWORD: ewm.password,
      });
      const integrations = createIntegrations(config, { env });
      const item = { idempotencyKey: 'PINC1:rule-1:ticket', title: 'Disk full on db-7', description: 'cleanup failed' };
      const a = await integrations.workItem({ provider: 'github', repo: `${gh.owner}/${gh.repo}`, ...item });
      const b = await integrations.workItem({ provider: 'github', repo: `${gh.owner}/${gh.repo}`, ...item });
      assert.deepEqual(a, b);
      assert.equal(gh.issues.length, 1);
      const c = await integrations.workItem({ provider: 'ewm', project: 'JKE Banking', ...item, type: 'task' });
      const d = await integrations.workItem({ provider: 'ewm', project: 'JKE Banking', ...item, type: 'task' });
      assert.deepEqual(c, d);
      assert.equal(ewm.items.length, 1);
      assert.equal(ewm.items[0]!.projectArea, '_projArea1');
      // The same key in another project area (named by id) is another project area's item.
      const e = await integrations.workItem({ provider: 'ewm', project: '_projArea2', ...item, type: 'task' });
      assert.notDeepEqual(e, c);
      assert.deepEqual(
        ewm.items.map((i) => i.projectArea),
        ['_projArea1', '_projArea2'],
      );
      await assert.rejects(integrations.workItem({ provider: 'ewm', project: 'No Such Area', ...item }), /no project area named "No Such Area"/);
      assert.equal(ewm.items.length, 2);
      assert.deepEqual(ewm.violations, []);
      assert.match(c.url, /^http:\/\/127\.0\.0\.1:\d+\//);
    } finally {
      await gh.close();
      await ewm.close();
    }
  });
});
