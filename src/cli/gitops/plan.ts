// From desired objects (files) and current objects (the API) to an ordered plan: create, update (with the
// changed fields), unchanged, delete. Pure. Objects are compared after defaults are applied, with the same
// schemas the API validates with, so an object the API already holds is "unchanged" and apply sends nothing.
import { environmentCreateSchema, normalizedEnvironment } from '../../domain/environments.js';
import { jobDefinitionSchema, jobSaveProblems, slugify, type JobDefinition } from '../../domain/jobs.js';
import { canonicalJson, diffJson, type JsonChange } from '../../domain/json-diff.js';
import { parseRuleInput, type RuleInput } from '../../domain/rules/index.js';
import { DEFAULT_TEAM } from '../../domain/teams.js';
import type { EnvironmentView, JobView, RuleView } from '../api-types.js';
import { usageError } from '../errors.js';
import { describeManifest, KINDS, type Kind, type Manifest } from './manifests.js';

export type Desired =
  | { kind: 'Rule'; key: string; where: string; definition: RuleInput }
  | { kind: 'Environment'; key: string; where: string; body: Record<string, unknown>; normalized: Record<string, unknown> }
  | { kind: 'Job'; key: string; where: string; definition: JobDefinition; explicitEnabled: boolean };

export interface CurrentState {
  rules: RuleView[];
  environments: EnvironmentView[];
  jobs: JobView[];
}

export type StepAction = 'create' | 'update' | 'unchanged' | 'delete';

export interface Step {
  kind: Kind;
  action: StepAction;
  /** Rule name, environment name or job id. */
  key: string;
  /** Where the desired object is (file and position); absent for deletes. */
  where?: string;
  /** Server id (rules) for updates and deletes. */
  id?: string;
  /** Rule version the update or delete replaces (If-Match). */
  version?: number;
  /** The request body of a create or update. */
  body?: unknown;
  changes?: JsonChange[];
  /** An update that moves the object from another team into the team the files give it (--allow-move). */
  move?: { from: string; to: string };
  /**
   * The team the server held the environment or job in when the plan was read (updates and deletes): sent
   * as the `ifTeam` precondition, so a name that passed to another team since is refused (409), not
   * deleted or moved back.
   */
  team?: string;
}

/**
 * What a plan may touch. Object names are unique across teams, so a file object is matched by name (id for
 * jobs) with whatever the server holds; but only the objects of `teams` are updated or pruned. A token that
 * sees several teams (an admin's) would otherwise turn a file rule of the default team into an overwrite of
 * another team's rule of that name, moved to the default team, and `--prune` would delete every other
 * team's objects: changes that neither the files nor a diff made with a narrower token showed.
 */
export interface PlanScope {
  /** The teams the plan is about: the teams of the file objects, or those given with --team. */
  teams: ReadonlySet<string>;
  /** A file object may take over an object of the same name in another team (moving it): --allow-move. */
  allowMove: boolean;
}

/** The team of a file object (one without `team` is in the default team, as the API files it). */
export function teamOfDesired(d: Desired): string {
  if (d.kind === 'Environment') return typeof d.normalized.team === 'string' ? d.normalized.team : DEFAULT_TEAM;
  return d.definition.team ?? DEFAULT_TEAM;
}

/** The team of an object as the API answers it (a server before teams holds everything in the default team). */
export const teamOfLive = (o: { team?: unknown }): string => (typeof o.team === 'string' ? o.team : DEFAULT_TEAM);

/** The scope a plan has when none is given: the teams the files name, no moves. */
export const scopeOfFiles = (desired: Desired[]): PlanScope => ({ teams: new Set(desired.map(teamOfDesired)), allowMove: false });

/** Fields of a rule view that are not part of its definition. */
const RULE_READ_ONLY = new Set(['id', 'version', 'breaker', 'createdAt', 'updatedAt', 'deletedAt']);
/** Fields of a job view that are not part of its definition. */
const JOB_READ_ONLY = new Set(['scheduleId', 'createdAt', 'updatedAt', 'paused', 'nextRunTimes', 'scheduleState', 'scheduleStatus']);
/** Fields of an environment view that are its definition. */
const ENVIRONMENT_FIELDS = ['name', 'team', 'description', 'labels', 'agentTaskQueue', 'ssh', 'maintenanceWindows'] as const;

const omit = (o: Record<string, unknown>, keys: ReadonlySet<string>) => Object.fromEntries(Object.entries(o).filter(([k]) => !keys.has(k)));

