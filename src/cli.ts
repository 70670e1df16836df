/**
 * `selfheal` — the SRE command line.
 *
 * Commands live in one table keyed by "group subcommand"; a new group adds entries to {@link commands}.
 * Global options: --url (SELFHEAL_URL, default http://localhost:8080), --token (SELFHEAL_TOKEN), --json.
 * Exit codes: 0 ok, 1 a negative answer (no match, differences, not found), 2 usage or validation
 * error, 3 server or network error.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseAllDocuments, stringify } from 'yaml';
import { canonicalJson, diffJson, type JsonChange } from './domain/json-diff.js';
import { PayloadError, testRuleWithPayload } from './domain/rules/test-rule.js';
import { parseRuleInput, type Rule, type RuleInput } from './domain/rules/index.js';
import { EVENT_TYPES } from './domain/rules/schema.js';
import { createPagerDutyClient, PagerDutyApiError } from './pagerduty/rest-client.js';
import { signBody } from './pagerduty/signature.js';

export const EXIT = { ok: 0, negative: 1, usage: 2, server: 3 } as const;

export class CliError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

export interface Io {
  out(text: string): void;
  err(text: string): void;
  env: Record<string, string | undefined>;
}

export interface GlobalOptions {
  url: string;
  token: string | undefined;
  json: boolean;
}

type Options = NonNullable<ParseArgsConfig['options']>;
type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface CommandContext {
  global: GlobalOptions;
  values: Values;
  /** positionals after "group subcommand" */
  args: string[];
  io: Io;
  api: ApiClient;
}

export interface Command {
  summary: string;
  usage: string;
  options?: Options;
  run(ctx: CommandContext): Promise<number>;
}

const GLOBAL_OPTIONS: Options = {
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
};

// ---- HTTP client ------------------------------------------------------------------------------------------

export interface ApiClient {
  request<T = unknown>(method: string, path: string, opts?: { body?: unknown; headers?: Record<string, string>; allow404?: boolean }): Promise<{ status: number; body: T }>;
}

interface Problem {
  title?: string;
  detail?: string;
  errors?: { path: string; message: string }[];
}

function describeProblem(status: number, body: unknown): string {
  const p = (body ?? {}) as Problem;
  const lines = [`${status} ${p.title ?? ''}${p.detail ? `: ${p.detail}` : ''}`.trim()];
  for (const e of p.errors ?? []) lines.push(`  ${e.path}: ${e.message}`);
  return lines.join('\n');
}

export function createApiClient(global: GlobalOptions): ApiClient {
  return {
    async request(method, path, opts = {}) {
      const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
      if (global.token) headers.authorization = `Bearer ${global.token}`;
      if (opts.body !== undefined) headers['content-type'] = 'application/json';
      let res: Response;
      try {
        res = await fetch(new URL(path, global.url), { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body), signal: AbortSignal.timeout(30_000) });
      } catch (err) {
        throw new CliError(EXIT.server, `cannot reach ${global.url}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`);
      }
      const text = await res.text();
      let body: unknown = undefined;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = text;
      }
      if (res.status === 404 && opts.allow404) return { status: 404, body: body as never };
      if (res.status >= 400) {
        const validation = res.status === 400 || res.status === 409 || res.status === 422 || res.status === 428;
        throw new CliError(validation ? EXIT.usage : EXIT.server, `${method} ${path} failed: ${describeProblem(res.status, body)}`);
      }
      return { status: res.status, body: body as never };
    },
  };
}

// ---- rule files ---------------------------------------------------------------------------------------------

