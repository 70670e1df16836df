import { z } from 'zod';
import { validateEgressDeny } from './executors/egress.js';

/**
 * One schema over the process environment (DESIGN.md "Interface contract").
 * Parsed once per process by its composition root; everything else receives a Config.
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

/** A whole number from `min` to `max`, `fallback` when unset. */
const wholeNumber = (fallback: number, min: number, max: number) =>
  optionalString
    .transform((v) => v ?? String(fallback))
    .pipe(
      z
        .string()
        .regex(/^\d+$/, `must be a whole number from ${min} to ${max}`)
        .transform(Number)
        .pipe(z.number().int().min(min, `must be a whole number from ${min} to ${max}`).max(max, `must be a whole number from ${min} to ${max}`)),
    );

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

const email = optionalString.refine((v) => v === undefined || /^[^\s@]+@[^\s@]+$/.test(v), {
  message: 'must be an email address',
});

const secretToken = optionalString.refine((v) => v === undefined || v.length >= 16, {
  message: 'must be at least 16 characters',
});

export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: port(8080),
  HOST: optionalString.transform((v) => v ?? '0.0.0.0'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: databaseUrl,
  DATABASE_POOL_SIZE: port(10).pipe(z.number().min(1, 'must be at least 1')),
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
  // Deliveries the API hands to Temporal at once; more are answered 503 at once (PagerDuty retries)
  // rather than queueing into the 4-s signalWithStart timeout.
  PAGERDUTY_WEBHOOK_MAX_IN_FLIGHT: port(256).pipe(z.number().min(1, 'must be at least 1')),
  PAGERDUTY_API_URL: url('https://api.pagerduty.com'),
  PAGERDUTY_API_TOKEN: optionalString,
  PAGERDUTY_FROM_EMAIL: email,
  SELFHEAL_ADMIN_TOKEN: secretToken,
  METRICS_TOKEN: secretToken,
  // CIDRs rule-controlled outbound calls (notify.webhook, Slack hooks) may not reach, beyond the
  // link-local and metadata addresses that are always refused.
  ACTION_EGRESS_DENY: list.superRefine((entries, ctx) => {
    try {
      validateEgressDeny(entries);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `must be comma-separated CIDRs or addresses: ${(err as Error).message}` });
    }
  }),
  SELFHEAL_PUBLIC_URL: url(),
  SELFHEAL_EXTRACTORS_FILE: optionalString,
  SELFHEAL_ENVIRONMENT: optionalString.refine((v) => v === undefined || /^[a-z0-9][a-z0-9._-]{0,62}$/.test(v), {
    message: 'must be a lowercase environment name (a-z, 0-9, . _ -)',
  }),
  SELFHEAL_SCRIPTS_DIR: optionalString.transform((v) => v ?? 'scripts'),
  SELFHEAL_AGENT_SCRIPTS_TIMEOUT_SECONDS: port(600).pipe(z.number().min(1, 'must be at least 1')),
  SMTP_URL: optionalString.refine((v) => v === undefined || /^smtps?:\/\/[^\s]+$/.test(v), {
    message: 'must be an smtp:// or smtps:// URL',
  }),
  SMTP_FROM: email,
  SMTP_USER: optionalString,
  SMTP_PASSWORD: optionalString,
  JIRA_BASE_URL: url(),
  JIRA_EMAIL: email,
  JIRA_API_TOKEN: optionalString,
  JIRA_ISSUE_TYPE: optionalString.transform((v) => v ?? 'Task'),
  GITHUB_API_URL: url('https://api.github.com'),
  GITHUB_TOKEN: optionalString,
  EWM_CREATION_FACTORY_URL: url(),
  EWM_QUERY_URL: url(),
  EWM_USERNAME: optionalString,
  EWM_PASSWORD: optionalString,
  // Backtests and history retention (issue 21): events, rule matches and action runs older than the
  // retention are purged by the worker's retention schedule; a backtest reads at most so many events and
  // gives up after so many seconds (its caller narrows the window).
  SELFHEAL_RETENTION_DAYS: wholeNumber(90, 1, 3650),
  SELFHEAL_BACKTEST_MAX_EVENTS: wholeNumber(200_000, 1, 10_000_000),
  SELFHEAL_BACKTEST_TIME_BUDGET_SECONDS: wholeNumber(30, 1, 600),
});

export type Env = z.infer<typeof envSchema>;

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
  database: { url: string | undefined; poolSize: number };
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
    /** Deliveries being handed to Temporal at once, per API process; beyond it → 503 at once. */
    webhookMaxInFlight: number;
    apiUrl: string;
    apiToken: string | undefined;
    fromEmail: string | undefined;
  };
  adminToken: string | undefined;
  /** Bearer token GET /metrics requires; unset → /metrics is open (keep it off the public listener). */
  metricsToken: string | undefined;
  /** ACTION_EGRESS_DENY: CIDRs refused to notify.webhook and Slack calls, beyond the always-denied ones. */
  egressDeny: string[];
  publicUrl: string | undefined;
  extractorsFile: string | undefined;
  agent: { environment: string | undefined; scriptsDir: string; timeoutSeconds: number };
  smtp: { url: string | undefined; from: string | undefined; user: string | undefined; passwordSet: boolean };
  /** Work-item trackers. Tokens stay in the environment; only whether they are set is kept here. */
  jira: { baseUrl: string | undefined; email: string | undefined; tokenSet: boolean; issueType: string };
  github: { apiUrl: string; tokenSet: boolean };
  ewm: { creationFactoryUrl: string | undefined; queryUrl: string | undefined; username: string | undefined; passwordSet: boolean };
  /** Days of incident history (events, matches, action runs) kept; older rows are purged. */
  retention: { days: number };
  /** Bounds of one backtest request. */
  backtest: { maxEvents: number; timeBudgetSeconds: number };
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

