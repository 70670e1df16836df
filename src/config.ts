import { z } from './domain/zod.js';
import { validateEgressCidrs } from './executors/egress.js';
import { isIP } from 'node:net';
import { parseDuration, type GuardConfig } from './domain/guards.js';
import { parseMembership, TEAM_NAME_PATTERN, TEAM_NAME_RULE, TEAM_ROLES, type TeamMembership } from './domain/teams.js';
import { parseEmailAllow, parseRepoAllow, parseWebhookAllow, recipientRefused, type EmailRecipientPolicy, type GitHubRepoPolicy, type HostList, type Parsed } from './domain/destination-lists.js';
import { envPrefixProblem, secretDirProblem, secretRefPolicyFromEnv, type SecretRefPolicy } from './domain/secret-refs.js';
import { trimTrailingSlashes } from './domain/text.js';

/**
 * One schema over the process environment: every variable is declared, defaulted and checked here
 * (and listed in .env.example and the README).
 * Parsed once per process by its composition root; everything else receives a Config.
 *
 * Why one file over ~400 lines: it is the one table of every setting. The docs, Helm chart and compose tests
 * (test/unit/helm-chart.test.ts, test/unit/docker-compose.test.ts) enumerate the variables from it, a variable is
 * added in one place, and the cross-variable checks (SSO, egress, secret-reference policy) read the whole table.
 * Split, each addition would touch several modules and the enumeration would have to gather them again.
 */

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const port = (fallback: number) =>
  z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? String(fallback) : v.trim()))
    .pipe(
      z
        .string()
        .regex(/^\d+$/, 'must be a whole number between 0 and 65535')
        .transform(Number)
        .pipe(z.number().int().min(0, 'must be between 0 and 65535').max(65535, 'must be between 0 and 65535')),
    );

/** A whole number of milliseconds, 100 ms to 1 h. */
const milliseconds = (fallback: number) =>
  optionalString
    .transform((v) => v ?? String(fallback))
    .pipe(z.string().regex(/^\d+$/, 'must be a whole number of milliseconds').transform(Number).pipe(z.number().min(100, 'must be at least 100').max(3_600_000, 'must be at most 3600000')));

const hostPort = optionalString.refine((v) => v === undefined || /^[^\s:/]+:\d{1,5}$/.test(v), {
  message: 'must be host:port, e.g. temporal:7233',
});

const url = (fallback?: string) =>
  optionalString
    .transform((v) => v ?? fallback)
    .refine((v) => v === undefined || /^https?:\/\/[^\s]+$/.test(v), { message: 'must be an http(s) URL' });

const databaseUrl = optionalString.refine((v) => v === undefined || /^postgres(ql)?:\/\/[^\s]+$/.test(v), {
  message: 'must be a postgres:// URL',
});

const list = optionalString.transform((v) =>
  v === undefined
    ? []
    : v
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0),
);

/** A destination list, parsed into its policy (undefined when empty): comma-separated entries `parse` accepts, or an issue naming the first bad one. */
const destinationList = <P>(parse: (entries: string[]) => Parsed<P>, what: string) =>
  list.transform((entries, ctx): P | undefined => {
    const parsed = parse(entries);
    if ('policy' in parsed) return parsed.policy;
    ctx.addIssue({ code: 'custom', message: `must be comma-separated ${what}: ${parsed.problem}` });
    return z.NEVER;
  });

const email = optionalString.refine((v) => v === undefined || /^[^\s@]+@[^\s@]+$/.test(v), {
  message: 'must be an email address',
});

const bool = (fallback: boolean) =>
  optionalString
    .transform((v) => (v === undefined ? String(fallback) : v.toLowerCase()))
    .pipe(z.enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' }))
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

const cidrs = list.superRefine((entries, ctx) => {
  try {
    validateEgressCidrs(entries);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `must be comma-separated CIDRs or addresses: ${(err as Error).message}` });
  }
});

const secretToken = optionalString.refine((v) => v === undefined || v.length >= 16, {
  message: 'must be at least 16 characters',
});

/** Where management VMs keep the allow-listed scripts (SELFHEAL_SSH_SCRIPTS_DIR). */
export const DEFAULT_SSH_SCRIPTS_DIR = '/opt/selfheal/scripts';
/**
 * SSH sessions one worker process runs at once to one management VM (SELFHEAL_SSH_MAX_SESSIONS_PER_HOST):
 * below OpenSSH's MaxStartups (10 unauthenticated connections before it starts dropping them).
 */
export const DEFAULT_SSH_MAX_SESSIONS_PER_HOST = 4;