/** Rules of a YAML (or JSON) file: one rule, a list, or `rules: [...]`; several YAML documents allowed. */
export function readRuleFile(path: string): RuleInput[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CliError(EXIT.usage, `cannot read ${path}: ${(err as Error).message}`);
  }
  const docs = parseAllDocuments(text);
  const raw: unknown[] = [];
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    if (doc.errors.length > 0) throw new CliError(EXIT.usage, `${path}: ${doc.errors[0]!.message}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    if (Array.isArray(value)) raw.push(...value);
    else if (typeof value === 'object' && 'rules' in value && Array.isArray((value as { rules: unknown }).rules)) raw.push(...(value as { rules: unknown[] }).rules);
    else raw.push(value);
  }
  const rules: RuleInput[] = [];
  const problems: string[] = [];
  raw.forEach((item, index) => {
    const parsed = parseRuleInput(item);
    const label = `rules[${index}]${item && typeof item === 'object' && 'name' in item ? ` (${String((item as { name: unknown }).name)})` : ''}`;
    if (parsed.ok) rules.push(parsed.value);
    else for (const i of parsed.issues) problems.push(`${label} ${i.path || '(rule)'}: ${i.message}`);
  });
  if (problems.length > 0) throw new CliError(EXIT.usage, `${path} is not valid:\n  ${problems.join('\n  ')}`);
  const seen = new Set<string>();
  for (const r of rules) {
    if (seen.has(r.name)) throw new CliError(EXIT.usage, `${path}: the rule name "${r.name}" appears twice`);
    seen.add(r.name);
  }
  return rules;
}

function readJsonFile(path: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch (err) {
    throw new CliError(EXIT.usage, `cannot read ${what} ${path}: ${(err as Error).message}`);
  }
}

// ---- server rules and plans -------------------------------------------------------------------------------------

interface ServerRule extends Record<string, unknown> {
  id: string;
  name: string;
  version: number;
}

const READ_ONLY = ['id', 'version', 'breaker', 'createdAt', 'updatedAt', 'deletedAt'];

/** The definition part of a rule as the API answers it. */
export function definitionOf(rule: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(rule).filter(([k]) => !READ_ONLY.includes(k)));
}

async function serverRules(api: ApiClient): Promise<ServerRule[]> {
  return (await api.request<{ items: ServerRule[] }>('GET', '/api/rules')).body.items;
}

export type PlanStep =
  | { action: 'create'; name: string; rule: RuleInput }
  | { action: 'update'; name: string; id: string; version: number; rule: RuleInput; changes: JsonChange[] }
  | { action: 'unchanged'; name: string; id: string }
  | { action: 'delete'; name: string; id: string; version: number };

export function planApply(desired: RuleInput[], current: ServerRule[], prune: boolean): PlanStep[] {
  const byName = new Map(current.map((r) => [r.name, r]));
  const steps: PlanStep[] = [];
  for (const rule of desired) {
    const existing = byName.get(rule.name);
    if (!existing) {
      steps.push({ action: 'create', name: rule.name, rule });
      continue;
    }
    const before = definitionOf(existing);
    if (canonicalJson(before) === canonicalJson(rule)) steps.push({ action: 'unchanged', name: rule.name, id: existing.id });
    else steps.push({ action: 'update', name: rule.name, id: existing.id, version: existing.version, rule, changes: diffJson(before, rule) });
  }
  if (prune) {
    const wanted = new Set(desired.map((r) => r.name));
    for (const r of current) if (!wanted.has(r.name)) steps.push({ action: 'delete', name: r.name, id: r.id, version: r.version });
  }
  return steps;
}

const short = (v: unknown) => {
  const s = v === undefined ? '(none)' : JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

function printPlan(steps: PlanStep[], io: Io, verb: { create: string; update: string; delete: string }): void {
  const sign = { create: '+', update: '~', unchanged: '=', delete: '-' } as const;
  for (const s of steps) {
    const label = s.action === 'unchanged' ? 'unchanged' : verb[s.action];
    io.out(`${sign[s.action]} ${label} ${s.name}`);
    if (s.action === 'update') for (const c of s.changes) io.out(`    ${c.path}: ${short(c.before)} → ${short(c.after)}`);
  }
  const count = (a: PlanStep['action']) => steps.filter((s) => s.action === a).length;
  io.out(`${count('create')} to create, ${count('update')} to update, ${count('delete')} to delete, ${count('unchanged')} unchanged`);
}

const planJson = (steps: PlanStep[]) =>
  steps.map((s) => ({ action: s.action, name: s.name, ...('id' in s ? { id: s.id } : {}), ...(s.action === 'update' ? { changes: s.changes } : {}) }));

// ---- commands ----------------------------------------------------------------------------------------------------

function requireFile(values: Values, usage: string): string {
  const file = values.file;
  if (typeof file !== 'string' || file === '') throw new CliError(EXIT.usage, `-f <file> is required\nusage: ${usage}`);
  return file;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const commands: Record<string, Command> = {
  'rules list': {
    summary: 'List rules',
    usage: 'selfheal rules list [--json]',
    async run({ api, io, global }) {
      const rules = await serverRules(api);
      if (global.json) {
        io.out(JSON.stringify(rules, null, 2));
        return EXIT.ok;
      }
      io.out(['NAME', 'VERSION', 'ENABLED', 'DRY-RUN', 'BREAKER', 'SERVICES'].join('\t'));
      for (const r of rules) {
        const breaker = (r.breaker as { state?: string } | undefined)?.state ?? '';
        io.out([r.name, r.version, r.enabled, r.dryRun, breaker, (r.services as string[]).join(',')].join('\t'));
      }
      return EXIT.ok;
    },
  },

  'rules get': {
    summary: 'Show one rule (by name or id)',
    usage: 'selfheal rules get <name|id> [--json]',
    async run({ api, io, args, global }) {
      const key = args[0];
      if (!key) throw new CliError(EXIT.usage, 'usage: selfheal rules get <name|id>');
      let rule: ServerRule | undefined;
      if (UUID.test(key)) {
        const res = await api.request<ServerRule>('GET', `/api/rules/${encodeURIComponent(key)}`, { allow404: true });
        rule = res.status === 404 ? undefined : res.body;
      }
      rule ??= (await serverRules(api)).find((r) => r.name === key);
      if (!rule) {
        io.err(`no rule named or with id "${key}"`);
        return EXIT.negative;
      }
      io.out(global.json ? JSON.stringify(rule, null, 2) : stringify(rule).trimEnd());
      return EXIT.ok;
    },
  },

  'rules apply': {
    summary: 'Sync rules from a YAML file: create missing, update changed, leave unchanged',
    usage: 'selfheal rules apply -f rules.yaml [--prune] [--dry-run] [--json]',
    options: { file: { type: 'string', short: 'f' }, prune: { type: 'boolean', default: false }, 'dry-run': { type: 'boolean', default: false } },
    async run({ api, io, values, global }) {
      const desired = readRuleFile(requireFile(values, this.usage));
      const steps = planApply(desired, await serverRules(api), values.prune === true);
      if (values['dry-run'] === true) {
        if (global.json) io.out(JSON.stringify({ dryRun: true, plan: planJson(steps) }, null, 2));
        else printPlan(steps, io, { create: 'would create', update: 'would update', delete: 'would delete' });
        return EXIT.ok;
      }
      for (const s of steps) {
        if (s.action === 'create') await api.request('POST', '/api/rules', { body: s.rule });
        else if (s.action === 'update') await api.request('PUT', `/api/rules/${s.id}`, { body: s.rule, headers: { 'if-match': `"${s.version}"` } });
        else if (s.action === 'delete') await api.request('DELETE', `/api/rules/${s.id}`, { headers: { 'if-match': `"${s.version}"` } });
      }
      if (global.json) io.out(JSON.stringify({ dryRun: false, plan: planJson(steps) }, null, 2));
      else printPlan(steps, io, { create: 'created', update: 'updated', delete: 'deleted' });
      return EXIT.ok;
    },
  },

  'rules diff': {
    summary: 'What apply would change (exit 1 when there is a difference)',
    usage: 'selfheal rules diff -f rules.yaml [--prune] [--json]',
    options: { file: { type: 'string', short: 'f' }, prune: { type: 'boolean', default: false } },
    async run({ api, io, values, global }) {
      const desired = readRuleFile(requireFile(values, this.usage));
      const steps = planApply(desired, await serverRules(api), values.prune === true);
      if (global.json) io.out(JSON.stringify(planJson(steps), null, 2));
      else printPlan(steps, io, { create: 'would create', update: 'would update', delete: 'would delete' });
      return steps.some((s) => s.action !== 'unchanged') ? EXIT.negative : EXIT.ok;
    },
  },

  'rules export': {
    summary: 'Write every rule as YAML (re-applying it changes nothing)',
    usage: 'selfheal rules export [-o file]',
    options: { output: { type: 'string', short: 'o' } },
    async run({ api, io, values }) {
      const rules = (await serverRules(api)).map(definitionOf);
      const text = stringify({ rules }, { lineWidth: 0 });
      if (typeof values.output === 'string') {
        writeFileSync(values.output, text);
        io.err(`wrote ${rules.length} rule(s) to ${values.output}`);
      } else {
        io.out(text.trimEnd());
      }
      return EXIT.ok;
    },
  },

  'rules test': {
    summary: 'Evaluate a rule file against a PagerDuty payload, offline (exit 0 match, 1 no match)',
    usage: 'selfheal rules test -f rule.yaml --payload event.json [--alerts alerts.json] [--environment env.json] [--name rule] [--json]',
    options: {
      file: { type: 'string', short: 'f' },
      payload: { type: 'string', short: 'p' },
      alerts: { type: 'string' },
      environment: { type: 'string' },
      name: { type: 'string' },
    },
    async run({ io, values, global }) {
      const rules = readRuleFile(requireFile(values, this.usage));
      if (typeof values.payload !== 'string') throw new CliError(EXIT.usage, `--payload <file> is required\nusage: ${this.usage}`);
      const rule = typeof values.name === 'string' ? rules.find((r) => r.name === values.name) : rules[0];
      if (!rule) throw new CliError(EXIT.usage, typeof values.name === 'string' ? `no rule named "${values.name}" in the file` : 'the file holds no rule');
      const payload = readJsonFile(values.payload, 'payload');
      let alerts: unknown[] | undefined;
      if (typeof values.alerts === 'string') {
        const a = readJsonFile(values.alerts, 'alerts');
        alerts = Array.isArray(a) ? a : a && typeof a === 'object' && Array.isArray((a as { alerts?: unknown }).alerts) ? (a as { alerts: unknown[] }).alerts : undefined;
        if (!alerts) throw new CliError(EXIT.usage, `${values.alerts}: expected an array of alerts or {"alerts": [...]}`);
      }
      const environment = typeof values.environment === 'string' ? (readJsonFile(values.environment, 'environment') as Record<string, unknown>) : undefined;
      let result;
      try {
        result = testRuleWithPayload({ ...rule, id: 'local', version: 0 } as Rule, { payload, alerts, environment });
      } catch (err) {
        if (err instanceof PayloadError) {
          throw new CliError(EXIT.usage, [`${values.payload}: ${err.message}`, ...err.errors.map((e) => `  ${e.path}: ${e.message}`)].join('\n'));
        }
        throw err;
      }
      if (global.json) {
        io.out(JSON.stringify(result, null, 2));
      } else {
        const a = result.appliesTo;
        io.out(`rule ${rule.name}: ${result.matched ? 'MATCHES' : 'does not match'}`);
        io.out(`${a.service.matches ? '✓' : '✗'} service ${a.service.id ?? '(none)'} ${a.service.matches ? 'is' : 'is not'} in ${JSON.stringify(rule.services)}`);
        io.out(`${a.eventType.matches ? '✓' : '✗'} event type ${a.eventType.type ?? '(none)'} ${a.eventType.matches ? 'is' : 'is not'} in ${JSON.stringify(rule.eventTypes)}`);
        io.out(result.explanationText);
        if (result.dryRun) io.out('(dry-run rule: actions would be recorded, not run)');
        if (result.matched) {
          io.out('actions that would run:');
          for (const action of result.renderedActions) io.out(`  - ${JSON.stringify(action)}`);
        }
      }
      return result.matched ? EXIT.ok : EXIT.negative;
    },
  },
};

// ---- onboarding: PagerDuty webhook subscriptions, webhook ping, environments add/check --------------------------

interface PagerDutyCliSettings {
  baseUrl: string;
  token: string;
  fromEmail: string;
}

const PAGERDUTY_OPTIONS: Options = {
  'pagerduty-api-url': { type: 'string' },
  'pagerduty-token': { type: 'string' },
  'from-email': { type: 'string' },
};

/** PagerDuty REST settings from flags, then PAGERDUTY_API_URL / PAGERDUTY_API_TOKEN / PAGERDUTY_FROM_EMAIL. */
function pagerDutySettings(values: Values, io: Io, needsFrom: boolean): PagerDutyCliSettings {
  const pick = (flag: string, env: string) => (typeof values[flag] === 'string' ? (values[flag] as string) : io.env[env]) || undefined;
  const baseUrl = pick('pagerduty-api-url', 'PAGERDUTY_API_URL') ?? 'https://api.pagerduty.com';
  const token = pick('pagerduty-token', 'PAGERDUTY_API_TOKEN');
  const fromEmail = pick('from-email', 'PAGERDUTY_FROM_EMAIL');
  if (!token) throw new CliError(EXIT.usage, 'a PagerDuty REST API token is required: set PAGERDUTY_API_TOKEN or pass --pagerduty-token');
  if (needsFrom && !fromEmail) throw new CliError(EXIT.usage, 'PagerDuty needs the email of a user on the account for writes: set PAGERDUTY_FROM_EMAIL or pass --from-email');
  try {
    new URL(baseUrl);
  } catch {
    throw new CliError(EXIT.usage, `PagerDuty API URL "${baseUrl}" is not a URL`);
  }
  return { baseUrl, token, fromEmail: fromEmail ?? '' };
}

async function pagerDutyCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof PagerDutyApiError) {
      const code = err.status === undefined || err.status >= 500 || err.status === 429 || err.status === 401 || err.status === 403 ? EXIT.server : EXIT.usage;
      throw new CliError(code, `${what}: ${err.message}`);
    }
    throw err;
  }
}

const stringList = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : []);

function describeFilter(filter: Record<string, unknown> | undefined): string {
  if (!filter) return '(none)';
  const type = String(filter.type ?? '').replace(/_reference$/, '');
  return filter.id ? `${type}:${String(filter.id)}` : type;
}

/** A fresh PagerDuty-like event id (26 upper-case letters and digits, like the V3 samples). */
function syntheticEventId(): string {
  const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';
  return Array.from(randomBytes(26), (b) => alphabet[b % alphabet.length]).join('');
}

function syntheticIncidentEvent(incidentId: string, serviceId: string): unknown {
  return {
    event: {
      id: syntheticEventId(),
      event_type: 'incident.triggered',
      resource_type: 'incident',
      occurred_at: new Date().toISOString(),
      agent: null,
      client: { name: 'selfheal pagerduty ping' },
      data: {
        id: incidentId,
        type: 'incident',
        self: `https://api.pagerduty.com/incidents/${incidentId}`,
        html_url: `https://example.pagerduty.com/incidents/${incidentId}`,
        number: 0,
        status: 'triggered',
        title: 'Self-healing synthetic test incident (selfheal pagerduty ping --incident)',
        service: { id: serviceId, type: 'service_reference', summary: 'selfheal ping', self: `https://api.pagerduty.com/services/${serviceId}`, html_url: `https://example.pagerduty.com/services/${serviceId}` },
        assignees: [],
        escalation_policy: null,
        teams: [],
        priority: null,
        urgency: 'low',
        conference_bridge: null,
        resolve_reason: null,
      },
    },
  };
}

