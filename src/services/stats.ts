// Effectiveness statistics (issue 22): per rule and overall, over a bounded time range. Reads through
// src/db/repositories/stats.ts, labels incidents with src/domain/effectiveness.ts, and composes the answer
// the API, the CLI and the dashboard show.
import {
  classifyForRule,
  classifyIncident,
  histogram,
  labelCounts,
  labelEventOf,
  median,
  rate,
  ruleWindowMs,
  TTR_BUCKETS_SECONDS,
  type Classification,
  type IncidentLabel,
  type LabelEvent,
  type LabelInput,
  type LabelRemediation,
} from '../domain/effectiveness.js';
import { findRule } from '../db/repositories/rules.js';
import type { RunStats, TimeToResolve } from '../contracts/stats.js';
import type { Actor } from './actor.js';
import { canRead, requireTeam, visibleTeams } from './team-access.js';
import type { Db } from '../db/repositories/db.js';
import {
  incidentsOpenedIn,
  incidentTimes,
  labelActions,
  labelEvents,
  matchesInRange,
  ruleLiveSince,
  ruleNames,
  runsPerDay,
  type IncidentTimes,
  type MatchRow,
  type Range,
} from '../db/repositories/stats.js';

/** Matches and incidents read for one answer at most; beyond, the answer says `truncated`. */
export const MAX_MATCHES = 50_000;
export const MAX_INCIDENTS = 20_000;
/** The longest range one answer covers. */
export const MAX_RANGE_DAYS = 366;

export class UnknownRuleError extends Error {}

export interface EffectivenessStats extends RunStats {
  range: { since: string; until: string };
  /** Final labels of the incidents in scope (open incidents are counted under `open`). */
  incidents: Record<IncidentLabel, number> & { open: number };
  /** auto-remediated / labelled incidents the automation ran on. */
  autoRemediatedShare: number | null;
  timeToResolve: { bucketsSeconds: number[]; withAutomation: TimeToResolve; withoutAutomation: TimeToResolve };
  daily: { day: string; runs: number; verified: number }[];
  truncated: boolean;
}

export interface RuleStats extends EffectivenessStats {
  rule: { id: string; name: string; enabled: boolean; liveSince: string | null };
}

export interface OverallStats extends EffectivenessStats {
  rules: { id: string; name: string; runs: number; successRate: number | null; verifiedRate: number | null; autoRemediatedShare: number | null; suppressed: number }[];
}

/**
 * The policy a skip reason names: "rate limit: 3 runs…" → "rate limit". The one reason that names things
 * before its colon, "environment X belongs to team Y: …" (src/domain/policies.ts), is one policy, not one
 * per environment and team.
 */
export const policyOf = (reason: string | null): string =>
  /^environment \S+ belongs to team \S+:/.test(reason ?? '') ? "another team's environment" : (reason ?? 'unknown').split(':')[0]!.trim().slice(0, 80) || 'unknown';

export function runStats(matches: readonly MatchRow[]): RunStats {
  const runs = matches.filter((m) => m.decision === 'run');
  const finished = runs.filter((m) => m.unfinished === 0 && m.succeeded + m.failed > 0);
  const succeeded = finished.filter((m) => m.failed === 0 && m.succeeded > 0);
  const count = (v: string) => runs.filter((m) => m.verification === v).length;
  const verification = { verified: count('verified'), unverified: count('unverified'), pending: count('pending'), notApplicable: count('not_applicable') };
  const suppressed = new Map<string, number>();
  const flapping = new Map<string, number>();
  for (const m of matches) {
    if (m.decision !== 'skipped') continue;
    const policy = policyOf(m.skip_reason);
    suppressed.set(policy, (suppressed.get(policy) ?? 0) + 1);
    if (policy === 'flapping' && m.target) flapping.set(m.target, (flapping.get(m.target) ?? 0) + 1);
  }
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  return {
    runs: runs.length,
    finishedRuns: finished.length,
    succeededRuns: succeeded.length,
    successRate: rate(succeeded.length, finished.length),
    verification,
    verifiedRate: rate(verification.verified, verification.verified + verification.unverified),
    dryRuns: matches.filter((m) => m.decision === 'dry_run').length,
    suppressed: sorted(suppressed).map(([policy, n]) => ({ policy, count: n })),
    flappingTargets: sorted(flapping).map(([target, n]) => ({ target, count: n })),
  };
}

/**
 * Appends `value` to the list kept under `key`, in place. Copying the list on every append instead made
 * grouping quadratic: one range of 30,000 matches of one rule held the event loop for seconds.
 */
function pushTo<K, V>(groups: Map<K, V[]>, key: K, value: V): void {
  const list = groups.get(key);
  if (list) list.push(value);
  else groups.set(key, [value]);
}

/**
 * Lets the event loop serve other requests every BREATHE_EVERY items of a long loop: labelling 40,000
 * incidents held it for up to 0.8 s at a time, and every other caller of the API waited as long.
 */