// A server answering without `team` (before teams) holds everything in the default team.
/** The definition part of a rule as the API answers it. */
export const ruleDefinitionOf = (rule: Record<string, unknown>): Record<string, unknown> => ({ ...omit(rule, RULE_READ_ONLY), team: rule.team ?? DEFAULT_TEAM });
/** The definition part of a job as the API answers it. */
export const jobDefinitionOf = (job: Record<string, unknown>): Record<string, unknown> => ({ ...omit(job, JOB_READ_ONLY), team: job.team ?? DEFAULT_TEAM });
/** The definition part of an environment as the API answers it. */
export const environmentDefinitionOf = (e: Record<string, unknown>) => Object.fromEntries(ENVIRONMENT_FIELDS.map((k) => [k, e[k] ?? (k === 'team' ? DEFAULT_TEAM : null)]));

const issuePath = (p: readonly PropertyKey[]) => p.map(String).join('.');

/**
 * Validates each object with the schema of its kind (defaults applied) and checks that no key appears twice.
 * `labelOf` names an object in messages. Throws a usage error listing every problem.
 */
export function validateManifests(manifests: Manifest[], labelOf: (m: Manifest) => string = describeManifest, header = 'the files are not valid'): Desired[] {
  const problems: string[] = [];
  const desired: Desired[] = [];
  for (const m of manifests) {
    const label = labelOf(m);
    if (m.kind === 'Rule') {
      const parsed = parseRuleInput(m.raw);
      // A file without `team` means the default team, as the API does (moving needs admin of both teams).
      if (parsed.ok) desired.push({ kind: 'Rule', key: parsed.value.name, where: describeManifest(m), definition: { ...parsed.value, team: parsed.value.team ?? DEFAULT_TEAM } });
      else for (const i of parsed.issues) problems.push(`${label} ${i.path || '(rule)'}: ${i.message}`);
    } else if (m.kind === 'Environment') {
      const parsed = environmentCreateSchema.safeParse(m.raw);
      if (parsed.success) desired.push({ kind: 'Environment', key: parsed.data.name, where: describeManifest(m), body: m.raw, normalized: normalizedEnvironment(parsed.data) });
      else for (const i of parsed.error.issues) problems.push(`${label} ${issuePath(i.path) || '(environment)'}: ${i.message}`);
    } else {
      const parsed = jobDefinitionSchema.safeParse(m.raw);
      if (!parsed.success) {
        for (const i of parsed.error.issues) problems.push(`${label} ${issuePath(i.path) || '(job)'}: ${i.message}`);
        continue;
      }
      const id = parsed.data.id ?? slugify(parsed.data.name);
      if (!id) {
        problems.push(`${label} id: required when the name has no letters or digits`);
        continue;
      }
      // What the API refuses from the definition alone: named here, before anything is applied.
      const refused = jobSaveProblems(parsed.data);
      if (refused.length > 0) {
        for (const p of refused) problems.push(`${label} ${p.path}: ${p.message}`);
        continue;
      }
      desired.push({ kind: 'Job', key: id, where: describeManifest(m), definition: { ...parsed.data, id, team: parsed.data.team ?? DEFAULT_TEAM }, explicitEnabled: 'enabled' in m.raw });
    }
  }
  const seen = new Map<string, string>();
  for (const d of desired) {
    const k = `${d.kind}/${d.key}`;
    const first = seen.get(k);
    if (first) problems.push(`${d.where}: ${d.kind} "${d.key}" is also defined at ${first}`);
    else seen.set(k, d.where);
  }
  if (problems.length > 0) throw usageError(`${header}:\n  ${problems.join('\n  ')}`);
  return desired;
}

/**
 * The scope of a plan: the teams of the file objects, or the teams given with --team (`explicit`), which must
 * then hold every file object. Throws a usage error naming each object outside them.
 */
export function resolveScope(desired: Desired[], explicit: readonly string[] | undefined, allowMove: boolean): PlanScope {
  if (explicit === undefined || explicit.length === 0) return { ...scopeOfFiles(desired), allowMove };
  const teams = new Set(explicit);
  const outside = desired.filter((d) => !teams.has(teamOfDesired(d)));
  if (outside.length > 0) {
    throw usageError(
      `--team ${[...teams].join(',')} does not cover every object of the files; nothing was applied:\n  ${outside
        .map((d) => `${d.where}: ${d.kind.toLowerCase()} "${d.key}" is in team ${teamOfDesired(d)}${teamOfDesired(d) === DEFAULT_TEAM ? ' (no `team` in the file)' : ''}`)
        .join('\n  ')}`,
    );
  }
  return { teams, allowMove };
}