interface PingOutcome {
  eventType: string;
  status: number;
  signed: boolean;
  signatureAccepted: boolean;
  body: unknown;
}

async function sendSignedEvent(url: string, payload: unknown, secrets: string[]): Promise<PingOutcome> {
  const raw = JSON.stringify(payload);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json',
    'user-agent': 'PagerDuty-Webhook/V3.0 (selfheal pagerduty ping)',
    'x-webhook-id': randomUUID(),
  };
  // Like PagerDuty during a rotation: one v1 signature per active secret.
  if (secrets.length > 0) headers['x-pagerduty-signature'] = secrets.map((s) => signBody(raw, s)).join(',');
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers, body: raw, signal: AbortSignal.timeout(15_000) });
  } catch (err) {
    const cause = (err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message;
    throw new CliError(EXIT.server, `cannot reach ${url}: ${cause}`);
  }
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // keep the text
  }
  const eventType = (payload as { event: { event_type: string } }).event.event_type;
  return { eventType, status: res.status, signed: secrets.length > 0, signatureAccepted: res.status !== 401, body };
}

function webhookUrlOf(values: Values, io: Io): string {
  const explicit = typeof values.url === 'string' ? values.url : undefined;
  const url = explicit ?? `${(io.env.SELFHEAL_URL ?? 'http://localhost:8080').replace(/\/+$/, '')}/webhooks/pagerduty`;
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http');
  } catch {
    throw new CliError(EXIT.usage, `webhook URL "${url}" is not an http(s) URL`);
  }
  return url;
}