export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: port(8080),
  HOST: optionalString.transform((v) => v ?? '0.0.0.0'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: databaseUrl,
  DATABASE_POOL_SIZE: port(10).pipe(z.number().min(1, 'must be at least 1')),
  // Every process's pool: how long to wait for a connection (new or free), and how long one statement
  // may run before Postgres cancels it. Without them a hung database holds every caller forever.
  DATABASE_CONNECT_TIMEOUT_MS: milliseconds(5000),
  DATABASE_STATEMENT_TIMEOUT_MS: milliseconds(30_000),
  SELFHEAL_DATA_DIR: optionalString.transform((v) => v ?? '.data'),
  TEMPORAL_ADDRESS: hostPort,
  TEMPORAL_NAMESPACE: optionalString.transform((v) => v ?? 'default'),
  TEMPORAL_TASK_QUEUE: optionalString.transform((v) => v ?? 'selfheal'),
  TEMPORAL_UI_URL: url('http://localhost:8233'),
  TEMPORAL_CLI_PATH: optionalString,
  TEMPORAL_TLS_CERT_PATH: optionalString,
  TEMPORAL_TLS_KEY_PATH: optionalString,
  TEMPORAL_TLS_CA_PATH: optionalString,
  TEMPORAL_API_KEY: optionalString,
  TEMPORAL_WORKER_METRICS_ADDRESS: hostPort,
  // The main worker's slots (the SDK's defaults). Lower them where the worker shares cores with the API
  // and Temporal: incidents are then processed a few at a time and webhook acks keep their CPU.
  TEMPORAL_WORKER_WORKFLOW_TASK_SLOTS: port(40).pipe(z.number().min(2, 'must be at least 2')),
  TEMPORAL_WORKER_LOCAL_ACTIVITY_SLOTS: port(100).pipe(z.number().min(1, 'must be at least 1')),
  TEMPORAL_WORKER_ACTIVITY_SLOTS: port(100).pipe(z.number().min(1, 'must be at least 1')),
  PAGERDUTY_WEBHOOK_SECRETS: list,
  // Without secrets the webhook refuses every delivery, unless unsigned ones are explicitly allowed
  // (npm start does that for a laptop, bound to 127.0.0.1). Never in production.
  PAGERDUTY_WEBHOOK_ALLOW_UNSIGNED: bool(false),
  // Deliveries the API hands to Temporal at once; more are answered 503 at once (PagerDuty retries)
  // rather than queueing into the 4-s signalWithStart timeout.
  PAGERDUTY_WEBHOOK_MAX_IN_FLIGHT: port(256).pipe(z.number().min(1, 'must be at least 1')),
  PAGERDUTY_API_URL: url('https://api.pagerduty.com'),
  PAGERDUTY_API_TOKEN: optionalString,
  PAGERDUTY_FROM_EMAIL: email,
  // With PAGERDUTY_API_TOKEN, the worker asks PagerDuty this often about open incidents quiet for an hour,
  // and hands a resolve PagerDuty never delivered to its workflow (activities/reconcile.ts). 0 = never.
  PAGERDUTY_RECONCILE_MINUTES: wholeNumber(10, 0, 1440),
  SELFHEAL_ADMIN_TOKEN: secretToken,
  METRICS_TOKEN: secretToken,
  // Database-backed /metrics series are refreshed in the background at most this often.
  METRICS_REFRESH_SECONDS: port(15).pipe(z.number().max(3600, 'must be at most 3600')),
  // Rule-directed calls (notify.webhook, Slack hooks) never reach loopback, private, link-local, ULA,
  // CGNAT, multicast or metadata addresses unless ACTION_EGRESS_ALLOW names them; ACTION_EGRESS_DENY
  // refuses more (and wins over the allow list).
  ACTION_EGRESS_ALLOW: cidrs,
  ACTION_EGRESS_DENY: cidrs,
  SELFHEAL_PUBLIC_URL: url(),
  // Approve/reject links sent with an approval request stop working after this long (or at the approval's deadline).
  SELFHEAL_APPROVAL_LINK_TTL_MINUTES: port(60).pipe(z.number().min(1, 'must be at least 1').max(1440, 'must be at most 1440')),
  SELFHEAL_EXTRACTORS_FILE: optionalString,
  SELFHEAL_ENVIRONMENT: optionalString.refine((v) => v === undefined || /^[a-z0-9][a-z0-9._-]{0,62}$/.test(v), {
    message: 'must be a lowercase environment name (a-z, 0-9, . _ -)',
  }),
  SELFHEAL_SCRIPTS_DIR: optionalString.transform((v) => v ?? 'scripts'),
  SELFHEAL_AGENT_SCRIPTS_TIMEOUT_SECONDS: port(600).pipe(z.number().min(1, 'must be at least 1')),
  // Scripts a Doctor agent runs at once on its host; more wait in line on the agent, within their run time.
  SELFHEAL_AGENT_MAX_CONCURRENT_SCRIPTS: port(4).pipe(z.number().min(1, 'must be at least 1').max(100, 'must be at most 100')),
  // The teams whose tasks a Doctor agent runs, comma-separated, or `*` for every team's (said loudly at
  // start-up). Unset: a production agent refuses to start (loadConfig); elsewhere, every team's (it warns).
  SELFHEAL_AGENT_TEAMS: optionalString.pipe(
    z
      .string()
      .optional()
      .transform((v): string[] | '*' | undefined => (v === undefined ? undefined : v.trim() === '*' ? '*' : [...new Set(v.split(',').map((t) => t.trim()).filter((t) => t !== ''))]))
      .refine((v) => v === undefined || v.length > 0, { message: 'must list at least one team (or be * for every team)' })
      .refine((v) => v === undefined || v.length <= 100, { message: 'must list at most 100 teams' })
      .refine((v) => v === undefined || v === '*' || v.every((t) => TEAM_NAME_PATTERN.test(t)), { message: `must be comma-separated team names, each ${TEAM_NAME_RULE}, or * alone for every team` }),
  ),
  SMTP_URL: optionalString.refine((v) => v === undefined || /^smtps?:\/\/[^\s]+$/.test(v), {
    message: 'must be an smtp:// or smtps:// URL',
  }),
  SMTP_FROM: email,
  // The destination lists (src/domain/destination-lists.ts), comma-separated [anything]: whom rule actions
  // and job notices may email (addresses, domains, *.domains), which hosts notify.webhook may post to
  // (hosts, *.domains) and where GitHub work items may be filed (owner/name, owner/*).
  NOTIFY_EMAIL_ALLOW: destinationList(parseEmailAllow, 'addresses, domains or *.domains'),
  NOTIFY_WEBHOOK_ALLOW: destinationList(parseWebhookAllow, 'hosts or *.domains'),
  GITHUB_REPOS_ALLOW: destinationList(parseRepoAllow, 'owner/name or owner/*'),
  SMTP_USER: optionalString,
  SMTP_PASSWORD: optionalString,
  JIRA_BASE_URL: url(),
  JIRA_EMAIL: email,
  JIRA_API_TOKEN: optionalString,
  JIRA_ISSUE_TYPE: optionalString.transform((v) => v ?? 'Task'),
  GITHUB_API_URL: url('https://api.github.com'),
  GITHUB_TOKEN: optionalString,
  EWM_CATALOG_URL: url(),
  EWM_USERNAME: optionalString,
  EWM_PASSWORD: optionalString,
  // ---- single sign-on for the dashboard (OpenID Connect); off while OIDC_ISSUER_URL is unset ----
  OIDC_ISSUER_URL: url(),
  OIDC_CLIENT_ID: optionalString,
  OIDC_CLIENT_SECRET: optionalString,
  OIDC_REDIRECT_URL: url(),
  OIDC_SCOPES: optionalString.transform((v) => (v ?? 'openid profile email').split(/[\s,]+/).filter((s) => s.length > 0)),
  OIDC_GROUPS_CLAIM: optionalString.transform((v) => v ?? 'groups'),
  OIDC_ROLE_MAP: optionalString,
  OIDC_PROVIDER_NAME: optionalString,
  SESSION_MAX_AGE_SECONDS: wholeNumber(43_200, 1, 30 * 86_400),
  SESSION_IDLE_TIMEOUT_SECONDS: wholeNumber(3_600, 1, 30 * 86_400),
  SESSION_MAX_PER_USER: wholeNumber(10, 1, 1_000),
  DASHBOARD_TOKEN_SIGN_IN: optionalString.transform((v) => v ?? 'true').pipe(z.enum(['true', 'false'])),
  // ---- authority (docs/security.md "Authority", "Secrets", "Tokens and sign-in") ----
  // Secret references in rules, jobs and environments resolve only inside these (comma-separated).
  SECRET_REF_ENV_PREFIXES: list.superRefine((prefixes, ctx) => {
    const reserved = ownVariables();
    for (const p of prefixes) {
      const problem = envPrefixProblem(p, reserved);
      if (problem) ctx.addIssue({ code: 'custom', message: `must be comma-separated variable name prefixes: ${problem}` });
    }
  }),
  SECRET_REF_DIRS: list.superRefine((dirs, ctx) => {
    for (const d of dirs) {
      const problem = secretDirProblem(d);
      if (problem) ctx.addIssue({ code: 'custom', message: `must be comma-separated absolute directories: ${problem}` });
    }
  }),
  // The management VMs' scripts directory: script.ssh actions and ssh jobs run <dir>/<script> there.
  SELFHEAL_SSH_SCRIPTS_DIR: optionalString
    .transform((v) => v ?? DEFAULT_SSH_SCRIPTS_DIR)
    .refine((v) => /^\/[^\0\s]*[^\0\s/]$/.test(v) && !v.split('/').some((s) => s === '.' || s === '..'), {
      message: 'must be an absolute path without spaces, "." or ".." segments, e.g. /opt/selfheal/scripts',
    }),
  // Longest a script or command may run on a management VM, whatever its rule or job asks (the agent's cap's default).
  SELFHEAL_SSH_SCRIPTS_TIMEOUT_SECONDS: wholeNumber(600, 1, 86_400),
  // SSH sessions one worker process runs at once to one management VM (host:port); more wait in line within
  // their run time (src/executors/ssh.ts, sessionTurn). Below sshd's MaxStartups (10) by default.
  SELFHEAL_SSH_MAX_SESSIONS_PER_HOST: wholeNumber(DEFAULT_SSH_MAX_SESSIONS_PER_HOST, 1, 100),
  // Failed bearer authentications one source may make per window before it is answered 429.
  SELFHEAL_AUTH_MAX_FAILURES: port(10).pipe(z.number().min(1, 'must be at least 1')),
  SELFHEAL_AUTH_FAILURE_WINDOW_SECONDS: port(60).pipe(z.number().min(1, 'must be at least 1')),
  // Per-caller request budget (src/api/auth.ts): each issued API token or dashboard session may send a burst of
  // this many requests, refilled at this many per second; past it, 429 with Retry-After. 0 turns it off.
  SELFHEAL_RATE_LIMIT_BURST: wholeNumber(100, 0, 1_000_000),
  SELFHEAL_RATE_LIMIT_PER_SECOND: wholeNumber(20, 1, 1_000_000),
  // Addresses of reverse proxies whose X-Forwarded-For names the client (comma-separated IPs) [none].
  SELFHEAL_TRUSTED_PROXIES: list.superRefine((ips, ctx) => {
    for (const ip of ips) if (isIP(ip) === 0) ctx.addIssue({ code: 'custom', message: `must be comma-separated IP addresses: "${ip}" is not one` });
  }),
  // Backtests and history retention (issue 21): events, rule matches and action runs older than the
  // retention are purged by the worker's retention schedule; a backtest reads at most so many events and
  // gives up after so many seconds (its caller narrows the window).
  SELFHEAL_RETENTION_DAYS: wholeNumber(90, 1, 3650),
  // How often the worker brings job schedules back in line with the jobs table (after a change whose
  // Temporal call landed but whose commit did not, or a schedule changed by hand in the Temporal UI).
  SELFHEAL_SCHEDULE_RECONCILE_SECONDS: wholeNumber(300, 10, 86_400),
  SELFHEAL_BACKTEST_MAX_EVENTS: wholeNumber(200_000, 1, 10_000_000),
  SELFHEAL_BACKTEST_TIME_BUDGET_SECONDS: wholeNumber(30, 1, 600),
  // Backtests one API process runs at once: each holds its window's events and up to its time budget of the
  // event loop, and the caller budget bounds each caller, not how many callers there are.
  SELFHEAL_BACKTEST_MAX_CONCURRENT: wholeNumber(2, 1, 64),
  // Fleet blast radius and flapping (issue 22): 0 turns a limit off.
  SELFHEAL_GUARD_MAX_TARGETS: wholeNumber(0, 0, 1_000_000),
  SELFHEAL_GUARD_MAX_TARGET_PERCENT: wholeNumber(0, 0, 100),
  SELFHEAL_GUARD_WINDOW: durationSeconds('1h', 1, 604_800),
  SELFHEAL_GUARD_MAX_ACTIONS_PER_MINUTE: wholeNumber(0, 0, 1_000_000),
  SELFHEAL_GUARD_PAGE_SLACK_WEBHOOK_REF: optionalString.refine((v) => v === undefined || /^(env:[A-Za-z_][A-Za-z0-9_]*|file:\/\S+)$/.test(v), {
    message: 'must be a secret reference: env:NAME or file:/path',
  }),
  SELFHEAL_GUARD_PAGE_EMAIL: list.superRefine((entries, ctx) => {
    for (const e of entries) if (!/^[^\s@]+@[^\s@]+$/.test(e)) ctx.addIssue({ code: 'custom', message: `"${e}" is not an email address` });
  }),
  SELFHEAL_FLAPPING_MAX: wholeNumber(5, 0, 1000),
  SELFHEAL_FLAPPING_WINDOW: durationSeconds('1h', 1, 604_800),
});