const BREATHE_EVERY = 1000;
const breathe = (i: number): Promise<void> | undefined => (i % BREATHE_EVERY === BREATHE_EVERY - 1 ? new Promise((resolve) => setImmediate(resolve)) : undefined);

/** What each incident's label is computed from: its times, its stored events, and every rule's remediations on it. */
async function labelInputs(db: Db, ids: readonly string[]): Promise<Map<string, LabelInput>> {
  const unique = [...new Set(ids)];
  const [times, events, actions] = await Promise.all([incidentTimes(db, unique), labelEvents(db, unique), labelActions(db, unique)]);
  const eventsOf = new Map<string, LabelEvent[]>();
  for (const [i, e] of events.entries()) {
    await breathe(i);
    const ev = labelEventOf(e.payload, { type: e.event_type, at: e.occurred_at ?? e.received_at }, e.own_write);
    if (ev) pushTo(eventsOf, e.incident_id, ev);
  }
  const remediationsOf = new Map<string, Map<string, LabelRemediation>>();
  for (const [i, a] of actions.entries()) {
    await breathe(i);
    const byMatch = remediationsOf.get(a.incident_id) ?? new Map<string, LabelRemediation>();
    remediationsOf.set(a.incident_id, byMatch);
    const r = byMatch.get(a.match_id) ?? { ruleId: a.rule_id, actions: [], windowMs: ruleWindowMs({ verify: { within: a.within } }), verification: a.verification };
    r.actions.push({ type: a.action_type, status: a.status, startedAt: a.started_at, finishedAt: a.finished_at });
    byMatch.set(a.match_id, r);
  }
  const out = new Map<string, LabelInput>();
  for (const i of times) {
    out.set(i.id, { status: i.status, resolvedAt: i.resolved_at, events: eventsOf.get(i.id) ?? [], remediations: [...(remediationsOf.get(i.id)?.values() ?? [])] });
  }
  return out;
}

/** Label incidents from their stored events, our action runs and their rules' windows (every rule's actions together). */
export async function labelIncidents(db: Db, ids: readonly string[]): Promise<Map<string, Classification>> {
  return classifyAll(await labelInputs(db, ids));
}

/** Each incident's label from its inputs, letting other requests in as it goes. */
async function classifyAll(inputs: Map<string, LabelInput>): Promise<Map<string, Classification>> {
  const out = new Map<string, Classification>();
  let i = 0;
  for (const [id, input] of inputs) {
    await breathe(i++);
    out.set(id, classifyIncident(input));
  }
  return out;
}

/** The labels one rule earned on some incidents: from its own remediations only, never another rule's fix. */
function ruleLabelsOf(inputs: ReadonlyMap<string, LabelInput>, ruleId: string, incidentIds: Iterable<string>): Classification[] {
  const out: Classification[] = [];
  for (const id of new Set(incidentIds)) {
    const input = inputs.get(id);
    if (input) out.push(classifyForRule(input, ruleId));
  }
  return out;
}

function ttr(incidents: readonly IncidentTimes[]): TimeToResolve {
  const seconds = incidents
    .filter((i) => i.status === 'resolved' && i.resolved_at !== null)
    .map((i) => Math.max(0, (i.resolved_at!.getTime() - i.opened_at.getTime()) / 1000));
  return { count: seconds.length, medianSeconds: median(seconds), histogram: histogram(seconds) };
}

function labelSummary(labels: readonly Classification[]) {
  const counts = labelCounts(labels);
  const open = labels.filter((l) => !l.final).length;
  const automated = counts['auto-remediated'] + counts.assisted;
  return { incidents: { ...counts, open }, autoRemediatedShare: rate(counts['auto-remediated'], automated) };
}

const iso = (r: Range) => ({ since: r.since.toISOString(), until: r.until.toISOString() });