interface EnvironmentCheckAnswer {
  environment: string;
  taskQueue: string;
  healthy: boolean;
  agent: { online: boolean; pollers: { identity: string; lastAccessTime: string | null }[] };
  check: { script: string; reached: boolean; exitCode: number | null; output: string; error?: string; durationMs?: number } | null;
}

const onboardingCommands: Record<string, Command> = {
  'pagerduty subscribe': {
    summary: 'Create PagerDuty V3 webhook subscription(s) for incident events; prints the signing secret once',
    usage:
      'selfheal pagerduty subscribe --url <public webhook url> (--service <id>... | --account) [--new] [--description <text>] [--pagerduty-token <t>] [--from-email <email>] [--pagerduty-api-url <url>] [--json]',
    options: { ...PAGERDUTY_OPTIONS, service: { type: 'string', multiple: true }, account: { type: 'boolean', default: false }, description: { type: 'string' }, new: { type: 'boolean', default: false } },
    async run({ io, values, global }) {
      const services = stringList(values.service);
      const account = values.account === true;
      if (typeof values.url !== 'string') {
        throw new CliError(EXIT.usage, `--url <public webhook url> is required (where PagerDuty will POST, ending in /webhooks/pagerduty)\nusage: ${this.usage}`);
      }
      const url = webhookUrlOf(values, io);
      if (services.length === 0 && !account) throw new CliError(EXIT.usage, `choose --service <id> (one subscription per service) or --account\nusage: ${this.usage}`);
      if (services.length > 0 && account) throw new CliError(EXIT.usage, '--service and --account exclude each other');
      for (const s of services) if (!/^[A-Za-z0-9]{1,32}$/.test(s)) throw new CliError(EXIT.usage, `--service "${s}" is not a PagerDuty service id (like PA2P440)`);
      if (new URL(url).protocol !== 'https:') io.err(`warning: ${url} is not https; PagerDuty delivers webhooks to public https URLs only`);
      const client = createPagerDutyClient(pagerDutySettings(values, io, true));
      const description = typeof values.description === 'string' ? values.description : 'Self-healing: incident events (selfheal pagerduty subscribe)';

      const targets: ({ type: 'service'; id: string } | { type: 'account' })[] = account ? [{ type: 'account' }] : [...new Set(services)].map((id) => ({ type: 'service' as const, id }));
      const results: { filter: string; id: string; created: boolean; secret?: string }[] = [];
      for (const target of targets) {
        const existing = await pagerDutyCall('listing webhook subscriptions', () => client.listWebhookSubscriptions(target));
        // Re-running is harmless; --new creates another subscription anyway (a new secret, for rotation).
        const same = values.new === true ? undefined : existing.find((s) => s.delivery_method?.url === url);
        const label = target.type === 'account' ? 'account' : `service:${target.id}`;
        if (same) {
          results.push({ filter: label, id: same.id, created: false });
          continue;
        }
        const created = await pagerDutyCall('creating the webhook subscription', () =>
          client.createWebhookSubscription({
            url,
            events: [...EVENT_TYPES],
            filter: target.type === 'account' ? { type: 'account_reference' } : { type: 'service_reference', id: target.id },
            description,
          }),
        );
        results.push({ filter: label, id: created.id, created: true, ...(created.delivery_method?.secret ? { secret: created.delivery_method.secret } : {}) });
      }

      if (global.json) {
        io.out(JSON.stringify({ url, events: EVENT_TYPES, subscriptions: results }, null, 2));
        return EXIT.ok;
      }
      for (const r of results) {
        io.out(r.created ? `created webhook subscription ${r.id} (${r.filter}) → ${url}` : `already subscribed: ${r.id} (${r.filter}) → ${url}; its secret was shown when it was created`);
      }
      const secrets = results.filter((r) => r.secret).map((r) => r.secret!);
      if (secrets.length > 0) {
        io.out('');
        io.out(`Signing secret${secrets.length > 1 ? 's' : ''} (shown ONCE; PagerDuty will not show ${secrets.length > 1 ? 'them' : 'it'} again):`);
        for (const r of results) if (r.secret) io.out(`  ${r.id}  ${r.secret}`);
        io.out('');
        io.out('Add to PAGERDUTY_WEBHOOK_SECRETS of every API process (comma-separated), keeping the secrets already there:');
        io.out(`  PAGERDUTY_WEBHOOK_SECRETS="\${PAGERDUTY_WEBHOOK_SECRETS:+$PAGERDUTY_WEBHOOK_SECRETS,}${secrets.join(',')}"`);
        io.out('then restart the API. Rotating: add the new secret, keep the old one until PagerDuty signs with the new one only, then remove the old.');
        io.out(`Check it: selfheal pagerduty ping --url ${url} --secret <secret>`);
      }
      return EXIT.ok;
    },
  },

  'pagerduty list': {
    summary: 'List PagerDuty V3 webhook subscriptions',
    usage: 'selfheal pagerduty list [--service <id> | --account] [--pagerduty-token <t>] [--pagerduty-api-url <url>] [--json]',
    options: { ...PAGERDUTY_OPTIONS, service: { type: 'string' }, account: { type: 'boolean', default: false } },
    async run({ io, values, global }) {
      const client = createPagerDutyClient(pagerDutySettings(values, io, false));
      const filter = typeof values.service === 'string' ? { type: 'service' as const, id: values.service } : values.account === true ? { type: 'account' as const } : undefined;
      const subs = await pagerDutyCall('listing webhook subscriptions', () => client.listWebhookSubscriptions(filter));
      if (global.json) {
        io.out(JSON.stringify(subs, null, 2));
        return EXIT.ok;
      }
      io.out(['ID', 'ACTIVE', 'FILTER', 'EVENTS', 'URL', 'DESCRIPTION'].join('\t'));
      for (const s of subs) {
        io.out([s.id, s.active ?? '', describeFilter(s.filter), s.events?.length ?? 0, s.delivery_method?.url ?? '', typeof s.description === 'string' ? s.description : ''].join('\t'));
      }
      return EXIT.ok;
    },
  },

  'pagerduty delete': {
    summary: 'Delete a PagerDuty webhook subscription (exit 1 when it does not exist)',
    usage: 'selfheal pagerduty delete <subscription id> [--pagerduty-token <t>] [--from-email <email>] [--pagerduty-api-url <url>]',
    options: { ...PAGERDUTY_OPTIONS },
    async run({ io, values, args }) {
      const id = args[0];
      if (!id) throw new CliError(EXIT.usage, `usage: ${this.usage}`);
      const client = createPagerDutyClient(pagerDutySettings(values, io, true));
      try {
        await client.deleteWebhookSubscription(id);
      } catch (err) {
        if (err instanceof PagerDutyApiError && err.status === 404) {
          io.err(`no webhook subscription ${id}`);
          return EXIT.negative;
        }
        return pagerDutyCall('deleting the webhook subscription', () => Promise.reject(err));
      }
      io.out(`deleted webhook subscription ${id}; remove its secret from PAGERDUTY_WEBHOOK_SECRETS when no other subscription uses it`);
      return EXIT.ok;
    },
  },

  'pagerduty ping': {
    summary: 'Send a signed pagey.ping (and with --incident a synthetic incident) to the webhook; exit 1 if rejected',
    usage: 'selfheal pagerduty ping [--url <webhook url>] [--secret <s>[,<s2>]] [--incident [--incident-id <id>] [--service <id>]] [--json]',
    options: { secret: { type: 'string' }, incident: { type: 'boolean', default: false }, 'incident-id': { type: 'string' }, service: { type: 'string' } },
    async run({ io, values, global }) {
      const url = webhookUrlOf(values, io);
      const secretText = typeof values.secret === 'string' ? values.secret : (io.env.PAGERDUTY_WEBHOOK_SECRETS ?? '');
      const secrets = secretText.split(',').map((s) => s.trim()).filter(Boolean);
      const payloads: unknown[] = [
        {
          event: {
            id: syntheticEventId(),
            event_type: 'pagey.ping',
            resource_type: 'pagey',
            occurred_at: new Date().toISOString(),
            agent: null,
            client: null,
            data: { message: 'Hello from your friend Pagey! (selfheal pagerduty ping)', type: 'ping' },
          },
        },
      ];
      if (values.incident === true) {
        const incidentId = typeof values['incident-id'] === 'string' ? values['incident-id'] : `PSH${randomBytes(4).toString('hex').toUpperCase()}`;
        if (!/^[A-Za-z0-9]{1,32}$/.test(incidentId)) throw new CliError(EXIT.usage, `--incident-id "${incidentId}" is not a PagerDuty-like id`);
        payloads.push(syntheticIncidentEvent(incidentId, typeof values.service === 'string' ? values.service : 'PSELFHEALPING'));
      }
      const outcomes: PingOutcome[] = [];
      for (const p of payloads) outcomes.push(await sendSignedEvent(url, p, secrets));
      if (global.json) {
        io.out(JSON.stringify({ url, outcomes }, null, 2));
      } else {
        if (!secrets.length) io.err('warning: no secret given (--secret or PAGERDUTY_WEBHOOK_SECRETS): sending unsigned');
        for (const o of outcomes) {
          const verdict =
            o.status === 401
              ? 'signature REJECTED (401): the secret matches none of the server\'s PAGERDUTY_WEBHOOK_SECRETS'
              : o.status >= 200 && o.status < 300
                ? o.signed
                  ? 'signature accepted'
                  : 'accepted UNSIGNED: the server does not check signatures (PAGERDUTY_WEBHOOK_SECRETS unset, development only)'
                : `not accepted: ${describeProblem(o.status, o.body)}`;
          const detail = o.body && typeof o.body === 'object' ? ` ${JSON.stringify(o.body)}` : '';
          io.out(`${o.eventType}: POST ${url} → ${o.status}; ${verdict}${o.status < 300 ? detail : ''}`);
        }
      }
      if (outcomes.some((o) => o.status >= 500)) return EXIT.server;
      return outcomes.every((o) => o.status >= 200 && o.status < 300) ? EXIT.ok : EXIT.negative;
    },
  },

  'environments add': {
    summary: 'Register a cloud environment (its Doctor agent queue and optional management VM)',
    usage:
      'selfheal environments add <name> [--description <text>] [--label k=v]... [--agent-task-queue <q>] [--ssh-host <h> --ssh-user <u> --ssh-key-ref env:VAR --ssh-fingerprint SHA256:... [--ssh-port 22] [--ssh-scripts-dir /path]] [--json]',
    options: {
      description: { type: 'string' },
      label: { type: 'string', multiple: true },
      'agent-task-queue': { type: 'string' },
      'ssh-host': { type: 'string' },
      'ssh-user': { type: 'string' },
      'ssh-key-ref': { type: 'string' },
      'ssh-fingerprint': { type: 'string' },
      'ssh-port': { type: 'string' },
      'ssh-scripts-dir': { type: 'string' },
    },
    async run({ api, io, values, args, global }) {
      const name = args[0];
      if (!name) throw new CliError(EXIT.usage, `usage: ${this.usage}`);
      const labels: Record<string, string> = {};
      for (const l of stringList(values.label)) {
        const eq = l.indexOf('=');
        if (eq <= 0) throw new CliError(EXIT.usage, `--label "${l}" must be key=value`);
        labels[l.slice(0, eq)] = l.slice(eq + 1);
      }
      const body: Record<string, unknown> = { name, labels };
      if (typeof values.description === 'string') body.description = values.description;
      if (typeof values['agent-task-queue'] === 'string') body.agentTaskQueue = values['agent-task-queue'];
      const sshFlags = ['ssh-host', 'ssh-user', 'ssh-key-ref', 'ssh-fingerprint'] as const;
      const given = sshFlags.filter((f) => typeof values[f] === 'string');
      if (given.length > 0 || typeof values['ssh-port'] === 'string' || typeof values['ssh-scripts-dir'] === 'string') {
        const missing = sshFlags.filter((f) => typeof values[f] !== 'string');
        if (missing.length > 0) throw new CliError(EXIT.usage, `a management VM needs ${missing.map((f) => `--${f}`).join(', ')} as well`);
        const ssh: Record<string, unknown> = { host: values['ssh-host'], user: values['ssh-user'], keyRef: values['ssh-key-ref'], hostKeyFingerprint: values['ssh-fingerprint'] };
        if (typeof values['ssh-port'] === 'string') {
          const port = Number(values['ssh-port']);
          if (!Number.isInteger(port)) throw new CliError(EXIT.usage, `--ssh-port "${values['ssh-port']}" is not a port number`);
          ssh.port = port;
        }
        if (typeof values['ssh-scripts-dir'] === 'string') ssh.scriptsDir = values['ssh-scripts-dir'];
        body.ssh = ssh;
      }
      const res = await api.request<{ name: string; agentTaskQueue: string; ssh: { host: string } | null }>('POST', '/api/environments', { body });
      if (global.json) {
        io.out(JSON.stringify(res.body, null, 2));
        return EXIT.ok;
      }
      io.out(`registered environment ${res.body.name}: agent task queue ${res.body.agentTaskQueue}${res.body.ssh ? `, management VM ${res.body.ssh.host}` : ''}`);
      io.out(`next: run a Doctor agent there with SELFHEAL_ENVIRONMENT=${res.body.name}, then: selfheal environments check ${res.body.name}`);
      return EXIT.ok;
    },
  },

  'environments check': {
    summary: "Is the environment's Doctor agent polling? Runs health-check.sh through it (exit 0 healthy, 1 not)",
    usage: 'selfheal environments check <name> [--json]',
    async run({ api, io, args, global }) {
      const name = args[0];
      if (!name) throw new CliError(EXIT.usage, `usage: ${this.usage}`);
      const res = await api.request<EnvironmentCheckAnswer>('POST', `/api/environments/${encodeURIComponent(name)}/check`, { allow404: true });
      if (res.status === 404) {
        io.err(`environment ${name} is not known (register it: selfheal environments add ${name})`);
        return EXIT.negative;
      }
      const a = res.body;
      if (global.json) {
        io.out(JSON.stringify(a, null, 2));
        return a.healthy ? EXIT.ok : EXIT.negative;
      }
      if (!a.agent.online) {
        io.out(`✗ agent OFFLINE: nothing is polling ${a.taskQueue}`);
        io.out(`  start one with SELFHEAL_ENVIRONMENT=${a.environment} (see docs/runbooks/deploy-doctor-agent.md)`);
      } else {
        io.out(`✓ agent online on ${a.taskQueue}: ${a.agent.pollers.map((p) => `${p.identity} (last poll ${p.lastAccessTime ?? 'unknown'})`).join(', ')}`);
      }
      if (a.check) {
        const c = a.check;
        if (!c.reached) io.out(`✗ ${c.script} not picked up: ${c.error ?? 'no agent took the task'}`);
        else io.out(`${c.exitCode === 0 && !c.error ? '✓' : '✗'} ${c.script} exit ${c.exitCode ?? '-'}${c.durationMs !== undefined ? ` in ${c.durationMs} ms` : ''}${c.error ? `: ${c.error}` : ''}`);
        for (const line of c.output.trimEnd().split('\n')) if (line) io.out(`    ${line}`);
      }
      io.out(a.healthy ? `environment ${a.environment} is HEALTHY` : `environment ${a.environment} is NOT healthy`);
      return a.healthy ? EXIT.ok : EXIT.negative;
    },
  },
};
Object.assign(commands, onboardingCommands);