export type Env = z.infer<typeof envSchema>;

/**
 * The destination lists left unset (each allows anything then), for the API's warning at start in
 * production: a `write` token may then send incident details to any address, public host or repository.
 */
export function openDestinationLists(config: Pick<Config, 'emailAllow' | 'webhookAllow' | 'github'>): string[] {
  return [
    ...(config.emailAllow === undefined ? ['NOTIFY_EMAIL_ALLOW'] : []),
    ...(config.webhookAllow === undefined ? ['NOTIFY_WEBHOOK_ALLOW'] : []),
    ...(config.github.reposAllow === undefined ? ['GITHUB_REPOS_ALLOW'] : []),
  ];
}

/** Self-healing's own variables: a secret-reference prefix must not reach them (SELFHEAL_ADMIN_TOKEN, DATABASE_URL…). */
function ownVariables(): string[] {
  return Object.keys(envSchema.shape);
}

/** Concurrent workflow tasks, local activities and activities of the main worker. */
export interface WorkerSlots {
  workflowTasks: number;
  localActivities: number;
  activities: number;
}

export interface Config {
  nodeEnv: Env['NODE_ENV'];
  port: number;
  host: string;
  logLevel: Env['LOG_LEVEL'];
  dataDir: string;
  database: { url: string | undefined; poolSize: number; connectTimeoutMs: number; statementTimeoutMs: number };
  temporal: {
    address: string | undefined;
    namespace: string;
    taskQueue: string;
    uiUrl: string;
    cliPath: string | undefined;
    tls: { certPath: string | undefined; keyPath: string | undefined; caPath: string | undefined };
    apiKey: string | undefined;
    /** host:port where the SDK serves worker metrics for Prometheus; unset → off. */
    workerMetricsAddress: string | undefined;
    workerSlots: WorkerSlots;
  };
  pagerduty: {
    webhookSecrets: string[];
    /** PAGERDUTY_WEBHOOK_ALLOW_UNSIGNED: without secrets, accept unsigned deliveries (else refuse them all). */
    webhookAllowUnsigned: boolean;
    /** Deliveries being handed to Temporal at once, per API process; beyond it → 503 at once. */
    webhookMaxInFlight: number;
    apiUrl: string;
    apiToken: string | undefined;
    fromEmail: string | undefined;
    /** PAGERDUTY_RECONCILE_MINUTES: how often the worker looks for lost resolves; 0 = never. */
    reconcileMinutes: number;
  };
  adminToken: string | undefined;
  /** Bearer token GET /metrics requires; unset or empty → /metrics is open (keep it off the public listener). */
  metricsToken: string | undefined;
  /** METRICS_REFRESH_SECONDS: how often, at most, /metrics re-reads its database series. */
  metricsRefreshSeconds: number;
  /** ACTION_EGRESS_ALLOW: CIDRs of otherwise refused ranges (loopback, private…) rule-directed calls may reach. */
  egressAllow: string[];
  /** ACTION_EGRESS_DENY: CIDRs refused to notify.webhook and Slack calls, on top of the default refusals. */
  egressDeny: string[];
  publicUrl: string | undefined;
  /** SELFHEAL_APPROVAL_LINK_TTL_MINUTES: how long an approve/reject link works at most (it also ends at the approval's deadline). */
  approvalLinkTtlMinutes: number;
  extractorsFile: string | undefined;
  agent: {
    environment: string | undefined;
    scriptsDir: string;
    timeoutSeconds: number;
    maxConcurrentScripts: number;
    /** SELFHEAL_AGENT_TEAMS: the teams whose tasks the agent runs; undefined → every team's (`*`, or unset outside production). */
    teams: string[] | undefined;
    /** How every team came to be served: `*` said so, or SELFHEAL_AGENT_TEAMS is unset (never in production); absent with a list. */
    everyTeam?: 'asked' | 'unset';
  };
  smtp: { url: string | undefined; from: string | undefined; user: string | undefined; passwordSet: boolean };
  /** NOTIFY_EMAIL_ALLOW: whom rule actions and job notices may email; undefined → any address. */
  emailAllow: EmailRecipientPolicy | undefined;
  /** NOTIFY_WEBHOOK_ALLOW: which hosts notify.webhook may post to; undefined → any (the egress policy still applies). */
  webhookAllow: HostList | undefined;
  /** Work-item trackers. Tokens stay in the environment; only whether they are set is kept here. */
  jira: { baseUrl: string | undefined; email: string | undefined; tokenSet: boolean; issueType: string };
  /** reposAllow: GITHUB_REPOS_ALLOW, where issues may be filed; undefined → any repository the token reaches. */
  github: { apiUrl: string; tokenSet: boolean; reposAllow: GitHubRepoPolicy | undefined };
  ewm: { catalogUrl: string | undefined; username: string | undefined; passwordSet: boolean };
  /** Dashboard sign-in: OpenID Connect single sign-on (when configured) and server-side sessions. */
  sso: SsoConfig;
  /** Where secret references of rules, jobs and environments may point. */
  secretRefs: SecretRefPolicy;
  /** SELFHEAL_SSH_SCRIPTS_DIR: the management VMs' scripts directory. */
  sshScriptsDir: string;
  /** Failed-authentication limit per source address, and the proxies trusted to name the source. */
  authLimit: { maxFailures: number; windowSeconds: number; trustedProxies: string[] };
  /** Request budget per authenticated caller (token, session, bootstrap admin token): a token bucket; burst 0 = off. */
  callerBudget: { burst: number; perSecond: number };
  /** Days of incident history (events, matches, action runs) kept; older rows are purged. */
  retention: { days: number };
  /** Seconds between the worker's reconciles of job schedules with the jobs table (one also at start). */
  scheduleReconcileSeconds: number;
  /** Bounds of one backtest request, and how many one API process runs at once. */
  backtest: { maxEvents: number; timeBudgetSeconds: number; maxConcurrent: number };
  /** Fleet blast-radius guards, flapping and where they page (issue 22). */
  guards: GuardConfig;
}

