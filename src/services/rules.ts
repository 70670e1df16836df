// Rules: validation against the operator's secret policy, versioning with optimistic concurrency (stale
// checks), soft delete, rollback, the circuit breaker reset and rule tests. Every change is one
// transaction with its audit entry.
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database, Incident, RuleRow } from '../db/database.js';
import { findIncident } from '../db/repositories/incidents.js';
import { writeAudit } from '../db/repositories/audit.js';
import type { Db } from '../db/repositories/db.js';
import { inTransaction } from '../db/repositories/transactions.js';
import { latestIncidentEvent } from '../db/repositories/incident-reads.js';
import { findLiveRuleByName, findRule, findRuleVersion, insertRule, listRulePage, listRuleVersions, resetBreaker, writeRuleVersion, type RuleListFilter } from '../db/repositories/rules.js';
import type { ExtractorsConfig } from '../domain/extract.js';
import { canonicalJson, diffJson } from '../domain/json-diff.js';
import { commandActionPaths, parseRuleInput, ruleCrossFieldIssues, ruleEmailRecipients, ruleGitHubRepos, ruleSecretRefs, ruleWebhookUrls, type Rule, type RuleInput } from '../domain/rules/index.js';
import { PayloadError, testRuleWithIncident, testRuleWithPayload, type RuleTestResult } from '../domain/rules/test-rule.js';
import { recipientRefused, refusals, repoRefused, webhookRefused, type EmailRecipientPolicy, type GitHubRepoPolicy, type HostList } from '../domain/destination-lists.js';
import { secretRefOutsidePolicy, type SecretRefPolicy } from '../domain/secret-refs.js';
import { carriesTemplates, commandDataProblem } from '../domain/shell-words.js';
import { hasScope, type Actor } from './actor.js';
import { decodeCursor, encodeCursor, LIST_PAGE_BYTES } from './list-pages.js';
import { ConflictError, ForbiddenError, isUniqueViolation, NotFoundError, PreconditionRequiredError, ValidationError, type FieldError } from './errors.js';
import { canRead, requireTeam, teamForChange, teamForCreate, visibleTeams } from './team-access.js';

export interface RuleServiceDeps {
  db: Kysely<Database>;
  secrets: SecretRefPolicy;
  /** NOTIFY_EMAIL_ALLOW; undefined → any recipient. */
  emailAllow?: EmailRecipientPolicy | undefined;
  /** NOTIFY_WEBHOOK_ALLOW; undefined → any host. */
  webhookAllow?: HostList | undefined;
  /** GITHUB_REPOS_ALLOW; undefined → any repository. */
  githubReposAllow?: GitHubRepoPolicy | undefined;
  extractors?: ExtractorsConfig | undefined;
}

export interface RuleTestInput {
  payload?: unknown;
  incidentId?: string | undefined;
  alerts?: unknown[] | undefined;
  environment?: Record<string, unknown> | undefined;
  eventType?: string | undefined;
  now?: string | undefined;
}

/** Secret references of a rule that the operator's policy does not allow (SECRET_REF_ENV_PREFIXES, SECRET_REF_DIRS). */
export function secretRefIssues(rule: RuleInput, secrets: SecretRefPolicy): FieldError[] {
  return refusals(ruleSecretRefs(rule), (r) => secretRefOutsidePolicy(r.ref, secrets));
}

/** Where a rule would send what the operator's lists do not allow (NOTIFY_EMAIL_ALLOW, NOTIFY_WEBHOOK_ALLOW, GITHUB_REPOS_ALLOW). */
function destinationIssues(rule: RuleInput, deps: Pick<RuleServiceDeps, 'emailAllow' | 'webhookAllow' | 'githubReposAllow'>): FieldError[] {
  return [
    ...refusals(ruleEmailRecipients(rule), (r) => recipientRefused(r.address, deps.emailAllow)),
    ...refusals(ruleWebhookUrls(rule), (r) => webhookRefused(r.url, deps.webhookAllow)),
    ...refusals(ruleGitHubRepos(rule), (r) => repoRefused(r.repo, deps.githubReposAllow)),
  ];
}

/**
 * A rule sent whole inside another request (a test, a backtest) passed its field schemas there; what only
 * the whole rule shows (parseRuleInput's cross-field check) refuses it as a save would, the paths under `at`.
 */