// ---- operations: incidents, jobs, environments ------------------------------------------------------------

interface IncidentSummary {
  id: string;
  number: number | null;
  title: string | null;
  status: string;
  urgency: string | null;
  service: { id: string | null; name: string | null };
  environment: Record<string, unknown>;
  createdAt: string;
  temporalUrl: string;
}

interface IncidentDetail extends IncidentSummary {
  description: string | null;
  events: { eventId: string; type: string; occurredAt: string | null; receivedAt: string }[];
  matches: { ruleId: string; ruleName: string; ruleVersion: number; decision: string; skipReason: string | null; target: string | null; explanation: unknown; matchedAt: string }[];
  actionRuns: { id: string; actionId: string; type: string; status: string; attempts: number; target: string | null; exitCode: number | null; outputExcerpt: string | null; link: string | null; error: string | null; finishedAt: string | null }[];
}

interface JobView {
  id: string;
  name: string;
  schedule: { interval?: string; cron?: string | string[]; timezone?: string };
  script: string;
  via: string;
  enabled: boolean;
  paused?: boolean;
  nextRunTimes?: string[];
}

interface JobRunView {
  id: string;
  trigger: string;
  status: string;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  temporalUrl: string;
  targets: { environment: string; via: string; status: string; exitCode: number | null; outputExcerpt: string | null; error: string | null }[];
}