/** A role a group maps to: the API scopes (read < write < admin). */
export type SsoRole = 'read' | 'write' | 'admin';

export interface OidcConfig {
  issuerUrl: string;
  clientId: string;
  /** Unset → a public client (PKCE only, token endpoint auth `none`). */
  clientSecret: string | undefined;
  /** Where the provider sends the browser back: `<public URL>/auth/callback`. */
  redirectUrl: string;
  /** Origin of the dashboard as browsers see it (from the redirect URL): the only Origin accepted on writes. */
  publicOrigin: string;
  scopes: string[];
  /** Claim holding the user's groups; a dotted path reaches into objects (`realm_access.roles`). */
  groupsClaim: string;
  /** Group → role; a user gets the highest role of their mapped groups, and no mapped group → refused. */
  roleMap: ReadonlyMap<string, SsoRole>;
  /** Group → team roles (OIDC_ROLE_MAP entries `group=team:role`); a user gets every team role of their groups. */
  teamRoleMap: ReadonlyMap<string, readonly TeamMembership[]>;
  /** Shown on the sign-in button. */
  providerName: string;
}

export interface SsoConfig {
  /** Undefined → single sign-on is off (the dashboard signs in with API tokens only). */
  oidc: OidcConfig | undefined;
  session: { maxAgeSeconds: number; idleTimeoutSeconds: number; maxPerUser: number };
  /** Whether the dashboard offers the paste-a-token sign-in (break-glass); API tokens work on the API regardless. */
  tokenSignIn: boolean;
}