/** Statistics of one rule over the range; with `actor`, only of a rule of a team it may read (404 like an unknown rule otherwise). */
export async function ruleStats(db: Db, ruleId: string, range: Range, actor?: Actor): Promise<RuleStats> {
  const rule = await findRule(db, ruleId, { includeDeleted: true });
  if (!rule) throw new UnknownRuleError(`rule ${ruleId} is not known`);
  if (actor) requireTeam(actor, 'viewer', rule.team, `rule ${ruleId}`);
  const [matches, liveSince, daily] = await Promise.all([matchesInRange(db, { ...range, ruleId, limit: MAX_MATCHES + 1 }), ruleLiveSince(db, ruleId), runsPerDay(db, { ...range, ruleId })]);
  const truncatedMatches = matches.length > MAX_MATCHES;
  const inScope = matches.slice(0, MAX_MATCHES);
  const ranOn = [...new Set(inScope.filter((m) => m.decision === 'run').map((m) => m.incident_id))];
  const withIds = ranOn.slice(0, MAX_INCIDENTS);
  const dryIds = new Set(inScope.filter((m) => m.decision === 'dry_run').map((m) => m.incident_id));

  // Without automation: the same services' incidents before the rule first ran for real, and the incidents
  // it matched in dry run; never one it ran on.
  const services = (rule.definition as { services?: string[] }).services ?? [];
  const before = liveSince === null ? range.until : new Date(Math.min(range.until.getTime(), liveSince.getTime()));
  const earlier = before > range.since ? await incidentsOpenedIn(db, { since: range.since, until: before, services: services.includes('*') ? '*' : services, limit: MAX_INCIDENTS + 1 }) : [];
  const withSet = new Set(withIds);
  const without = [...new Set([...earlier.map((i) => i.id), ...dryIds])].filter((id) => !withSet.has(id));
  const withoutIds = without.slice(0, MAX_INCIDENTS);

  const [withTimes, withoutTimes, inputs] = await Promise.all([incidentTimes(db, withIds), incidentTimes(db, withoutIds), labelInputs(db, withIds)]);
  return {
    rule: { id: rule.id, name: rule.name, enabled: rule.enabled, liveSince: liveSince?.toISOString() ?? null },
    range: iso(range),
    ...runStats(inScope),
    ...labelSummary(ruleLabelsOf(inputs, rule.id, withIds)),
    timeToResolve: { bucketsSeconds: [...TTR_BUCKETS_SECONDS], withAutomation: ttr(withTimes), withoutAutomation: ttr(withoutTimes) },
    daily,
    // Any list cut at its cap leaves incidents out of the numbers: the answer must say so.
    truncated: truncatedMatches || earlier.length > MAX_INCIDENTS || ranOn.length > MAX_INCIDENTS || without.length > MAX_INCIDENTS,
  };
}

/**
 * Statistics of every rule together, and each rule's headline numbers, over the range. The totals are
 * fleet-wide (like /metrics); with `actor`, the per-rule lines are those of rules of teams it may read, and
 * of a rule whose row is gone (its team unknown) only for a global admin.
 */
export async function overallStats(db: Db, range: Range, actor?: Actor): Promise<OverallStats> {
  const [matches, opened, daily] = await Promise.all([
    matchesInRange(db, { ...range, limit: MAX_MATCHES + 1 }),
    incidentsOpenedIn(db, { ...range, services: '*', limit: MAX_INCIDENTS + 1 }),
    runsPerDay(db, range),
  ]);
  const inScope = matches.slice(0, MAX_MATCHES);
  const incidents = opened.slice(0, MAX_INCIDENTS);
  const allRanOn = [...new Set(inScope.filter((m) => m.decision === 'run').map((m) => m.incident_id))];
  const ranOn = allRanOn.slice(0, MAX_INCIDENTS);
  const inputs = await labelInputs(db, [...incidents.map((i) => i.id), ...ranOn]);
  const labels = await classifyAll(inputs);
  const openedLabels = incidents.map((i) => labels.get(i.id)).filter((l): l is Classification => l !== undefined);
  const automated = (id: string) => labels.get(id)?.label !== 'human';

  const byRule = new Map<string, MatchRow[]>();
  for (const m of inScope) pushTo(byRule, m.rule_id, m);
  const known = await ruleNames(db, [...byRule.keys()]);
  const names = new Map(known.map((r) => [r.id, r.name]));
  // A rule with no row left has no known team: only a global admin (who reads every team) sees its line.
  const teams = new Map(known.map((r) => [r.id, r.team]));
  const everyTeam = !actor || visibleTeams(actor) === undefined;
  const shown = (id: string) => {
    const team = teams.get(id);
    return team === undefined ? everyTeam : !actor || canRead(actor, team);
  };
  const rules = [...byRule].filter(([id]) => shown(id)).map(([id, ms]) => {
    const s = runStats(ms);
    const ruleLabels = ruleLabelsOf(inputs, id, ms.filter((m) => m.decision === 'run').map((m) => m.incident_id));
    return {
      id,
      name: names.get(id) ?? id,
      runs: s.runs,
      successRate: s.successRate,
      verifiedRate: s.verifiedRate,
      autoRemediatedShare: labelSummary(ruleLabels).autoRemediatedShare,
      suppressed: s.suppressed.reduce((n, p) => n + p.count, 0),
    };
  });
  rules.sort((a, b) => b.runs - a.runs || a.name.localeCompare(b.name));
  return {
    range: iso(range),
    ...runStats(inScope),
    ...labelSummary(openedLabels),
    timeToResolve: {
      bucketsSeconds: [...TTR_BUCKETS_SECONDS],
      withAutomation: ttr(incidents.filter((i) => automated(i.id))),
      withoutAutomation: ttr(incidents.filter((i) => !automated(i.id))),
    },
    daily,
    rules,
    truncated: matches.length > MAX_MATCHES || opened.length > MAX_INCIDENTS || allRanOn.length > MAX_INCIDENTS,
  };
}