export function refuseUnsaveable(rule: RuleInput, at: string): void {
  const issues = ruleCrossFieldIssues(rule);
  if (issues.length > 0) throw new ValidationError('the rule is not valid', issues.map((i) => ({ path: `${at}.${i.path}`, message: i.message })));
}

/**
 * Arbitrary shell (`script.ssh` with `command`) is an admin capability: a rule holding one can be
 * created, replaced or rolled back to only by an admin (403 naming each such action otherwise).
 */
function requireAdminForCommands(actor: Actor, rule: RuleInput, verb: string): void {
  const paths = commandActionPaths(rule);
  if (paths.length === 0 || hasScope(actor.scopes, 'admin')) return;
  throw new ForbiddenError(`${verb} a rule with a shell command (script.ssh "command") needs the "admin" scope`, {
    errors: paths.map((path) => ({ path, message: 'arbitrary shell on a management VM: only an admin token may save it; use a script from the allow-listed scripts directory instead' })),
  });
}

/** A rule's guards whose crossing pauses automation beyond the rule: fleet-wide (maxTargets) or an environment (maxTargetPercent). */
/** Definitions one page of a rule's versions holds at most (a definition is up to 1 MiB; one is always sent). */
export const VERSIONS_PAGE_BYTES = 8 * 1024 * 1024;

const PAUSING_GUARDS = ['maxTargets', 'maxTargetPercent', 'window'] as const;

/** Those guards of `rule`; none when neither limit is set (a window alone limits nothing). */
function pausingGuards(rule: RuleInput | undefined): Partial<Record<(typeof PAUSING_GUARDS)[number], unknown>> {
  const g = rule?.guards;
  if (!g || (g.maxTargets === undefined && g.maxTargetPercent === undefined)) return {};
  return { maxTargets: g.maxTargets, maxTargetPercent: g.maxTargetPercent, window: g.window };
}

/**
 * A rule's own `guards.maxTargets` and `guards.maxTargetPercent` pause automation for every team (fleet-wide)
 * or for an environment, which may be another team's: only an admin sets or changes them (or their
 * `window`). A write token saves the rule with them as they are (403 naming each that differs otherwise);
 * `guards.flapping` only ever stops this rule and stays a team editor's.
 */
function requireAdminForPausingGuards(actor: Actor, rule: RuleInput, before: RuleInput | undefined, verb: string): void {
  if (hasScope(actor.scopes, 'admin')) return;
  const now = pausingGuards(rule);
  const was = pausingGuards(before);
  const changed = PAUSING_GUARDS.filter((k) => canonicalJson(now[k]) !== canonicalJson(was[k])).map((k) => `guards.${k}`);
  if (changed.length === 0) return;
  throw new ForbiddenError(`${verb} a rule whose guards pause automation beyond it needs the "admin" scope: ${changed.join(', ')}`, {
    errors: changed.map((path) => ({
      path,
      message: 'crossing it pauses automation fleet-wide or in an environment, for every team: only an admin may set or change it (send it back as GET returns it)',
    })),
  });
}

function staleCheck(row: RuleRow, expected: number | undefined): void {
  if (expected === undefined) {
    throw new PreconditionRequiredError(`send If-Match: "${row.version}" (or "version" in the body) to replace this rule`, { currentVersion: row.version });
  }
  if (expected !== row.version) {
    throw new ConflictError(`the rule is at version ${row.version}, not ${expected}; fetch it again and reapply your change`, { currentVersion: row.version });
  }
}

/**
 * 409 when another live rule holds `name` (names are unique across teams). Its id is named only to an actor
 * who may read it: another team's writer learns the name is taken, not which rule holds it.
 */
async function nameTaken(db: Db, actor: Actor, name: string, exceptId?: string): Promise<void> {
  const other = await findLiveRuleByName(db, name);
  if (!other || other.id === exceptId) return;
  const readable = canRead(actor, other.team);
  throw new ConflictError(`a rule named "${name}" already exists${readable ? '' : ' in a team you cannot read'}`, {
    ...(readable ? { ruleId: other.id } : {}),
    errors: [{ path: 'name', message: 'already used by another rule' }],
  });
}