/** Parse the environment; on the first bad variable throw one line naming it and what is wrong. */
export function loadConfig(source: Record<string, string | undefined> = process.env, opts: { role?: ProcessRole } = {}): Config {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const variable = String(issue.path[0] ?? 'environment');
    const raw = source[variable];
    const shown = raw === undefined || /TOKEN|SECRET|KEY|PASSWORD/i.test(variable) ? '' : ` (got "${raw}")`;
    throw new ConfigError(`Invalid configuration: ${variable} ${lowerFirst(issue.message)}${shown}`, variable);
  }
  const e = parsed.data;
  if ((opts.role ?? 'api') === 'api' && e.NODE_ENV === 'production' && e.PAGERDUTY_WEBHOOK_SECRETS.length === 0) {
    throw new ConfigError(
      'Invalid configuration: PAGERDUTY_WEBHOOK_SECRETS is required when NODE_ENV=production (comma-separated V3 signing secrets)',
      'PAGERDUTY_WEBHOOK_SECRETS',
    );
  }
  if (e.PAGERDUTY_API_TOKEN && !e.PAGERDUTY_FROM_EMAIL) {
    throw new ConfigError(
      'Invalid configuration: PAGERDUTY_FROM_EMAIL is required with PAGERDUTY_API_TOKEN (PagerDuty needs a From header on writes)',
      'PAGERDUTY_FROM_EMAIL',
    );
  }
  if (Boolean(e.TEMPORAL_TLS_CERT_PATH) !== Boolean(e.TEMPORAL_TLS_KEY_PATH)) {
    throw new ConfigError(
      'Invalid configuration: TEMPORAL_TLS_CERT_PATH and TEMPORAL_TLS_KEY_PATH must be set together',
      e.TEMPORAL_TLS_CERT_PATH ? 'TEMPORAL_TLS_KEY_PATH' : 'TEMPORAL_TLS_CERT_PATH',
    );
  }
  return {
    nodeEnv: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    dataDir: e.SELFHEAL_DATA_DIR,
    database: { url: e.DATABASE_URL, poolSize: e.DATABASE_POOL_SIZE },
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      taskQueue: e.TEMPORAL_TASK_QUEUE,
      uiUrl: e.TEMPORAL_UI_URL!.replace(/\/+$/, ''),
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
      webhookMaxInFlight: e.PAGERDUTY_WEBHOOK_MAX_IN_FLIGHT,
      apiUrl: e.PAGERDUTY_API_URL!.replace(/\/+$/, ''),
      apiToken: e.PAGERDUTY_API_TOKEN,
      fromEmail: e.PAGERDUTY_FROM_EMAIL,
    },
    adminToken: e.SELFHEAL_ADMIN_TOKEN,
    metricsToken: e.METRICS_TOKEN,
    egressDeny: e.ACTION_EGRESS_DENY,
    publicUrl: e.SELFHEAL_PUBLIC_URL,
    extractorsFile: e.SELFHEAL_EXTRACTORS_FILE,
    agent: {
      environment: e.SELFHEAL_ENVIRONMENT,
      scriptsDir: e.SELFHEAL_SCRIPTS_DIR,
      timeoutSeconds: e.SELFHEAL_AGENT_SCRIPTS_TIMEOUT_SECONDS,
    },
    smtp: { url: e.SMTP_URL, from: e.SMTP_FROM, user: e.SMTP_USER, passwordSet: Boolean(e.SMTP_PASSWORD) },
    jira: { baseUrl: e.JIRA_BASE_URL?.replace(/\/+$/, ''), email: e.JIRA_EMAIL, tokenSet: Boolean(e.JIRA_API_TOKEN), issueType: e.JIRA_ISSUE_TYPE },
    github: { apiUrl: e.GITHUB_API_URL!.replace(/\/+$/, ''), tokenSet: Boolean(e.GITHUB_TOKEN) },
    ewm: { creationFactoryUrl: e.EWM_CREATION_FACTORY_URL, queryUrl: e.EWM_QUERY_URL, username: e.EWM_USERNAME, passwordSet: Boolean(e.EWM_PASSWORD) },
    retention: { days: e.SELFHEAL_RETENTION_DAYS },
    backtest: { maxEvents: e.SELFHEAL_BACKTEST_MAX_EVENTS, timeBudgetSeconds: e.SELFHEAL_BACKTEST_TIME_BUDGET_SECONDS },
  };
}

/** Every variable the schema knows, for .env.example and the docker-compose test. */
export const configVariables = Object.keys(envSchema.shape) as (keyof Env)[];

function lowerFirst(s: string): string {
  if (/^Invalid option/.test(s)) return s.replace(/^Invalid option: expected one of/, 'must be one of');
  return s.charAt(0).toLowerCase() + s.slice(1);
}