export class ConfigError extends Error {
  constructor(
    message: string,
    readonly variable: string,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Which process reads the config: only the API receives webhooks, so only it needs their secrets. */
export type ProcessRole = 'api' | 'worker' | 'agent' | 'tool';

/**
 * The variables whose value a refused configuration shows (`got "…"`): numbers, switches, durations, names,
 * addresses, paths and lists of them, none of which holds a credential. Every other one is named with what
 * is wrong and its value is never shown: a URL may carry a user and password (DATABASE_URL, SMTP_URL) or be
 * the credential itself (a Slack webhook URL given where a reference is expected), DATABASE_URL may be in
 * libpq's keyword form with `password=…`, and tokens, secrets and user names are what they are. Start-up
 * errors go to the container's or journald's log, so a variable added later stays unshown until listed here.
 */
const SHOWN_IN_ERRORS: ReadonlySet<string> = new Set<keyof Env>([
  'NODE_ENV', 'PORT', 'HOST', 'LOG_LEVEL', 'DATABASE_POOL_SIZE', 'DATABASE_CONNECT_TIMEOUT_MS', 'DATABASE_STATEMENT_TIMEOUT_MS',
  'SELFHEAL_DATA_DIR', 'TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'TEMPORAL_TASK_QUEUE', 'TEMPORAL_CLI_PATH',
  'TEMPORAL_TLS_CERT_PATH', 'TEMPORAL_TLS_KEY_PATH', 'TEMPORAL_TLS_CA_PATH', 'TEMPORAL_WORKER_METRICS_ADDRESS',
  'TEMPORAL_WORKER_WORKFLOW_TASK_SLOTS', 'TEMPORAL_WORKER_LOCAL_ACTIVITY_SLOTS', 'TEMPORAL_WORKER_ACTIVITY_SLOTS',
  'PAGERDUTY_WEBHOOK_ALLOW_UNSIGNED', 'PAGERDUTY_WEBHOOK_MAX_IN_FLIGHT', 'PAGERDUTY_FROM_EMAIL', 'PAGERDUTY_RECONCILE_MINUTES',
  'METRICS_REFRESH_SECONDS', 'ACTION_EGRESS_ALLOW', 'ACTION_EGRESS_DENY', 'SELFHEAL_APPROVAL_LINK_TTL_MINUTES',
  'SELFHEAL_EXTRACTORS_FILE', 'SELFHEAL_ENVIRONMENT', 'SELFHEAL_SCRIPTS_DIR', 'SELFHEAL_AGENT_SCRIPTS_TIMEOUT_SECONDS',
  'SELFHEAL_AGENT_MAX_CONCURRENT_SCRIPTS', 'SELFHEAL_AGENT_TEAMS', 'SMTP_FROM', 'NOTIFY_EMAIL_ALLOW', 'NOTIFY_WEBHOOK_ALLOW', 'GITHUB_REPOS_ALLOW',
  'JIRA_EMAIL', 'JIRA_ISSUE_TYPE', 'OIDC_SCOPES', 'OIDC_GROUPS_CLAIM', 'OIDC_ROLE_MAP', 'OIDC_PROVIDER_NAME',
  'SESSION_MAX_AGE_SECONDS', 'SESSION_IDLE_TIMEOUT_SECONDS', 'SESSION_MAX_PER_USER', 'DASHBOARD_TOKEN_SIGN_IN',
  'SECRET_REF_ENV_PREFIXES', 'SECRET_REF_DIRS', 'SELFHEAL_SSH_SCRIPTS_DIR', 'SELFHEAL_SSH_SCRIPTS_TIMEOUT_SECONDS',
  'SELFHEAL_SSH_MAX_SESSIONS_PER_HOST',
  'SELFHEAL_AUTH_MAX_FAILURES', 'SELFHEAL_AUTH_FAILURE_WINDOW_SECONDS', 'SELFHEAL_RATE_LIMIT_BURST', 'SELFHEAL_RATE_LIMIT_PER_SECOND',
  'SELFHEAL_TRUSTED_PROXIES', 'SELFHEAL_RETENTION_DAYS', 'SELFHEAL_SCHEDULE_RECONCILE_SECONDS', 'SELFHEAL_BACKTEST_MAX_EVENTS',
  'SELFHEAL_BACKTEST_TIME_BUDGET_SECONDS', 'SELFHEAL_BACKTEST_MAX_CONCURRENT', 'SELFHEAL_GUARD_MAX_TARGETS', 'SELFHEAL_GUARD_MAX_TARGET_PERCENT', 'SELFHEAL_GUARD_WINDOW',
  'SELFHEAL_GUARD_MAX_ACTIONS_PER_MINUTE', 'SELFHEAL_GUARD_PAGE_EMAIL', 'SELFHEAL_FLAPPING_MAX', 'SELFHEAL_FLAPPING_WINDOW',
]);

/** Whether a refused value of `variable` may be shown in its error (see SHOWN_IN_ERRORS). */
export const shownInErrors = (variable: string): boolean => SHOWN_IN_ERRORS.has(variable);

/**
 * The bearer tokens of the configuration a guessable value of which stops a production start
 * ({@link guessableToken}): SELFHEAL_ADMIN_TOKEN reaches every team and mints tokens; METRICS_TOKEN is all
 * that keeps GET /metrics (every team's incident, rule and job series) from whoever reaches the API. Nothing
 * revokes either short of a restart.
 */
const PRODUCTION_TOKENS = ['SELFHEAL_ADMIN_TOKEN', 'METRICS_TOKEN'] as const;

/** The least a production token must carry by {@link estimatedTokenBits}: `openssl rand -hex 24` gives ~180. */
export const TOKEN_MIN_BITS = 40;
/** And the fewest distinct characters: `aaaaaaaaaaaaaaaa` is 16 characters long and one guess. */
export const TOKEN_MIN_DISTINCT = 8;
/**
 * Tokens the repository publishes as examples (the README's quick-start admin token), matched
 * case-insensitively as a prefix so that the example with other digits is refused too.
 */
const PUBLISHED_TOKENS = ['dev-admin-token'];

/**
 * A rough upper bound on a token's entropy: its length times the Shannon entropy of its characters'
 * frequencies. It cannot tell a random token from a clever one, only catch the obviously weak (repeats, few
 * symbols); a random one of 16 characters or more passes.
 */
export function estimatedTokenBits(token: string): number {
  const chars = [...token];
  const counts = new Map<string, number>();
  for (const c of chars) counts.set(c, (counts.get(c) ?? 0) + 1);
  let perChar = 0;
  for (const n of counts.values()) perChar -= (n / chars.length) * Math.log2(n / chars.length);
  return perChar * chars.length;
}

/**
 * Why `token` is too guessable to be one of the {@link PRODUCTION_TOKENS} in production, or undefined; the
 * reason never quotes the token.
 */
export function guessableToken(token: string): string | undefined {
  if (PUBLISHED_TOKENS.some((t) => token.toLowerCase().startsWith(t))) return 'is the example the README publishes';
  if (new Set(token).size < TOKEN_MIN_DISTINCT) return `has fewer than ${TOKEN_MIN_DISTINCT} distinct characters`;
  if (estimatedTokenBits(token) < TOKEN_MIN_BITS) return `carries less than ${TOKEN_MIN_BITS} bits by its characters' entropy`;
  return undefined;
}

/** Parse the environment; on the first bad variable throw one line naming it and what is wrong. */
export function loadConfig(source: Record<string, string | undefined> = process.env, opts: { role?: ProcessRole } = {}): Config {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const variable = String(issue.path[0] ?? 'environment');
    const raw = source[variable];
    const shown = raw === undefined || !shownInErrors(variable) ? '' : ` (got "${raw}")`;
    throw new ConfigError(`Invalid configuration: ${variable} ${lowerFirst(issue.message)}${shown}`, variable);
  }
  const e = parsed.data;
  if ((opts.role ?? 'api') === 'api' && e.NODE_ENV === 'production' && e.PAGERDUTY_WEBHOOK_SECRETS.length === 0) {
    throw new ConfigError(
      'Invalid configuration: PAGERDUTY_WEBHOOK_SECRETS is required when NODE_ENV=production (comma-separated V3 signing secrets)',
      'PAGERDUTY_WEBHOOK_SECRETS',
    );
  }
  // A production Doctor agent fails closed: left unset, it would run the scripts of whichever team
  // registers its environment's name. `*` is the explicit opt-out (the agent then says so at start-up).
  if (opts.role === 'agent' && e.NODE_ENV === 'production' && e.SELFHEAL_AGENT_TEAMS === undefined) {
    throw new ConfigError(
      'Invalid configuration: SELFHEAL_AGENT_TEAMS is required when NODE_ENV=production: the team(s) whose tasks this Doctor agent runs, comma-separated (e.g. payments,db), or * to run every team\'s',
      'SELFHEAL_AGENT_TEAMS',
    );
  }
  if (e.NODE_ENV === 'production' && e.PAGERDUTY_WEBHOOK_ALLOW_UNSIGNED) {
    throw new ConfigError(
      'Invalid configuration: PAGERDUTY_WEBHOOK_ALLOW_UNSIGNED=true is not allowed when NODE_ENV=production (set PAGERDUTY_WEBHOOK_SECRETS)',
      'PAGERDUTY_WEBHOOK_ALLOW_UNSIGNED',
    );
  }
  for (const variable of PRODUCTION_TOKENS) {
    const token = e[variable];
    const weak = e.NODE_ENV === 'production' && token !== undefined ? guessableToken(token) : undefined;
    if (weak) {
      throw new ConfigError(`Invalid configuration: ${variable} ${weak}, too guessable when NODE_ENV=production (set a random one: openssl rand -hex 24)`, variable);
    }
  }
  if (e.PAGERDUTY_API_TOKEN && !e.PAGERDUTY_FROM_EMAIL) {
    throw new ConfigError(
      'Invalid configuration: PAGERDUTY_FROM_EMAIL is required with PAGERDUTY_API_TOKEN (PagerDuty needs a From header on writes)',
      'PAGERDUTY_FROM_EMAIL',
    );
  }
  const emailAllow = e.NOTIFY_EMAIL_ALLOW;
  // A guard page refused at the moment it must go out would be found too late: refuse to start instead.
  const unpaged = e.SELFHEAL_GUARD_PAGE_EMAIL.map((a) => recipientRefused(a, emailAllow)).find((r) => r !== undefined);
  if (unpaged) throw new ConfigError(`Invalid configuration: SELFHEAL_GUARD_PAGE_EMAIL: ${unpaged}`, 'SELFHEAL_GUARD_PAGE_EMAIL');
  if (Boolean(e.TEMPORAL_TLS_CERT_PATH) !== Boolean(e.TEMPORAL_TLS_KEY_PATH)) {
    throw new ConfigError(
      'Invalid configuration: TEMPORAL_TLS_CERT_PATH and TEMPORAL_TLS_KEY_PATH must be set together',
      e.TEMPORAL_TLS_CERT_PATH ? 'TEMPORAL_TLS_KEY_PATH' : 'TEMPORAL_TLS_CERT_PATH',
    );
  }
  const sso = ssoConfig(e);
  return {
    nodeEnv: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    dataDir: e.SELFHEAL_DATA_DIR,
    database: { url: e.DATABASE_URL, poolSize: e.DATABASE_POOL_SIZE, connectTimeoutMs: e.DATABASE_CONNECT_TIMEOUT_MS, statementTimeoutMs: e.DATABASE_STATEMENT_TIMEOUT_MS },
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      taskQueue: e.TEMPORAL_TASK_QUEUE,
      uiUrl: trimTrailingSlashes(e.TEMPORAL_UI_URL!),
      cliPath: e.TEMPORAL_CLI_PATH,
      tls: { certPath: e.TEMPORAL_TLS_CERT_PATH, keyPath: e.TEMPORAL_TLS_KEY_PATH, caPath: e.TEMPORAL_TLS_CA_PATH },
      apiKey: e.TEMPORAL_API_KEY,
      workerMetricsAddress: e.TEMPORAL_WORKER_METRICS_ADDRESS,
      workerSlots: {
        workflowTasks: e.TEMPORAL_WORKER_WORKFLOW_TASK_SLOTS,
        localActivities: e.TEMPORAL_WORKER_LOCAL_ACTIVITY_SLOTS,
        activities: e.TEMPORAL_WORKER_ACTIVITY_SLOTS,
      },
    },
    pagerduty: {
      webhookSecrets: e.PAGERDUTY_WEBHOOK_SECRETS,
      webhookAllowUnsigned: e.PAGERDUTY_WEBHOOK_ALLOW_UNSIGNED,
      webhookMaxInFlight: e.PAGERDUTY_WEBHOOK_MAX_IN_FLIGHT,
      apiUrl: trimTrailingSlashes(e.PAGERDUTY_API_URL!),
      apiToken: e.PAGERDUTY_API_TOKEN,
      fromEmail: e.PAGERDUTY_FROM_EMAIL,
      reconcileMinutes: e.PAGERDUTY_RECONCILE_MINUTES,
    },
    adminToken: e.SELFHEAL_ADMIN_TOKEN,
    metricsToken: e.METRICS_TOKEN,
    metricsRefreshSeconds: e.METRICS_REFRESH_SECONDS,
    egressAllow: e.ACTION_EGRESS_ALLOW,
    egressDeny: e.ACTION_EGRESS_DENY,
    publicUrl: e.SELFHEAL_PUBLIC_URL,
    approvalLinkTtlMinutes: e.SELFHEAL_APPROVAL_LINK_TTL_MINUTES,
    extractorsFile: e.SELFHEAL_EXTRACTORS_FILE,
    agent: {
      environment: e.SELFHEAL_ENVIRONMENT,
      scriptsDir: e.SELFHEAL_SCRIPTS_DIR,
      timeoutSeconds: e.SELFHEAL_AGENT_SCRIPTS_TIMEOUT_SECONDS,
      maxConcurrentScripts: e.SELFHEAL_AGENT_MAX_CONCURRENT_SCRIPTS,
      teams: e.SELFHEAL_AGENT_TEAMS === '*' ? undefined : e.SELFHEAL_AGENT_TEAMS,
      ...(e.SELFHEAL_AGENT_TEAMS === '*' ? { everyTeam: 'asked' as const } : e.SELFHEAL_AGENT_TEAMS === undefined ? { everyTeam: 'unset' as const } : {}),
    },
    smtp: { url: e.SMTP_URL, from: e.SMTP_FROM, user: e.SMTP_USER, passwordSet: Boolean(e.SMTP_PASSWORD) },
    emailAllow,
    webhookAllow: e.NOTIFY_WEBHOOK_ALLOW,
    jira: { baseUrl: e.JIRA_BASE_URL === undefined ? undefined : trimTrailingSlashes(e.JIRA_BASE_URL), email: e.JIRA_EMAIL, tokenSet: Boolean(e.JIRA_API_TOKEN), issueType: e.JIRA_ISSUE_TYPE },
    github: { apiUrl: trimTrailingSlashes(e.GITHUB_API_URL!), tokenSet: Boolean(e.GITHUB_TOKEN), reposAllow: e.GITHUB_REPOS_ALLOW },
    ewm: { catalogUrl: e.EWM_CATALOG_URL, username: e.EWM_USERNAME, passwordSet: Boolean(e.EWM_PASSWORD) },
    sso,
    secretRefs: secretRefPolicyFromEnv({ SECRET_REF_ENV_PREFIXES: e.SECRET_REF_ENV_PREFIXES.join(','), SECRET_REF_DIRS: e.SECRET_REF_DIRS.join(',') }),
    sshScriptsDir: e.SELFHEAL_SSH_SCRIPTS_DIR,
    authLimit: { maxFailures: e.SELFHEAL_AUTH_MAX_FAILURES, windowSeconds: e.SELFHEAL_AUTH_FAILURE_WINDOW_SECONDS, trustedProxies: e.SELFHEAL_TRUSTED_PROXIES },
    callerBudget: { burst: e.SELFHEAL_RATE_LIMIT_BURST, perSecond: e.SELFHEAL_RATE_LIMIT_PER_SECOND },
    retention: { days: e.SELFHEAL_RETENTION_DAYS },
    scheduleReconcileSeconds: e.SELFHEAL_SCHEDULE_RECONCILE_SECONDS,
    backtest: { maxEvents: e.SELFHEAL_BACKTEST_MAX_EVENTS, timeBudgetSeconds: e.SELFHEAL_BACKTEST_TIME_BUDGET_SECONDS, maxConcurrent: e.SELFHEAL_BACKTEST_MAX_CONCURRENT },
    guards: {
      maxTargets: e.SELFHEAL_GUARD_MAX_TARGETS,
      maxTargetPercent: e.SELFHEAL_GUARD_MAX_TARGET_PERCENT,
      windowSeconds: e.SELFHEAL_GUARD_WINDOW,
      maxActionsPerMinute: e.SELFHEAL_GUARD_MAX_ACTIONS_PER_MINUTE,
      flapping: { max: e.SELFHEAL_FLAPPING_MAX, windowSeconds: e.SELFHEAL_FLAPPING_WINDOW },
      page: { slackWebhookRef: e.SELFHEAL_GUARD_PAGE_SLACK_WEBHOOK_REF, email: e.SELFHEAL_GUARD_PAGE_EMAIL },
    },
  };
}