async function mustFind(db: Db, id: string, opts: { includeDeleted?: boolean; forUpdate?: boolean } = {}): Promise<RuleRow> {
  const row = await findRule(db, id, opts);
  if (!row) throw new NotFoundError(`rule ${id} is not known`);
  return row;
}

/** The rule, when `actor` may read it (another team's answers the 404 of an unknown id). */
async function mustRead(db: Db, actor: Actor, id: string, opts: { includeDeleted?: boolean } = {}): Promise<RuleRow> {
  const row = await mustFind(db, id, opts);
  requireTeam(actor, 'viewer', row.team, `rule ${id}`);
  return row;
}

/** The rule locked for a change `actor` may make (editor of its team, 403 otherwise). */
async function mustChange(db: Db, actor: Actor, id: string): Promise<RuleRow> {
  const row = await mustFind(db, id, { forUpdate: true });
  requireTeam(actor, 'editor', row.team, `rule ${id}`);
  return row;
}

/** Splits the team off a parsed rule (the team is a column, not part of the stored definition). */
const withoutTeam = ({ team, ...definition }: RuleInput): [RuleInput, string | undefined] => [definition as RuleInput, team];

const auditState = (row: RuleRow) => ({ version: row.version, deleted: row.deleted_at !== null, definition: row.definition });
const breakerState = (r: RuleRow) => ({ state: r.breaker_state, consecutiveFailures: r.consecutive_failures, openedAt: r.breaker_opened_at });
const storedRule = (row: RuleRow): Rule => ({ ...(row.definition as RuleInput), id: row.id, version: row.version }) as Rule;

