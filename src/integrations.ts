import { ApplicationFailure } from '@temporalio/common';
import type { Integrations } from '../activities/actions.js';
import type { Config } from './config.js';
import { recipientRefused, repoRefused, webhookRefused } from './domain/destination-lists.js';
import { createEgressPolicy, egressFetch } from './executors/egress.js';
import { sendEmail, sendSlack, sendWebhook } from './executors/notify.js';
import { createEwmProvider, createGitHubProvider, createJiraProvider, createWorkItemOnce, type WorkItemProvider } from './executors/work-items.js';

/**
 * The SaaS side effects of rule actions, built from configuration. Credentials are passed on as
 * secret references (`env:NAME`) and resolved at call time, so they never sit in memory objects,
 * logs or the database.
 */
export function createIntegrations(config: Config, opts: { fetch?: typeof fetch; env?: NodeJS.ProcessEnv } = {}): Integrations {
  const deps = { ...(opts.fetch ? { fetch: opts.fetch } : {}), ...(opts.env ? { env: opts.env } : {}) };
  // Rule authors choose where notify.webhook (and, through a secret reference, a Slack hook) posts:
  // those calls go only to addresses the egress policy allows. Work-item APIs come from configuration.
  const policy = createEgressPolicy({ allow: config.egressAllow, deny: config.egressDeny });
  const ruleDirected = { ...deps, fetch: opts.fetch ?? egressFetch(policy) };
  // A webhook receiver's answer counts by its status only: its body is never read (docs/security.md).
  const webhookTransport = { ...deps, fetch: opts.fetch ?? egressFetch(policy, { statusOnly: true }) };
  const notConfigured = (what: string, vars: string) =>
    ApplicationFailure.nonRetryable(`${what} is not configured: set ${vars}`, 'ValidationError');

  const ewmProviders = new Map<string, WorkItemProvider>();
  function provider(kind: 'ewm' | 'jira' | 'github', target: { project?: string | undefined; repo?: string | undefined }): WorkItemProvider {
    if (kind === 'jira') {
      const j = config.jira;
      if (!j.baseUrl || !j.email || !j.tokenSet) throw notConfigured('Jira', 'JIRA_BASE_URL, JIRA_EMAIL and JIRA_API_TOKEN');
      return createJiraProvider({ baseUrl: j.baseUrl, email: j.email, apiTokenRef: 'env:JIRA_API_TOKEN', projectKey: target.project ?? '', issueType: j.issueType }, deps);
    }
    if (kind === 'github') {
      if (!config.github.tokenSet) throw notConfigured('GitHub', 'GITHUB_TOKEN');
      // Checked again here, before any call: a rule saved before the list (or through an API with another) files nothing.
      const refused = repoRefused(target.repo ?? '', config.github.reposAllow);
      if (refused) throw ApplicationFailure.nonRetryable(`GitHub issue not filed: ${refused}`, 'ValidationError');
      const [owner = '', repo = ''] = (target.repo ?? '').split('/');
      return createGitHubProvider({ apiUrl: config.github.apiUrl, owner, repo, tokenRef: 'env:GITHUB_TOKEN' }, deps);
    }
    const e = config.ewm;
    if (!e.catalogUrl || !e.username || !e.passwordSet) throw notConfigured('IBM EWM', 'EWM_CATALOG_URL, EWM_USERNAME and EWM_PASSWORD');
    const projectArea = target.project ?? '';
    // One provider per project area, so its discovered factory and query URLs are read once.
    let p = ewmProviders.get(projectArea);
    if (!p) {
      p = createEwmProvider({ catalogUrl: e.catalogUrl, projectArea, usernameRef: 'env:EWM_USERNAME', passwordRef: 'env:EWM_PASSWORD' }, deps);
      if (ewmProviders.size >= 100) ewmProviders.clear();
      ewmProviders.set(projectArea, p);
    }
    return p;
  }

  return {
    // `webhookUrlRef`, when the caller passes it, is what errors name instead of the hook (notify.ts).
    async slack(input: Parameters<Integrations['slack']>[0] & { webhookUrlRef?: string | undefined }) {
      await sendSlack(
        { webhookUrl: input.webhookUrl, webhookUrlRef: input.webhookUrlRef, setting: input.setting, text: input.text },
        { ...ruleDirected, ...(input.signal ? { signal: input.signal } : {}) },
      );
    },
    async email(input) {
      if (!config.smtp.url || !config.smtp.from) throw notConfigured('email', 'SMTP_URL and SMTP_FROM');
      // Checked again here, on what is handed to the relay: a rule or job saved before the list was set
      // (or by an API with another list) sends nothing, to anyone, rather than to some.
      const refused = [...new Set([...input.to, ...(input.deliverTo ?? [])])].map((a) => recipientRefused(a, config.emailAllow)).filter((r) => r !== undefined);
      if (refused.length > 0) throw ApplicationFailure.nonRetryable(`email not sent to anyone: ${refused.join('; ')}`, 'ValidationError');
      const u = new URL(config.smtp.url);
      const secure = u.protocol === 'smtps:';
      // smtp:// requires STARTTLS; `?plaintext=true` lets a relay on loopback go without (notify.ts refuses it for other hosts).
      const plaintext = u.searchParams.get('plaintext');
      if (plaintext !== null && plaintext !== 'true' && plaintext !== 'false') {
        throw ApplicationFailure.nonRetryable('SMTP_URL: plaintext must be true or false', 'ValidationError');
      }
      return sendEmail(
        {
          smtp: {
            host: u.hostname,
            port: Number(u.port || (secure ? 465 : 587)),
            secure,
            ...(plaintext === 'true' ? { allowPlaintext: true } : {}),
            ...(config.smtp.user ? { user: config.smtp.user, passRef: 'env:SMTP_PASSWORD' } : {}),
          },
          from: config.smtp.from,
          to: input.to,
          ...(input.deliverTo !== undefined ? { deliverTo: input.deliverTo } : {}),
          subject: input.subject,
          text: input.text,
          ...(input.idempotencyKey !== undefined ? { idempotencyKey: input.idempotencyKey } : {}),
        },
        { ...deps, ...(input.signal ? { signal: input.signal } : {}) },
      );
    },
    async webhook(input) {
      const refused = webhookRefused(input.url, config.webhookAllow);
      if (refused) throw ApplicationFailure.nonRetryable(`webhook not sent: ${refused}`, 'ValidationError');
      let body: unknown = input.body;
      try {
        body = JSON.parse(input.body);
      } catch {
        // Not JSON: sent as a JSON string.
      }
      await sendWebhook(
        { url: input.url, body, ...(input.secret ? { secret: input.secret } : {}), idempotencyKey: input.idempotencyKey },
        { ...webhookTransport, ...(input.signal ? { signal: input.signal } : {}) },
      );
    },
    workItems(target) {
      return provider(target.provider, target);
    },
    async workItem(input) {
      const p = provider(input.provider, input);
      const item = await createWorkItemOnce(p, {
        idempotencyKey: input.idempotencyKey,
        title: input.title,
        description: input.description,
        ...(input.type ? { type: input.type } : {}),
        ...(input.filedAgainst ? { filedAgainst: input.filedAgainst } : {}),
        ...(input.project ? { project: input.project } : {}),
      });
      return { id: item.id, url: item.url };
    },
  };
}