/** A duration (30s, 10m, 1h, or whole seconds) in [min, max] seconds, `fallback` when unset. */
function durationSeconds(fallback: string, min: number, max: number) {
  return optionalString
    .transform((v) => v ?? fallback)
    .transform((v, ctx) => {
      const seconds = parseDuration(v);
      if (seconds === undefined || seconds < min || seconds > max) {
        ctx.addIssue({ code: 'custom', message: `must be a duration such as 30s, 10m or 1h, between ${min} s and ${max} s` });
        return z.NEVER;
      }
      return seconds;
    });
}

/** A whole number in [min, max], `fallback` when unset (seconds, counts). */
function wholeNumber(fallback: number, min: number, max: number) {
  return optionalString
    .transform((v) => v ?? String(fallback))
    .pipe(
      z
        .string()
        .regex(/^\d+$/, `must be a whole number between ${min} and ${max}`)
        .transform(Number)
        .pipe(z.number().int().min(min, `must be between ${min} and ${max}`).max(max, `must be between ${min} and ${max}`)),
    );
}

// ---- single sign-on ---------------------------------------------------------------------------------

const ROLES: readonly SsoRole[] = ['read', 'write', 'admin'];

/** Browsers keep `Secure` cookies only from https pages, and from http on loopback names. */
const isLoopbackHttp = (u: URL) => u.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname);