export function ruleService(deps: RuleServiceDeps) {
  const { db, secrets } = deps;

  /** Runs `fn` in one transaction; a concurrent insert of the same name becomes a 409. */
  async function change<T>(fn: (trx: Db) => Promise<T>): Promise<T> {
    try {
      return await inTransaction(db, fn);
    } catch (err) {
      if (isUniqueViolation(err)) throw new ConflictError('a rule with this name already exists', { errors: [{ path: 'name', message: 'already used by another rule' }] });
      throw err;
    }
  }

  /**
   * A shell command whose `args` or `environment` are templated (incident data) must expand them in double
   * quotes and never hand them to another parser (eval, sh -c "…$1", ssh): src/domain/shell-words.ts. Fixed
   * values, written by the rule's author, are not checked. 400 naming the command (409 for a rollback).
   */
  function commandWordIssues(rule: RuleInput): FieldError[] {
    return rule.actions.flatMap((action, index) => {
      const a = action as { type: string; command?: unknown; args?: unknown; environment?: unknown };
      if (a.type !== 'script.ssh' || typeof a.command !== 'string' || !carriesTemplates(a)) return [];
      const problem = commandDataProblem(a.command);
      return problem ? [{ path: `actions.${index}.command`, message: problem }] : [];
    });
  }

  /** A rule body checked by the domain schema and the secret policy (400 naming each field otherwise). */
  function validate(body: unknown): RuleInput {
    const parsed = parseRuleInput(body);
    if (!parsed.ok) throw new ValidationError('the rule is not valid', parsed.issues.map((i) => ({ path: i.path || '(body)', message: i.message })));
    const outside = [...secretRefIssues(parsed.value, secrets), ...destinationIssues(parsed.value, deps), ...commandWordIssues(parsed.value)];
    if (outside.length > 0) throw new ValidationError('the rule is not valid', outside);
    return parsed.value;
  }

  async function runTest(rule: Rule, input: RuleTestInput): Promise<RuleTestResult> {
    const now = input.now ? new Date(input.now) : new Date();
    if (input.payload !== undefined) {
      try {
        return testRuleWithPayload(rule, { payload: input.payload, alerts: input.alerts, environment: input.environment, eventType: input.eventType, now, extractors: deps.extractors });
      } catch (err) {
        throw err instanceof PayloadError ? new ValidationError(err.message, err.errors) : err;
      }
    }
    const incident = await findIncident(db, input.incidentId!);
    if (!incident) throw new NotFoundError(`incident ${input.incidentId} is not known`);
    const latest = await latestIncidentEvent(db, incident.id);
    const event = (latest?.payload as { event?: Record<string, unknown> } | undefined)?.event ?? {};
    const stored: Incident = { ...incident, alerts: input.alerts ?? incident.alerts, environment: { ...incident.environment, ...(input.environment ?? {}) } };
    return testRuleWithIncident(rule, stored, event, input.eventType ?? latest?.event_type ?? 'incident.triggered', now);
  }

  return {
    validate,
    /**
     * A page of the rules of the teams `actor` may read, by name then id, after the cursor (the nextCursor of
     * the previous page): `limit` at most, and no more than LIST_PAGE_BYTES of definitions (one at least).
     */
    async list(actor: Actor, filter: Omit<RuleListFilter, 'teams'>, page: { limit: number; cursor?: string | undefined }) {
      const after = page.cursor === undefined ? undefined : decodeCursor(page.cursor, 2);
      const { rows, last } = await listRulePage(db, { ...filter, teams: visibleTeams(actor) }, { after: after && { name: after[0]!, id: after[1]! }, limit: page.limit, maxBytes: LIST_PAGE_BYTES });
      return { rows, nextCursor: last && encodeCursor([last.name, last.id]) };
    },
    get: (actor: Actor, id: string, opts: { includeDeleted?: boolean } = {}) => mustRead(db, actor, id, opts),

    async create(actor: Actor, body: unknown): Promise<RuleRow> {
      const [definition, requested] = withoutTeam(validate(body));
      const team = await teamForCreate(db, actor, requested, 'the rule');
      requireAdminForCommands(actor, definition, 'creating');
      requireAdminForPausingGuards(actor, definition, undefined, 'creating');
      return change(async (trx) => {
        await nameTaken(trx, actor, definition.name);
        const created = await insertRule(trx, { id: randomUUID(), name: definition.name, definition, enabled: definition.enabled, actor: actor.name, actorAliases: actor.aliases, change: 'create', at: new Date(), team });
        await writeAudit(trx, { actor: actor.name, action: 'rule.create', entityType: 'rule', entityId: created.id, after: auditState(created), team });
        return created;
      });
    },

    /** Replaces a rule at version `expected` (428 without one, 409 when stale); an identical body changes nothing. */
    async update(actor: Actor, id: string, body: unknown, expected: number | undefined): Promise<RuleRow> {
      const [definition, requested] = withoutTeam(validate(body));
      requireAdminForCommands(actor, definition, 'saving');
      return change(async (trx) => {
        const current = await mustFind(trx, id, { forUpdate: true });
        const team = await teamForChange(trx, actor, current.team, requested, `rule ${id}`);
        staleCheck(current, expected);
        requireAdminForPausingGuards(actor, definition, current.definition as RuleInput, 'saving');
        if (canonicalJson(current.definition) === canonicalJson(definition) && team === current.team) return current;
        if (definition.name !== current.name) await nameTaken(trx, actor, definition.name, id);
        const next = await writeRuleVersion(trx, current, { name: definition.name, definition, enabled: definition.enabled, change: 'update', actor: actor.name, actorAliases: actor.aliases, at: new Date(), team });
        await writeAudit(trx, { actor: actor.name, action: 'rule.update', entityType: 'rule', entityId: id, before: { ...auditState(current), team: current.team }, after: { ...auditState(next), team }, team });
        return next;
      });
    },

    async remove(actor: Actor, id: string, expected: number | undefined): Promise<RuleRow> {
      return change(async (trx) => {
        const current = await mustChange(trx, actor, id);
        if (expected !== undefined) staleCheck(current, expected);
        const at = new Date();
        const next = await writeRuleVersion(trx, current, { name: current.name, definition: current.definition, enabled: current.enabled, change: 'delete', actor: actor.name, actorAliases: actor.aliases, at, deletedAt: at });
        await writeAudit(trx, { actor: actor.name, action: 'rule.delete', entityType: 'rule', entityId: id, before: auditState(current), after: auditState(next), team: current.team });
        return next;
      });
    },

    /**
     * A page of the rule's versions, oldest first, after the cursor (the last version of the previous page):
     * `limit` at most, and no more than VERSIONS_PAGE_BYTES of definitions (one version at least).
     */
    async versions(actor: Actor, id: string, page: { limit: number; cursor?: string | undefined }) {
      if (page.cursor !== undefined && !/^[1-9]\d{0,8}$/.test(page.cursor)) throw new ValidationError('invalid cursor: send the nextCursor of the previous page', [{ path: 'cursor', message: 'not a cursor this listing gave' }]);
      const rule = await mustRead(db, actor, id, { includeDeleted: true });
      const { versions, more } = await listRuleVersions(db, id, { after: page.cursor === undefined ? undefined : Number(page.cursor), limit: page.limit, maxBytes: VERSIONS_PAGE_BYTES });
      return { rule, versions, nextCursor: more ? String(versions.at(-1)!.version) : null };
    },

    async diff(actor: Actor, id: string, from: number, toVersion: number | undefined) {
      const rule = await mustRead(db, actor, id, { includeDeleted: true });
      const to = toVersion ?? rule.version;
      const [a, b] = await Promise.all([findRuleVersion(db, id, from), findRuleVersion(db, id, to)]);
      const missing = [!a && `version ${from} does not exist`, !b && `version ${to} does not exist`].filter(Boolean);
      if (missing.length > 0 || !a || !b) throw new NotFoundError(`rule ${id}: ${missing.join('; ')}`);
      return { from, to, changes: diffJson(a.definition, b.definition) };
    },

    async rollback(actor: Actor, id: string, version: number, expected: number | undefined): Promise<RuleRow> {
      return change(async (trx) => {
        const current = await mustChange(trx, actor, id);
        if (expected !== undefined) staleCheck(current, expected);
        const old = await findRuleVersion(trx, id, version);
        if (!old) throw new NotFoundError(`rule ${id} has no version ${version}`);
        const reparsed = parseRuleInput(old.definition);
        if (!reparsed.ok) throw new ConflictError(`version ${version} is no longer a valid rule`, { errors: reparsed.issues.map((i) => ({ path: i.path || '(body)', message: i.message })) });
        const definition = reparsed.value;
        const outside = secretRefIssues(definition, secrets);
        if (outside.length > 0) throw new ConflictError(`version ${version} names secrets outside the allowed prefixes or directories`, { errors: outside });
        const refused = destinationIssues(definition, deps);
        if (refused.length > 0) throw new ConflictError(`version ${version} sends to destinations the operator's lists do not allow (NOTIFY_EMAIL_ALLOW, NOTIFY_WEBHOOK_ALLOW, GITHUB_REPOS_ALLOW)`, { errors: refused });
        const split = commandWordIssues(definition);
        if (split.length > 0) throw new ConflictError(`version ${version} passes incident data to a shell command where it is split or read as code`, { errors: split });
        requireAdminForCommands(actor, definition, 'rolling back to');
        requireAdminForPausingGuards(actor, definition, current.definition as RuleInput, 'rolling back to');
        if (definition.name !== current.name) await nameTaken(trx, actor, definition.name, id);
        const next = await writeRuleVersion(trx, current, { name: definition.name, definition, enabled: definition.enabled, change: 'rollback', actor: actor.name, actorAliases: actor.aliases, at: new Date() });
        await writeAudit(trx, { actor: actor.name, action: 'rule.rollback', entityType: 'rule', entityId: id, before: auditState(current), after: { ...auditState(next), rolledBackTo: version }, team: current.team });
        return next;
      });
    },

    async resetBreaker(actor: Actor, id: string): Promise<RuleRow> {
      return inTransaction(db, async (trx) => {
        const current = await mustChange(trx, actor, id);
        const next = await resetBreaker(trx, id, new Date());
        if (!next) throw new NotFoundError(`rule ${id} is not known`);
        await writeAudit(trx, { actor: actor.name, action: 'rule.reset-breaker', entityType: 'rule', entityId: id, before: breakerState(current), after: breakerState(next), team: current.team });
        return next;
      });
    },

    /** Tests a stored rule (nothing runs). */
    async testStored(actor: Actor, id: string, input: RuleTestInput): Promise<RuleTestResult> {
      return runTest(storedRule(await mustRead(db, actor, id)), input);
    },

    /** Tests an unsaved rule body, already checked by the request schema (nothing runs). */
    testUnsaved: async (rule: RuleInput, input: RuleTestInput) => {
      refuseUnsaveable(rule, 'rule');
      return runTest({ ...rule, id: 'unsaved', version: 0 } as Rule, input);
    },
  };
}

export type RuleService = ReturnType<typeof ruleService>;