/** Environments that jobs name must exist after the apply: in the files, or on the server and not pruned. */
export function checkReferences(desired: Desired[], current: CurrentState, prune: ReadonlySet<Kind>, scope: PlanScope = scopeOfFiles(desired)): void {
  const desiredEnvs = new Map(desired.filter((d) => d.kind === 'Environment').map((d) => [d.key, teamOfDesired(d)]));
  const serverEnvs = new Map(current.environments.map((e) => [e.name, teamOfLive(e)]));
  // Only the environments of the plan's teams are pruned.
  const prunable = new Set(current.environments.filter((e) => scope.teams.has(teamOfLive(e))).map((e) => e.name));
  const pruned = (name: string) => prune.has('Environment') && prunable.has(name) && !desiredEnvs.has(name);
  const problems: string[] = [];
  for (const d of desired) {
    if (d.kind !== 'Job' || !('environments' in d.definition.targets)) continue;
    // A job may target only its own team's environments: the server refuses it otherwise (400), after the
    // objects before it were applied. Said here, before anything is.
    const team = teamOfDesired(d);
    const otherTeam = (env: string, envTeam: string, where: string) =>
      `${d.where}: targets environment "${env}", which is in team ${envTeam} ${where}; a job of team ${team} may target only that team's environments`;
    for (const env of d.definition.targets.environments) {
      const filed = desiredEnvs.get(env);
      if (filed !== undefined) {
        if (filed !== team) problems.push(otherTeam(env, filed, 'in the files'));
        continue;
      }
      const served = serverEnvs.get(env);
      if (pruned(env)) problems.push(`${d.where}: targets environment "${env}", which --prune environment would delete`);
      else if (served === undefined) problems.push(`${d.where}: targets environment "${env}", which is neither in the files nor on the server`);
      else if (served !== team) problems.push(otherTeam(env, served, 'on the server'));
    }
  }
  const desiredJobs = new Set(desired.filter((d) => d.kind === 'Job').map((d) => d.key));
  for (const job of current.jobs) {
    // A job of another team is never pruned: it stays, and so does its reference.
    if (desiredJobs.has(job.id) || (prune.has('Job') && scope.teams.has(teamOfLive(job)))) continue;
    for (const env of job.targets?.environments ?? []) {
      if (pruned(env)) problems.push(`job "${job.id}" on the server targets environment "${env}", which --prune environment would delete (put the job in the files, or prune jobs too)`);
    }
  }
  // The server refuses to move an environment to another team while live jobs of its team name it (409):
  // environments are applied before jobs, so the move would be refused even when the files drop it from
  // the job. Said here, before anything is applied (when the plan read the server's jobs).
  if (scope.allowMove) {
    for (const [env, to] of desiredEnvs) {
      const from = serverEnvs.get(env);
      if (from === undefined || from === to) continue;
      const naming = current.jobs.filter((j) => teamOfLive(j) === from && (j.targets?.environments ?? []).includes(env)).map((j) => j.id);
      if (naming.length === 0) continue;
      const shown = naming.length > 10 ? `${naming.slice(0, 10).join('", "')}" and ${naming.length - 10} more` : `${naming.join('", "')}"`;
      problems.push(
        `environment "${env}" would move from team ${from} to team ${to}, but job${naming.length > 1 ? 's' : ''} "${shown} of team ${from} on the server name${naming.length > 1 ? '' : 's'} it (the server refuses the move): apply the job${naming.length > 1 ? 's' : ''} without it first, then the move`,
      );
    }
  }
  if (problems.length > 0) throw usageError(`the plan would leave jobs without their environments:\n  ${problems.join('\n  ')}`);
}

function compare(kind: Kind, key: string, where: string, before: unknown, after: unknown, extra: Partial<Step>): Step {
  if (canonicalJson(before) === canonicalJson(after)) return { kind, action: 'unchanged', key, where, ...(extra.id ? { id: extra.id } : {}) };
  return { kind, action: 'update', key, where, ...extra, changes: diffJson(before, after) };
}

/**
 * The steps that make the server hold `desired`: in dependency order (environments, jobs, rules), then
 * deletes of objects of the `prune` kinds that the files do not hold, in reverse order (rules, jobs, environments).
 * Only objects of the scope's teams are deleted; a file object whose name the server holds in another team
 * is refused (a usage error naming each, before anything is applied) unless the scope allows moves.
 */
