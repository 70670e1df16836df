/**
 * `selfheal` — the SRE command line.
 *
 * Commands live in one table keyed by "group subcommand"; a new group adds entries to {@link commands}.
 * Global options: --url (SELFHEAL_URL, default http://localhost:8080), --token (SELFHEAL_TOKEN), --json.
 * Exit codes: 0 ok, 1 a negative answer (no match, differences, not found), 2 usage or validation
 * error, 3 server or network error.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseAllDocuments, stringify } from 'yaml';
import { canonicalJson, diffJson, testRuleWithPayload, type JsonChange } from './api/routes/rules.js';
import { ProblemError } from './api/problem.js';
import { parseRuleInput, type Rule, type RuleInput } from './domain/rules/index.js';

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
        if (err instanceof ProblemError) {
          throw new CliError(EXIT.usage, [`${values.payload}: ${err.detail ?? err.title}`, ...(err.extra.errors ?? []).map((e) => `  ${e.path}: ${e.message}`)].join('\n'));
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