/** Job run statuses that are final; `running` is the only other one. */
const FINAL_RUN = new Set(['succeeded', 'failed', 'partial', 'skipped', 'cancelled']);

const table = (io: Io, header: string[], rows: unknown[][]) => {
  io.out(header.join('\t'));
  for (const r of rows) io.out(r.map((v) => (v === null || v === undefined ? '' : String(v))).join('\t'));
};

function positiveInt(values: Values, name: string, fallback: number, max: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new CliError(EXIT.usage, `--${name} must be a whole number from 1 to ${max} (got "${String(raw)}")`);
  return n;
}

function requireArg(args: string[], usage: string): string {
  const v = args[0];
  if (!v) throw new CliError(EXIT.usage, `usage: ${usage}`);
  return v;
}

const scheduleText = (s: JobView['schedule']) =>
  s.interval ? (/^every/.test(s.interval) ? s.interval : `every ${s.interval}`) : s.cron ? `cron ${[s.cron].flat().join('; ')}${s.timezone ? ` (${s.timezone})` : ''}` : JSON.stringify(s);

/** Runs `fn` over `items`, `limit` at a time, keeping order. */
async function mapBounded<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

async function jobRuns(api: ApiClient, id: string, limit: number): Promise<JobRunView[] | undefined> {
  const res = await api.request<{ items: JobRunView[] }>('GET', `/api/jobs/${encodeURIComponent(id)}/runs?limit=${limit}`, { allow404: true });
  return res.status === 404 ? undefined : res.body.items;
}

function notFound(io: Io, what: string): number {
  io.err(`${what} is not known`);
  return EXIT.negative;
}