export function planChanges(desired: Desired[], current: CurrentState, prune: ReadonlySet<Kind>, scope: PlanScope = scopeOfFiles(desired)): Step[] {
  const rules = new Map(current.rules.map((r) => [r.name, r]));
  const envs = new Map(current.environments.map((e) => [e.name, e]));
  const jobs = new Map(current.jobs.map((j) => [j.id, j]));
  const steps: Step[] = [];
  const problems: string[] = [];
  /** The move an update of `existing` to `d` would make, if any; a refusal when moves are not allowed. */
  const moveOf = (d: Desired, existing: { team?: unknown }): Step['move'] | undefined => {
    const from = teamOfLive(existing);
    const to = teamOfDesired(d);
    if (from === to) return undefined;
    if (!scope.allowMove) {
      const kind = d.kind.toLowerCase();
      problems.push(
        `${d.where}: ${kind} "${d.key}" is in team ${to} in the files, but the server's ${kind} "${d.key}" is in team ${from}: applying would overwrite team ${from}'s ${kind} and move it to team ${to}. Rename it, give it \`team: ${from}\`, or move it with selfheal apply --allow-move`,
      );
    }
    return { from, to };
  };
  const changed = (kind: Kind, d: Desired, before: unknown, after: unknown, extra: Partial<Step>, move: Step['move']): Step => {
    const step = compare(kind, d.key, d.where, before, after, extra);
    return move && step.action === 'update' ? { ...step, move } : step;
  };
  for (const d of desired) {
    if (!scope.teams.has(teamOfDesired(d))) problems.push(`${d.where}: ${d.kind.toLowerCase()} "${d.key}" is in team ${teamOfDesired(d)}, which the plan does not cover`);
  }
  for (const kind of KINDS) {
    for (const d of desired) {
      if (d.kind !== kind) continue;
      if (d.kind === 'Rule') {
        const existing = rules.get(d.key);
        if (!existing) steps.push({ kind, action: 'create', key: d.key, where: d.where, body: d.definition });
        else steps.push(changed(kind, d, ruleDefinitionOf(existing), d.definition, { id: existing.id, version: existing.version, body: d.definition }, moveOf(d, existing)));
      } else if (d.kind === 'Environment') {
        const existing = envs.get(d.key);
        const body = { ...d.body, team: d.normalized.team };
        if (!existing) steps.push({ kind, action: 'create', key: d.key, where: d.where, body });
        else steps.push(changed(kind, d, environmentDefinitionOf(existing), d.normalized, { body, team: teamOfLive(existing) }, moveOf(d, existing)));
      } else {
        const existing = jobs.get(d.key);
        // A file that does not say `enabled` leaves a job paused or running as it is (pause/resume by hand):
        // compared as it was read, and sent without `enabled`, so the server keeps the state it has when the
        // replacement lands (a pause made after this plan was read survives it).
        const definition = existing && !d.explicitEnabled ? { ...d.definition, enabled: existing.enabled } : d.definition;
        if (!existing) steps.push({ kind, action: 'create', key: d.key, where: d.where, body: definition });
        else {
          const { enabled: _asRead, ...withoutEnabled } = definition;
          steps.push(changed(kind, d, jobDefinitionOf(existing), definition, { body: d.explicitEnabled ? definition : withoutEnabled, team: teamOfLive(existing) }, moveOf(d, existing)));
        }
      }
    }
  }
  if (problems.length > 0) throw usageError(`the files and the server disagree about teams; nothing was applied:\n  ${problems.join('\n  ')}`);
  const wanted = new Set(desired.map((d) => `${d.kind}/${d.key}`));
  // Only objects of the plan's teams are deleted: another team's objects are not the files' business.
  const gone = (kind: Kind, key: string, o: { team?: unknown }) => prune.has(kind) && scope.teams.has(teamOfLive(o)) && !wanted.has(`${kind}/${key}`);
  for (const r of current.rules) if (gone('Rule', r.name, r)) steps.push({ kind: 'Rule', action: 'delete', key: r.name, id: r.id, version: r.version });
  for (const j of current.jobs) if (gone('Job', j.id, j)) steps.push({ kind: 'Job', action: 'delete', key: j.id, team: teamOfLive(j) });
  for (const e of current.environments) if (gone('Environment', e.name, e)) steps.push({ kind: 'Environment', action: 'delete', key: e.name, team: teamOfLive(e) });
  return steps;
}
