// Carrying out a plan against the API, in order, stopping at the first refusal; and showing a plan.
import { argWarningsOf, type ArgWarning } from '../../domain/script-args.js';
import { DEFAULT_TEAM } from '../../domain/teams.js';
import type { ApiClient } from '../http-client.js';
import { ApiError } from '../http-client.js';
import type { Io } from '../context.js';
import { CliError, usageError } from '../errors.js';
import { short } from '../output.js';
import type { Kind } from './manifests.js';
import type { CurrentState, Step } from './plan.js';

export interface Verbs {
  create: string;
  update: string;
  delete: string;
}
export const WOULD: Verbs = { create: 'would create', update: 'would update', delete: 'would delete' };
export const DONE: Verbs = { create: 'created', update: 'updated', delete: 'deleted' };

const SIGN = { create: '+', update: '~', unchanged: '=', delete: '-' } as const;

/** `job nightly` in a plan of several kinds, `nightly` in a plan of rules only. */
const subject = (s: Step, withKind: boolean) => (withKind ? `${s.kind.toLowerCase()} ${s.key}` : s.key);

function stepLines(s: Step, verbs: Verbs, withKind: boolean): string[] {
  const label = s.action === 'unchanged' ? 'unchanged' : verbs[s.action];
  const moving = s.move ? `, moving it from team ${s.move.from} to team ${s.move.to}` : '';
  const lines = [`${SIGN[s.action]} ${label} ${subject(s, withKind)}${moving}${withKind && s.where && s.action !== 'unchanged' ? `  (${s.where})` : ''}`];
  if (s.action === 'update') for (const c of s.changes ?? []) lines.push(`    ${c.path}: ${short(c.before)} → ${short(c.after)}`);
  return lines;
}

export function summaryLine(steps: Step[]): string {
  const count = (a: Step['action']) => steps.filter((s) => s.action === a).length;
  return `${count('create')} to create, ${count('update')} to update, ${count('delete')} to delete, ${count('unchanged')} unchanged`;
}

/**
 * What a run may refuse in a rule the plan creates or updates: script arguments that begin with a value
 * (src/domain/script-args.ts; the server's validation answers the same).
 */
function warningsOf(s: Step): ArgWarning[] {
  if (s.kind !== 'Rule' || (s.action !== 'create' && s.action !== 'update')) return [];
  const body = s.body as Parameters<typeof argWarningsOf>[0] | undefined;
  return body && Array.isArray(body.actions) ? argWarningsOf(body) : [];
}

/** The plan, one line per object (changed fields under an update), its summary, and the rules' warnings on stderr. */
export function printPlan(io: Io, steps: Step[], verbs: Verbs, withKind: boolean): void {
  for (const s of steps) for (const line of stepLines(s, verbs, withKind)) io.out(line);
  io.out(summaryLine(steps));
  for (const s of steps) for (const w of warningsOf(s)) io.err(`! ${subject(s, withKind)}: ${w.path}: ${w.message}`);
}

export function planJson(steps: Step[], withKind: boolean) {
  return steps.map((s) => {
    const warnings = warningsOf(s);
    return {
      ...(withKind ? { kind: s.kind } : {}),
      action: s.action,
      name: s.key,
      ...(s.id ? { id: s.id } : {}),
      ...(withKind && s.where ? { source: s.where } : {}),
      ...(s.action === 'update' ? { changes: s.changes } : {}),
      ...(s.move ? { move: s.move } : {}),
      ...(warnings.length > 0 ? { warnings } : {}),
    };
  });
}

/** Which teams a plan covers and which the token can read: what a reviewer needs to trust a diff. */
export interface TeamReport {
  /** The teams the plan covers: the teams of the file objects, or --team. Only their objects change or go. */
  covered: string[];
  /** The teams the token can read (GET /api/teams): the objects the plan was compared with. */
  readable: string[];
  /** Covered teams the token cannot read: the plan cannot know what the server holds there. */
  unreadable: string[];
}

/** The teams the token can read; a server before teams (404) holds everything in the default team. */
export async function readableTeams(api: ApiClient): Promise<string[]> {
  try {
    return (await api.teams.list()).map((t) => t.name).sort();
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return [DEFAULT_TEAM];
    throw err;
  }
}

export function teamReport(covered: Iterable<string>, readable: readonly string[]): TeamReport {
  const sorted = [...new Set(covered)].sort();
  const can = new Set(readable);
  return { covered: sorted, readable: [...readable], unreadable: sorted.filter((t) => !can.has(t)) };
}

const listOf = (teams: string[]) => (teams.length > 0 ? teams.join(', ') : '(none)');

/** One line of scope before the plan; a loud warning on stderr when the token cannot read a covered team. */
export function printTeams(io: Io, report: TeamReport): void {
  io.out(`teams: the plan covers ${listOf(report.covered)}; the token can read ${listOf(report.readable)}`);
  if (report.unreadable.length > 0) io.err(unreadableWarning(report));
}