const opsCommands: Record<string, Command> = {
  'incidents list': {
    summary: 'List incidents (newest first)',
    usage: 'selfheal incidents list [--status triggered|acknowledged|resolved] [--service <id>] [--environment <name>] [--limit n] [--json]',
    options: { status: { type: 'string' }, service: { type: 'string' }, environment: { type: 'string' }, limit: { type: 'string' } },
    async run({ api, io, values, global }) {
      const q = new URLSearchParams({ limit: String(positiveInt(values, 'limit', 50, 200)) });
      for (const k of ['status', 'service', 'environment'] as const) if (typeof values[k] === 'string') q.set(k, values[k]);
      const { items } = (await api.request<{ items: IncidentSummary[] }>('GET', `/api/incidents?${q}`)).body;
      if (global.json) {
        io.out(JSON.stringify(items, null, 2));
        return EXIT.ok;
      }
      table(
        io,
        ['ID', 'STATUS', 'URGENCY', 'SERVICE', 'ENVIRONMENT', 'CREATED', 'TITLE'],
        items.map((i) => [i.id, i.status, i.urgency, i.service.name ?? i.service.id, i.environment.environment ?? i.environment.host, i.createdAt, i.title]),
      );
      return EXIT.ok;
    },
  },

  'incidents show': {
    summary: 'Show an incident: events, environment, rule matches, action runs (exit 1 when not known)',
    usage: 'selfheal incidents show <id> [--json]',
    async run({ api, io, args, global }) {
      const id = requireArg(args, this.usage);
      const res = await api.request<IncidentDetail>('GET', `/api/incidents/${encodeURIComponent(id)}`, { allow404: true });
      if (res.status === 404) return notFound(io, `incident ${id}`);
      const i = res.body;
      if (global.json) {
        io.out(JSON.stringify(i, null, 2));
        return EXIT.ok;
      }
      io.out(`${i.id}  #${i.number ?? '?'}  ${i.title ?? ''}`);
      io.out(`status ${i.status}, urgency ${i.urgency ?? '-'}, service ${i.service.name ?? i.service.id ?? '-'}, created ${i.createdAt}`);
      io.out(`Temporal: ${i.temporalUrl}`);
      const env = Object.entries(i.environment);
      io.out(env.length ? `environment: ${env.map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(' ')}` : 'environment: (nothing extracted)');
      io.out('events:');
      for (const e of i.events) io.out(`  ${e.occurredAt ?? e.receivedAt}  ${e.type}  ${e.eventId}`);
      io.out('rule matches:');
      if (i.matches.length === 0) io.out('  (none)');
      for (const m of i.matches) {
        const text = (m.explanation as { text?: string } | null)?.text;
        io.out(`  ${m.ruleName} v${m.ruleVersion}: ${m.decision}${m.skipReason ? ` (${m.skipReason})` : ''}${m.target ? ` target ${m.target}` : ''}${text ? ` — ${text}` : ''}`);
      }
      io.out('actions:');
      if (i.actionRuns.length === 0) io.out('  (none)');
      for (const r of i.actionRuns) {
        io.out(`  ${r.actionId} (${r.type}): ${r.status}${r.exitCode !== null ? ` exit ${r.exitCode}` : ''}${r.attempts > 1 ? `, ${r.attempts} attempts` : ''}${r.link ? `  ${r.link}` : ''}`);
        if (r.error) io.out(`    error: ${r.error}`);
        if (r.outputExcerpt) for (const line of r.outputExcerpt.trimEnd().split('\n').slice(-5)) io.out(`    | ${line}`);
        if (r.status === 'awaiting_approval') io.out(`    waiting for approval: POST /api/incidents/${i.id}/approvals/${r.id} {"decision":"approve"|"reject"}`);
      }
      return EXIT.ok;
    },
  },

  'jobs list': {
    summary: 'List scheduled jobs with their next run',
    usage: 'selfheal jobs list [--json]',
    async run({ api, io, global }) {
      const { items } = (await api.request<{ items: JobView[] }>('GET', '/api/jobs')).body;
      // The detail adds the schedule's state from Temporal (its `schedule` is Temporal's description, not the definition).
      const jobs = await mapBounded(items, 8, async (j) => {
        const res = await api.request<JobView>('GET', `/api/jobs/${encodeURIComponent(j.id)}`, { allow404: true });
        return res.status === 404 ? j : { ...j, paused: res.body.paused, nextRunTimes: res.body.nextRunTimes };
      });
      if (global.json) {
        io.out(JSON.stringify(jobs, null, 2));
        return EXIT.ok;
      }
      table(
        io,
        ['ID', 'NAME', 'SCHEDULE', 'STATE', 'NEXT RUN', 'SCRIPT'],
        jobs.map((j) => [j.id, j.name, scheduleText(j.schedule), (j.paused ?? !j.enabled) ? 'paused' : 'active', j.nextRunTimes?.[0] ?? '', `${j.script} via ${j.via}`]),
      );
      return EXIT.ok;
    },
  },

  'jobs trigger': {
    summary: 'Run a job now; with --wait, follow the run to its end (exit 0 succeeded, 1 failed/partial, 3 no end within --timeout)',
    usage: 'selfheal jobs trigger <id> [--wait] [--timeout seconds] [--json]',
    options: { wait: { type: 'boolean', default: false }, timeout: { type: 'string' } },
    async run({ api, io, args, values, global }) {
      const id = requireArg(args, this.usage);
      const before = await jobRuns(api, id, 20);
      if (!before) return notFound(io, `job ${id}`);
      const known = new Set(before.map((r) => r.id));
      await api.request('POST', `/api/jobs/${encodeURIComponent(id)}/trigger`);
      if (values.wait !== true) {
        if (global.json) io.out(JSON.stringify({ jobId: id, triggered: true }, null, 2));
        else io.out(`triggered ${id}`);
        return EXIT.ok;
      }
      const timeoutMs = positiveInt(values, 'timeout', 600, 86_400) * 1000;
      const deadline = Date.now() + timeoutMs;
      const started = Date.now();
      let run: JobRunView | undefined;
      let last = '';
      for (;;) {
        run = (await jobRuns(api, id, 20))?.find((r) => !known.has(r.id));
        const progress = run ? `${run.status}, ${run.targets.length} target result(s)` : 'waiting for the run to start';
        if (progress !== last) {
          io.err(`[${((Date.now() - started) / 1000).toFixed(0)}s] ${id}: ${progress}`);
          last = progress;
        }
        if (run && FINAL_RUN.has(run.status)) break;
        if (Date.now() > deadline) {
          io.err(`${id}: the run did not finish within ${timeoutMs / 1000} s${run ? ` (see ${run.temporalUrl})` : ''}`);
          if (global.json) io.out(JSON.stringify({ jobId: id, finished: false, run: run ?? null }, null, 2));
          return EXIT.server;
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
      if (global.json) {
        io.out(JSON.stringify({ jobId: id, finished: true, run }, null, 2));
      } else {
        io.out(`${id}: ${run.status}${run.durationMs !== null ? ` in ${(run.durationMs / 1000).toFixed(1)} s` : ''}  ${run.temporalUrl}`);
        for (const t of run.targets) io.out(`  ${t.environment} (${t.via}): ${t.status}${t.exitCode !== null ? ` exit ${t.exitCode}` : ''}${t.error ? ` — ${t.error}` : ''}`);
      }
      return run.status === 'succeeded' || run.status === 'skipped' ? EXIT.ok : EXIT.negative;
    },
  },

  'jobs pause': {
    summary: 'Pause a job schedule (exit 1 when the job is not known)',
    usage: 'selfheal jobs pause <id> [--json]',
    run: (ctx) => setJobState(ctx, 'pause'),
  },

  'jobs resume': {
    summary: 'Resume a paused job schedule (exit 1 when the job is not known)',
    usage: 'selfheal jobs resume <id> [--json]',
    run: (ctx) => setJobState(ctx, 'resume'),
  },

  'jobs runs': {
    summary: 'Run history of a job with per-target results',
    usage: 'selfheal jobs runs <id> [--limit n] [--json]',
    options: { limit: { type: 'string' } },
    async run({ api, io, args, values, global }) {
      const id = requireArg(args, this.usage);
      const runs = await jobRuns(api, id, positiveInt(values, 'limit', 20, 200));
      if (!runs) return notFound(io, `job ${id}`);
      if (global.json) {
        io.out(JSON.stringify(runs, null, 2));
        return EXIT.ok;
      }
      io.out(['STARTED', 'TRIGGER', 'STATUS', 'DURATION', 'TARGETS OK', 'TEMPORAL'].join('\t'));
      for (const r of runs) {
        const ok = r.targets.filter((t) => t.status === 'succeeded').length;
        io.out([r.startedAt, r.trigger, r.status, r.durationMs === null ? '' : `${(r.durationMs / 1000).toFixed(1)}s`, `${ok}/${r.targets.length}`, r.temporalUrl].join('\t'));
        for (const t of r.targets) io.out(`  ${t.environment} (${t.via}): ${t.status}${t.exitCode !== null ? ` exit ${t.exitCode}` : ''}${t.error ? ` — ${t.error}` : ''}`);
      }
      return EXIT.ok;
    },
  },

  'environments list': {
    summary: 'List environments with their Doctor agent online/offline',
    usage: 'selfheal environments list [--json]',
    async run({ api, io, global }) {
      const { items } = (await api.request<{ items: { name: string }[] }>('GET', '/api/environments')).body;
      const envs = await mapBounded(items, 8, async (e) => {
        const res = await api.request<Record<string, unknown>>('GET', `/api/environments/${encodeURIComponent(e.name)}`, { allow404: true });
        return res.status === 404 ? (e as Record<string, unknown>) : res.body;
      });
      if (global.json) {
        io.out(JSON.stringify(envs, null, 2));
        return EXIT.ok;
      }
      table(
        io,
        ['NAME', 'AGENT', 'TASK QUEUE', 'SSH', 'LABELS'],
        envs.map((e) => {
          const agent = e.agent as { online?: boolean; error?: string } | undefined;
          const ssh = e.ssh as { user: string; host: string; port: number } | null | undefined;
          const labels = Object.entries((e.labels ?? {}) as Record<string, string>).map(([k, v]) => `${k}=${v}`);
          return [e.name, agent?.error ? 'unknown' : agent?.online ? 'online' : 'offline', e.agentTaskQueue, ssh ? `${ssh.user}@${ssh.host}:${ssh.port}` : '', labels.join(',')];
        }),
      );
      return EXIT.ok;
    },
  },
};

async function setJobState({ api, io, args, global }: CommandContext, what: 'pause' | 'resume'): Promise<number> {
  const id = requireArg(args, `selfheal jobs ${what} <id>`);
  const res = await api.request<JobView>('POST', `/api/jobs/${encodeURIComponent(id)}/${what}`, { allow404: true });
  if (res.status === 404) return notFound(io, `job ${id}`);
  if (global.json) io.out(JSON.stringify(res.body, null, 2));
  else io.out(`${id}: ${what === 'pause' ? 'paused' : 'resumed'}`);
  return EXIT.ok;
}

Object.assign(commands, opsCommands);

// ---- entry point ---------------------------------------------------------------------------------------------------

function helpText(): string {
  const lines = ['usage: selfheal <group> <command> [options]', '', 'commands:'];
  for (const [name, c] of Object.entries(commands)) lines.push(`  ${name.padEnd(16)} ${c.summary}`);
  lines.push('', 'global options:', '  --url <url>      API base URL (env SELFHEAL_URL, default http://localhost:8080)', '  --token <token>  bearer token (env SELFHEAL_TOKEN)', '  --json           machine-readable output');
  lines.push('', 'exit codes: 0 ok, 1 negative answer (no match / differences / not found), 2 usage or validation error, 3 server or network error');
  return lines.join('\n');
}

const defaultIo: Io = { out: (t) => process.stdout.write(`${t}\n`), err: (t) => process.stderr.write(`${t}\n`), env: process.env };

export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  try {
    const loose = parseArgs({ args: argv, options: GLOBAL_OPTIONS, strict: false, allowPositionals: true });
    const [group, sub] = loose.positionals;
    const key = `${group ?? ''} ${sub ?? ''}`;
    const command = commands[key];
    if (!command) {
      if (loose.values.help || !group) {
        io.out(helpText());
        return loose.values.help ? EXIT.ok : EXIT.usage;
      }
      io.err(`unknown command "${key.trim()}"\n\n${helpText()}`);
      return EXIT.usage;
    }
    let parsed;
    try {
      parsed = parseArgs({ args: argv, options: { ...GLOBAL_OPTIONS, ...command.options }, strict: true, allowPositionals: true });
    } catch (err) {
      throw new CliError(EXIT.usage, `${(err as Error).message}\nusage: ${command.usage}`);
    }
    if (parsed.values.help) {
      io.out(`${command.summary}\nusage: ${command.usage}`);
      return EXIT.ok;
    }
    const global: GlobalOptions = {
      url: (parsed.values.url as string | undefined) ?? io.env.SELFHEAL_URL ?? 'http://localhost:8080',
      token: (parsed.values.token as string | undefined) ?? io.env.SELFHEAL_TOKEN,
      json: parsed.values.json === true,
    };
    try {
      new URL(global.url);
    } catch {
      throw new CliError(EXIT.usage, `--url "${global.url}" is not a URL`);
    }
    return await command.run.call(command, { global, values: parsed.values, args: parsed.positionals.slice(2), io, api: createApiClient(global) });
  } catch (err) {
    if (err instanceof CliError) {
      io.err(err.message);
      return err.exitCode;
    }
    io.err(`unexpected error: ${(err as Error).stack ?? String(err)}`);
    return EXIT.server;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