/**
 * `OIDC_ROLE_MAP`: `group=role,group=role` (split at the last `=`), or a JSON object for group names that
 * contain commas (LDAP DNs such as `cn=sre,ou=groups`). A role is a global scope (read, write, admin) or a
 * team role `team:role` (viewer, editor, approver, admin of that team, src/domain/teams.ts); a group may
 * be named several times (in JSON: a list of roles) to give several.
 */
export function parseRoleMaps(text: string): { roles: Map<string, SsoRole>; teams: Map<string, TeamMembership[]> } {
  const fail = (why: string) => new ConfigError(`Invalid configuration: OIDC_ROLE_MAP ${why}`, 'OIDC_ROLE_MAP');
  let pairs: [string, unknown][];
  if (text.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw fail('is not valid JSON (a JSON object {"group": "role"}, or group=role,group=role)');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw fail('must be a JSON object {"group": "role"}');
    pairs = Object.entries(parsed).flatMap(([group, v]) => (Array.isArray(v) ? v.map((r): [string, unknown] => [group, r]) : [[group, v] as [string, unknown]]));
  } else {
    pairs = text
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p.length > 0)
      .map((p) => {
        const at = p.lastIndexOf('=');
        if (at <= 0) throw fail(`entry "${p}" must be group=role`);
        return [p.slice(0, at).trim(), p.slice(at + 1).trim()];
      });
  }
  const roles = new Map<string, SsoRole>();
  const teams = new Map<string, TeamMembership[]>();
  for (const [group, role] of pairs) {
    if (typeof role === 'string' && role.includes(':')) {
      const m = parseMembership(role);
      if ('error' in m) throw fail(`maps "${group}" to a team role that is not valid: ${m.error}`);
      teams.set(group, [...(teams.get(group) ?? []).filter((x) => x.team !== m.team || x.role !== m.role), m]);
      continue;
    }
    if (!ROLES.includes(role as SsoRole)) throw fail(`maps "${group}" to "${String(role)}"; a role is one of ${ROLES.join(', ')}, or team:role (team roles: ${TEAM_ROLES.join(', ')})`);
    roles.set(group, role as SsoRole);
  }
  if (roles.size === 0 && teams.size === 0) throw fail('maps no group to a role, so nobody could sign in');
  return { roles, teams };
}