/**
 * Refuses to apply a plan covering a team the token cannot read: it cannot know what it would overwrite or
 * leave behind there (a rule of a file rule's name reads as a create, a rule to prune is not listed), and
 * the server's refusal of the first object there came after the objects of the other teams were applied.
 * `narrow` says how the scope can be made smaller, where it can (`selfheal apply --team`).
 */
export function refuseUnreadable(report: TeamReport, narrow = ''): void {
  if (report.unreadable.length === 0) return;
  throw usageError(
    `the token cannot read team(s) ${report.unreadable.join(', ')}, which the plan covers (the teams the files name${narrow ? `, or ${narrow}` : ''}): apply cannot know what it would overwrite or prune there; nothing was applied. Use a token that can read them (selfheal teams list)${narrow ? `, or narrow ${narrow}` : ''}`,
  );
}

export const unreadableWarning = (report: TeamReport) =>
  `!! the token cannot read team(s) ${report.unreadable.join(', ')}, which the plan covers: this plan was made without what the server holds there (its creates may be updates or conflicts, and its deletes are missing); apply refuses to run with such a token`;

/** The objects of the given kinds on the server (the others stay empty). */
export async function loadCurrent(api: ApiClient, kinds: ReadonlySet<Kind>): Promise<CurrentState> {
  const [rules, environments, jobs] = await Promise.all([
    kinds.has('Rule') ? api.rules.list() : [],
    kinds.has('Environment') ? api.environments.list() : [],
    kinds.has('Job') ? api.jobs.list() : [],
  ]);
  return { rules, environments, jobs };
}

async function carryOut(api: ApiClient, s: Step): Promise<void> {
  if (s.kind === 'Rule') {
    if (s.action === 'create') await api.rules.create(s.body);
    else if (s.action === 'update') await api.rules.update(s.id!, s.version!, s.body);
    else if (s.action === 'delete') await api.rules.remove(s.id!, s.version!);
  } else if (s.kind === 'Environment') {
    if (s.action === 'create') await api.environments.create(s.body);
    else if (s.action === 'update') await api.environments.update(s.key, s.body, s.team);
    else if (s.action === 'delete') await api.environments.remove(s.key, s.team);
  } else {
    // `s.team`: the team the plan read it in; the server refuses (409) when it is in another now.
    if (s.action === 'create') await api.jobs.create(s.body);
    else if (s.action === 'update') await api.jobs.update(s.key, s.body, s.team);
    else if (s.action === 'delete') await api.jobs.remove(s.key, s.team);
  }
}

export interface Outcome {
  applied: Step[];
  failed?: { step: Step; error: CliError };
  notAttempted: Step[];
}

/** Runs the changing steps in order; the first refusal stops the run (later steps may depend on it). */
export async function executePlan(api: ApiClient, steps: Step[]): Promise<Outcome> {
  const changes = steps.filter((s) => s.action !== 'unchanged');
  const applied: Step[] = [];
  for (const [i, s] of changes.entries()) {
    try {
      await carryOut(api, s);
    } catch (err) {
      if (!(err instanceof CliError)) throw err;
      return { applied, failed: { step: s, error: err }, notAttempted: changes.slice(i + 1) };
    }
    applied.push(s);
  }
  return { applied, notAttempted: [] };
}

/** Prints what was applied, what failed and why, and what was not attempted. */
export function printOutcome(io: Io, steps: Step[], outcome: Outcome, withKind: boolean): void {
  if (!outcome.failed) {
    printPlan(io, steps, DONE, withKind);
    return;
  }
  const { step, error } = outcome.failed;
  for (const s of outcome.applied) for (const line of stepLines(s, DONE, withKind)) io.out(line);
  const reason = error instanceof ApiError ? error.summary : error.message;
  io.err(`✗ ${step.action} ${subject(step, true)} failed${step.where ? ` (${step.where})` : ''}: ${reason.replace(/\n/g, '\n    ')}`);
  if (outcome.notAttempted.length > 0) io.err(`  not attempted: ${outcome.notAttempted.map((s) => `${s.action} ${subject(s, true)}`).join(', ')}`);
  io.err(`${outcome.applied.length} of ${outcome.applied.length + 1 + outcome.notAttempted.length} change(s) applied before the failure; nothing after it was attempted`);
}

export function outcomeJson(steps: Step[], outcome: Outcome, withKind: boolean) {
  const ref = (s: Step) => ({ kind: s.kind, action: s.action, name: s.key });
  const f = outcome.failed;
  return {
    dryRun: false,
    plan: planJson(steps, withKind),
    ...(f
      ? {
          applied: outcome.applied.map(ref),
          failed: {
            ...ref(f.step),
            ...(f.step.where ? { source: f.step.where } : {}),
            ...(f.error instanceof ApiError ? { status: f.error.status, problem: f.error.body } : {}),
            message: f.error.message,
          },
          notAttempted: outcome.notAttempted.map(ref),
        }
      : {}),
  };
}