/** The global roles of OIDC_ROLE_MAP (see parseRoleMaps). */
export const parseRoleMap = (text: string): Map<string, SsoRole> => parseRoleMaps(text).roles;

function roleMapsOf(text: string): { roleMap: Map<string, SsoRole>; teamRoleMap: Map<string, TeamMembership[]> } {
  const { roles, teams } = parseRoleMaps(text);
  return { roleMap: roles, teamRoleMap: teams };
}

function ssoConfig(e: Env): SsoConfig {
  const fail = (variable: string, why: string) => new ConfigError(`Invalid configuration: ${variable} ${why}`, variable);
  const session = { maxAgeSeconds: e.SESSION_MAX_AGE_SECONDS, idleTimeoutSeconds: e.SESSION_IDLE_TIMEOUT_SECONDS, maxPerUser: e.SESSION_MAX_PER_USER };
  const tokenSignIn = e.DASHBOARD_TOKEN_SIGN_IN === 'true';
  if (!e.OIDC_ISSUER_URL) {
    for (const v of ['OIDC_CLIENT_ID', 'OIDC_CLIENT_SECRET', 'OIDC_REDIRECT_URL', 'OIDC_ROLE_MAP'] as const) {
      if (e[v]) throw fail('OIDC_ISSUER_URL', `is required with ${v} (single sign-on is off while it is unset)`);
    }
    if (!tokenSignIn) throw fail('DASHBOARD_TOKEN_SIGN_IN', 'can be false only with single sign-on (OIDC_ISSUER_URL), or nobody could sign in to the dashboard');
    return { oidc: undefined, session, tokenSignIn };
  }
  const parseUrl = (variable: string, text: string) => {
    try {
      return new URL(text);
    } catch {
      throw fail(variable, 'must be an http(s) URL');
    }
  };
  const issuer = parseUrl('OIDC_ISSUER_URL', e.OIDC_ISSUER_URL);
  if (issuer.protocol !== 'https:' && !isLoopbackHttp(issuer)) throw fail('OIDC_ISSUER_URL', `must be an https URL (http only on localhost; it is ${issuer.protocol})`);
  if (!e.OIDC_CLIENT_ID) throw fail('OIDC_CLIENT_ID', 'is required with OIDC_ISSUER_URL (the client id registered at the provider)');
  if (!e.OIDC_ROLE_MAP) throw fail('OIDC_ROLE_MAP', 'is required with OIDC_ISSUER_URL, e.g. sre-admins=admin,sre=write,viewers=read');
  const redirect = e.OIDC_REDIRECT_URL ?? (e.SELFHEAL_PUBLIC_URL ? `${trimTrailingSlashes(e.SELFHEAL_PUBLIC_URL)}/auth/callback` : undefined);
  if (!redirect) throw fail('OIDC_REDIRECT_URL', 'is required with OIDC_ISSUER_URL (or set SELFHEAL_PUBLIC_URL): <public URL>/auth/callback');
  const variable = e.OIDC_REDIRECT_URL ? 'OIDC_REDIRECT_URL' : 'SELFHEAL_PUBLIC_URL';
  const redirectUrl = parseUrl(variable, redirect);
  if (redirectUrl.protocol !== 'https:' && !isLoopbackHttp(redirectUrl)) {
    throw fail(variable, `must be https for single sign-on: browsers drop the Secure session cookie on plain http except on localhost (it is ${redirectUrl.protocol})`);
  }
  if (redirectUrl.pathname !== '/auth/callback' || redirectUrl.search || redirectUrl.hash) {
    throw fail(variable, 'must give a redirect URL ending in /auth/callback at the root of the host, with no query');
  }
  // The dashboard and the approval links are served at the public URL, whatever the redirect says: a plain
  // http one would send the session cookie's holder there without it, and HSTS follows it (src/api/app.ts).
  if (e.SELFHEAL_PUBLIC_URL && e.OIDC_REDIRECT_URL) {
    const publicUrl = parseUrl('SELFHEAL_PUBLIC_URL', e.SELFHEAL_PUBLIC_URL);
    if (publicUrl.protocol !== 'https:' && !isLoopbackHttp(publicUrl)) {
      throw fail('SELFHEAL_PUBLIC_URL', `must be https with single sign-on (http only on localhost; it is ${publicUrl.protocol})`);
    }
  }
  if (!e.OIDC_SCOPES.includes('openid')) throw fail('OIDC_SCOPES', 'must include openid');
  return {
    oidc: {
      issuerUrl: e.OIDC_ISSUER_URL,
      clientId: e.OIDC_CLIENT_ID,
      clientSecret: e.OIDC_CLIENT_SECRET,
      redirectUrl: redirectUrl.href,
      publicOrigin: redirectUrl.origin,
      scopes: e.OIDC_SCOPES,
      groupsClaim: e.OIDC_GROUPS_CLAIM,
      ...roleMapsOf(e.OIDC_ROLE_MAP),
      providerName: e.OIDC_PROVIDER_NAME ?? issuer.hostname,
    },
    session,
    tokenSignIn,
  };
}

/** Every variable the schema knows, for .env.example and the docker-compose test. */
export const configVariables = Object.keys(envSchema.shape) as (keyof Env)[];

function lowerFirst(s: string): string {
  if (/^Invalid option/.test(s)) return s.replace(/^Invalid option: expected one of/, 'must be one of');
  return s.charAt(0).toLowerCase() + s.slice(1);
}
