/**
 * The backtest: replay stored incident events in time order through extraction, matching and the
 * policies as they would have evolved, for a rule as asked (the candidate) and optionally the stored
 * rule's current version (the baseline), and compare both with the decisions recorded at the time.
 *
 * The history comes in as an async iterable (the caller pages it out of Postgres); nothing but the
 * summary accumulators, the state of the incidents still open and one page of items is kept, so a long
 * window costs time, not memory. Events from `warmupFrom` to `from` are simulated and not reported, so
 * rate limits and cooldowns start with the state they had.
 *
 * Each event is decided at the time it was received (the live planner decides moments later).
 * Pure: the clock for the time budget is injected.
 */
import { checksArgs, refusedArgsOf, type ArgsRefusal } from '../script-args.js';
import { renderAction, renderBudget } from '../template.js';
import { incidentContext } from '../rules/incident-context.js';
import { policyOfRecorded, targetOf, type PolicyDecisionKind, type PolicyKind } from '../policies.js';
import type { Action, Rule } from '../rules/schema.js';
import type { TimeWindow } from '../rules/time-window.js';
import { cutUtf8 } from '../text.js';
import { boundPerHour, groupKeyOf, NO_VALUE_GROUP } from './bounds.js';
import { namedService, replayEvent, type ReplayedIncident } from './incident-replay.js';
import { Lane, RecordedHolds, type LaneDecision } from './lane.js';
import {
  CHANGE_KINDS,
  MAX_DIFF_INCIDENTS,
  MAX_GROUPS,
  MAX_INCIDENT_ID_BYTES,
  type BacktestItem,
  type BacktestResult,
  type BacktestSpec,
  type ChangeKind,
  type DiffSummary,
  type GroupCount,
  type HistoryEvent,
  type HourCount,
  type LaneOutcome,
  type LaneSummary,
  type RecordedMatch,
  type RecordedOutcome,
  type RenderedAction,
} from './types.js';

/** The backtest read more events than allowed, or ran out of time: the caller narrows the window. */
export class BacktestLimitError extends Error {
  constructor(
    readonly limit: 'events' | 'time',
    readonly processed: number,
    readonly reachedAt: Date | null,
    message: string,
  ) {
    super(message);
    this.name = 'BacktestLimitError';
  }
}

const HOUR = 3_600_000;
/**
 * The engine runs on the API's event loop: past this long without a turn, it gives the loop one (webhooks,
 * health checks and other requests go on meanwhile). Events come from an async generator whose rows are
 * read a page at a time, so without it the loop only turned between pages.
 */
const YIELD_EVERY_MS = 20;
/**
 * A page takes no more items once its JSON passes this size, and nextCursor goes on from there: each
 * item repeats the incident's text and the rule's rendered actions, so `limit` alone does not bound it.
 */
const MAX_PAGE_CHARS = 8 * 1024 * 1024;

class LaneTally {
  evaluated = 0;
  matched = 0;
  decisions: Record<PolicyDecisionKind, number> = { run: 0, dry_run: 0, skipped: 0, notify_only: 0 };
  suppressedBy: Partial<Record<PolicyKind, number>> = {};
  firings = 0;
  actions = 0;
  holdsAssumed = 0;
  outcomesUnknown = 0;
  argsRefused = 0;
  private readonly hours = new Map<number, HourCount>();
  private readonly services = new Map<string, GroupCount>();
  private readonly environments = new Map<string, GroupCount>();

  add(d: LaneDecision, atMs: number, service: { id: string | null; name: string | null }, environment: string | null, refused: readonly ArgsRefusal[]): void {
    if (!d.evaluated) return;
    this.evaluated += 1;
    if (!d.matched || !d.policy) return;
    this.matched += 1;
    if (refused.length > 0) this.argsRefused += 1;
    const kind = d.policy.decision;
    this.decisions[kind] += 1;
    const suppressed = kind === 'skipped' || kind === 'notify_only';
    if (suppressed && d.policy.policy) this.suppressedBy[d.policy.policy] = (this.suppressedBy[d.policy.policy] ?? 0) + 1;
    // What acts: runs, and the notifications an open breaker lets through. A dry run records, launches nothing.
    const fired = kind === 'run' || kind === 'notify_only';
    if (fired) {
      this.firings += 1;
      this.actions += d.successPathActions ?? 0;
      const hour = Math.floor(atMs / HOUR) * HOUR;
      const h = this.hours.get(hour) ?? { hour: new Date(hour).toISOString(), firings: 0, actions: 0 };
      h.firings += 1;
      h.actions += d.successPathActions ?? 0;
      this.hours.set(hour, h);
    }
    if (d.holdFrom === 'assumed') this.holdsAssumed += 1;
    if (d.outcome === 'unknown') this.outcomesUnknown += 1;
    const bump = (map: Map<string, GroupCount>, key: string, name?: string | null) => {
      const g = map.get(key) ?? { key, ...(name !== undefined ? { name } : {}), matched: 0, fired: 0, suppressed: 0 };
      g.matched += 1;
      if (kind === 'run') g.fired += 1;
      if (suppressed) g.suppressed += 1;
      map.set(key, g);
    };
    // Keys and names cut to MAX_GROUP_KEY_BYTES before they are looked up: a map of whole ones would keep
    // every hostile value of the window alive until the summary is made.
    bump(this.services, service.id === null ? NO_VALUE_GROUP : groupKeyOf(service.id), service.name === null ? null : groupKeyOf(service.name));
    bump(this.environments, environment === null ? NO_VALUE_GROUP : groupKeyOf(environment));
  }

  /** `from`, `to`: the window reported on, which sets perHour's buckets (bounds.ts). */
  summary(from: Date, to: Date): LaneSummary {
    const hourly = [...this.hours.entries()].sort((a, b) => a[0] - b[0]).map(([, h]) => h);
    let peak: HourCount | null = null;
    for (const h of hourly) if (!peak || h.firings > peak.firings) peak = h;
    const { perHour, perHourBucketHours } = boundPerHour(hourly, from.getTime(), to.getTime());
    const byCount = (a: GroupCount, b: GroupCount) => b.matched - a.matched || (a.key < b.key ? -1 : 1);
    return {
      evaluated: this.evaluated,
      matched: this.matched,
      decisions: { ...this.decisions },
      suppressedBy: { ...this.suppressedBy },
      firings: this.firings,
      actions: this.actions,
      peakPerHour: peak,
      perHour,
      perHourBucketHours,
      byService: [...this.services.values()].sort(byCount).slice(0, MAX_GROUPS),
      byServiceOmitted: Math.max(0, this.services.size - MAX_GROUPS),
      byEnvironment: [...this.environments.values()].sort(byCount).slice(0, MAX_GROUPS),
      byEnvironmentOmitted: Math.max(0, this.environments.size - MAX_GROUPS),
      assumptions: { holdsAssumed: this.holdsAssumed, outcomesUnknown: this.outcomesUnknown },
      argsRefused: this.argsRefused,
    };
  }
}

/**
 * The diff's counts, and the incidents behind each change: the first MAX_DIFF_INCIDENTS distinct ones of
 * at most MAX_INCIDENT_ID_BYTES listed, every other distinct one counted. The distinct ids are kept while
 * the backtest runs (as the replayed incidents are), not in the summary.
 */
class DiffTally {
  counts: Record<ChangeKind, number> = { newly_matched: 0, no_longer_matched: 0, newly_suppressed: 0, no_longer_suppressed: 0 };
  incidents: Record<ChangeKind, string[]> = { newly_matched: [], no_longer_matched: [], newly_suppressed: [], no_longer_suppressed: [] };
  private readonly seen: Record<ChangeKind, Set<string>> = { newly_matched: new Set(), no_longer_matched: new Set(), newly_suppressed: new Set(), no_longer_suppressed: new Set() };

  add(change: ChangeKind | undefined, incidentId: string): void {
    if (!change) return;
    this.counts[change] += 1;
    if (this.seen[change].has(incidentId)) return;
    this.seen[change].add(incidentId);
    if (this.incidents[change].length < MAX_DIFF_INCIDENTS && cutUtf8(incidentId, MAX_INCIDENT_ID_BYTES) === incidentId) this.incidents[change].push(incidentId);
  }

  summary(): DiffSummary {
    const per = <T>(f: (k: ChangeKind) => T) => Object.fromEntries(CHANGE_KINDS.map((k) => [k, f(k)])) as Record<ChangeKind, T>;
    return { counts: { ...this.counts }, incidents: per((k) => [...this.incidents[k]]), incidentsOmitted: per((k) => this.seen[k].size - this.incidents[k].length) };
  }
}

interface Verdict {
  matched: boolean;
  suppressed: boolean;
}

const verdictOf = (d: LaneDecision): Verdict => ({ matched: d.matched, suppressed: d.policy?.decision === 'skipped' || d.policy?.decision === 'notify_only' });

function change(candidate: Verdict, other: Verdict): ChangeKind | undefined {
  if (candidate.matched && !other.matched) return 'newly_matched';
  if (!candidate.matched && other.matched) return 'no_longer_matched';
  if (candidate.matched && other.matched) {
    if (candidate.suppressed && !other.suppressed) return 'newly_suppressed';
    if (!candidate.suppressed && other.suppressed) return 'no_longer_suppressed';
  }
  return undefined;
}

/** The recorded match's decision as the candidate's: same decision, and the same policy when suppressed. */
function agrees(d: LaneDecision, recorded: RecordedMatch | undefined): boolean {
  if (!recorded) return !d.matched;
  if (!d.matched || !d.policy) return false;
  if (d.policy.decision !== recorded.decision) return false;
  return policyOfRecorded(recorded.decision, recorded.skipReason) === d.policy.policy;
}

/** Placeholder values for `results.<id>.*`: known only when the actions have run. */
function pendingResults(actions: readonly Action[]): Record<string, unknown> {
  return Object.fromEntries(
    actions.map((a) => [
      a.id,
      Object.fromEntries(['status', 'exitCode', 'outputExcerpt', 'link', 'error'].map((f) => [f, `<${a.id}.${f} at run time>`])),
    ]),
  );
}

/** What the actions of `rule` are rendered against: the incident, the rule, and placeholders for `results`. */
function templateContext(rule: Rule, ctx: ReturnType<typeof incidentContext>) {
  return { ...ctx, rule: { id: rule.id, name: rule.name, version: rule.version }, results: pendingResults(rule.actions) };
}

/**
 * The planned script actions (and, for a run or dry run, the verify check) whose `args` the rule run would
 * refuse for this event (src/domain/script-args.ts, the run's own check on the run's own rendering); empty
 * when none, or when nothing is planned. `results.*` render as placeholders, so only incident data is judged.
 */
function argsRefusals(d: LaneDecision, ctx: () => ReturnType<typeof incidentContext>): ArgsRefusal[] {
  const rule = d.span?.rule;
  if (!rule || !d.actions || d.policy?.decision === 'notify_only') return [];
  const check = rule.verify?.check;
  if (!d.actions.some((a) => checksArgs(a.type)) && !check) return [];
  return refusedArgsOf({ actions: d.actions, verify: rule.verify }, templateContext(rule, ctx()));
}

function renderActions(d: LaneDecision, ctx: ReturnType<typeof incidentContext>): RenderedAction[] {
  const rule = d.span!.rule;
  const tctx = templateContext(rule, ctx);
  const budget = renderBudget();
  return (d.actions ?? []).map((action) => {
    const rendered = renderAction(action, tctx, budget) as unknown as Record<string, unknown>;
    const { id, type, when, ...params } = rendered;
    return { id: String(id), type: String(type), when: String(when ?? 'success'), params };
  });
}

function laneOutcome(d: LaneDecision, ctx: ReturnType<typeof incidentContext>, refused: ArgsRefusal[]): LaneOutcome {
  const out: LaneOutcome = { evaluated: d.evaluated, applies: d.applies, matched: d.matched };
  if (d.skippedBecause) out.skippedBecause = d.skippedBecause;
  if (d.span) out.version = d.span.rule.version;
  if (d.explanation) out.explanation = d.explanation;
  if (d.policy) {
    out.decision = d.policy.decision;
    if (d.policy.policy) out.policy = d.policy.policy;
    if (d.policy.reason) out.reason = d.policy.reason;
  }
  if (d.actions) out.actions = renderActions(d, ctx);
  if (refused.length > 0) out.refusedArgs = refused;
  if (d.outcome) out.outcome = d.outcome;
  if (d.outcomeFrom) out.outcomeFrom = d.outcomeFrom;
  if (d.holdSeconds !== undefined) out.holdSeconds = d.holdSeconds;
  if (d.holdFrom) out.holdFrom = d.holdFrom;
  return out;
}

function environmentWithoutSources(env: Record<string, unknown>): Record<string, unknown> {
  const { sources: _s, ...rest } = env;
  return rest;
}

export async function runBacktest(history: AsyncIterable<HistoryEvent>, spec: BacktestSpec): Promise<BacktestResult> {
  const external = new RecordedHolds();
  const laneOpts = { ruleId: spec.ruleId, otherRules: spec.otherRules, assumedRunSeconds: spec.assumedRunSeconds, external };
  const candidate = new Lane(spec.candidate, laneOpts);
  const baseline = spec.baseline ? new Lane(spec.baseline, laneOpts) : undefined;
  const tallies = { candidate: new LaneTally(), baseline: baseline ? new LaneTally() : undefined };
  const vsCurrent = baseline ? new DiffTally() : undefined;
  const vsRecorded = spec.ruleId ? new DiffTally() : undefined;
  const agreement = { same: 0, of: 0 };
  const services = new Set<string>();
  for (const lane of [spec.candidate, spec.baseline]) for (const v of lane?.versions ?? []) for (const s of v.rule.services) services.add(s);
  const anyService = services.has('*');

  const needsHolds = candidate.needsHolds || Boolean(baseline?.needsHolds);
  const incidents = new Map<string, ReplayedIncident>();
  /** Incidents whose last event that named a service named one of the simulated rules'. */
  const onRuleService = new Set<string>();
  const items: BacktestItem[] = [];
  let totalItems = 0;
  let pageChars = 0;
  let read = 0;
  let reported = 0;
  let stale = 0;
  const fromMs = spec.from.getTime();
  const toMs = spec.to.getTime();
  const noWindows: readonly TimeWindow[] = [];
  let turnAt = spec.budget.clock();

  for await (const ev of history) {
    read += 1;
    if (read > spec.budget.maxEvents) {
      throw new BacktestLimitError('events', read - 1, ev.receivedAt, `more than ${spec.budget.maxEvents} events`);
    }
    // Every event: one event's cost is bounded, a count of them is not (found in review: checked every
    // 256 events, a 30 s budget answered 200 after 69 s of a blocked loop).
    const now = spec.budget.clock();
    if (now > spec.budget.deadline) throw new BacktestLimitError('time', read - 1, ev.receivedAt, 'the time budget ran out');
    if (now - turnAt > YIELD_EVERY_MS) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      turnAt = spec.budget.clock();
    }
    const atMs = ev.receivedAt.getTime();
    if (atMs >= toMs) break;
    const inWindow = atMs >= fromMs;

    // Replay only the events a simulated rule can act on; every event still feeds the recorded holds. An
    // event is on the service it names, else on the one its incident's last such event named: the service
    // the live matcher saw it on. The incidents row's service is the one the incident is on now, so an
    // incident moved to another service since was on the rules' service for its earlier events (found in
    // review: a rule of the first service reported no match where it had matched live); every event of an
    // incident on the rules' service now is replayed as before.
    let relevant = false;
    if (ev.event !== null) {
      const named = namedService(ev.event);
      if (named !== undefined) {
        if (services.has(named)) onRuleService.add(ev.incidentId);
        else onRuleService.delete(ev.incidentId);
      }
      relevant =
        anyService ||
        (ev.incident.serviceId !== null && services.has(ev.incident.serviceId)) ||
        (named !== undefined ? services.has(named) : onRuleService.has(ev.incidentId));
    }
    if (relevant) {
      const step = replayEvent(incidents.get(ev.incidentId), ev, spec.extractors);
      const facts = step.incident.facts;
      if (facts.status === 'resolved') incidents.set(ev.incidentId, { ...step.incident, facts: { ...facts, alerts: null } });
      else incidents.set(ev.incidentId, step.incident);
      if (step.stale && inWindow) stale += 1;

      const recordedOwn = spec.ruleId ? ev.matches.find((m) => m.ruleId === spec.ruleId) : undefined;
      const envName = typeof facts.environment.environment === 'string' ? facts.environment.environment : null;
      const report =
        inWindow &&
        (!spec.filters.services || (facts.service_id !== null && spec.filters.services.has(facts.service_id))) &&
        (!spec.filters.environments || (envName !== null && spec.filters.environments.has(envName)));

      if (!step.stale && !step.ownNote) {
        let built: ReturnType<typeof incidentContext> | undefined;
        const ctx = () => (built ??= incidentContext(facts, step.event, ev.eventType));
        const target = targetOf(facts.environment);
        const input = {
          ev,
          at: ev.receivedAt,
          ctx,
          serviceId: facts.service_id ?? undefined,
          incidentStatus: facts.status,
          target,
          environmentWindows: envName !== null ? (spec.environmentWindows.get(envName) ?? noWindows) : noWindows,
          environmentTeam: envName !== null && spec.environmentTeams?.has(envName) ? { name: envName, team: spec.environmentTeams.get(envName)! } : undefined,
        };
        const c = candidate.decide(input);
        const b = baseline?.decide(input);
        if (report) {
          reported += 1;
          const service = { id: facts.service_id, name: facts.service_name };
          const refusedC = argsRefusals(c, ctx);
          const refusedB = b ? argsRefusals(b, ctx) : [];
          tallies.candidate.add(c, atMs, service, envName, refusedC);
          if (b) tallies.baseline!.add(b, atMs, service, envName, refusedB);
          const changes: BacktestItem['changes'] = {};
          if (b) {
            const ch = change(verdictOf(c), verdictOf(b));
            if (ch) changes.vsCurrent = ch;
            vsCurrent!.add(ch, ev.incidentId);
          }
          if (spec.ruleId) {
            const rec: Verdict = { matched: Boolean(recordedOwn), suppressed: recordedOwn?.decision === 'skipped' || recordedOwn?.decision === 'notify_only' };
            const ch = change(verdictOf(c), rec);
            if (ch) changes.vsRecorded = ch;
            vsRecorded!.add(ch, ev.incidentId);
            if (c.matched || recordedOwn) {
              agreement.of += 1;
              if (agrees(c, recordedOwn)) agreement.same += 1;
            }
          }
          const wanted =
            spec.page.only === 'all' ||
            (spec.page.only === 'applies' && (c.applies || Boolean(b?.applies) || Boolean(recordedOwn))) ||
            (spec.page.only === 'matched' && (c.matched || Boolean(b?.matched) || Boolean(recordedOwn))) ||
            (spec.page.only === 'changed' && (changes.vsCurrent !== undefined || changes.vsRecorded !== undefined));
          if (wanted) {
            if (totalItems >= spec.page.offset && items.length < spec.page.limit && pageChars < MAX_PAGE_CHARS) {
              const item: BacktestItem = {
                seq: ev.seq,
                eventId: ev.eventId,
                eventType: ev.eventType,
                at: ev.receivedAt.toISOString(),
                incident: { id: ev.incidentId, title: facts.title, status: facts.status, serviceId: facts.service_id, serviceName: facts.service_name, htmlUrl: facts.html_url },
                environment: environmentWithoutSources(facts.environment),
                target: target ?? null,
                candidate: laneOutcome(c, ctx(), refusedC),
                ...(b ? { baseline: laneOutcome(b, ctx(), refusedB) } : {}),
                ...(spec.ruleId ? { recorded: recordedOwn ? recordedOutcome(recordedOwn) : null } : {}),
                changes,
              };
              items.push(item);
              pageChars += JSON.stringify(item).length;
            }
            totalItems += 1;
          }
        }
      } else if (report) {
        reported += 1;
      }
    }

    // Runs other rules really made hold their targets from this event on (this rule's own are simulated),
    // as long as live concurrency counted them: until their lease was released or expired. Until the run's
    // last action ended, and for ever while one never did, held the host past its lease (found in review: a
    // run left `running` made every later match on its host a skip, where the live planner ran it). With no
    // lease recorded (purged after the week cooldown needs), until the run ended, or for the assumed run
    // time when it never did: its lease expired by the time it was purged.
    if (needsHolds) {
      for (const m of ev.matches) {
        if (m.ruleId === spec.ruleId || m.decision !== 'run' || m.target === null) continue;
        if (m.leaseEndedAt) external.add(m.target, m.leaseEndedAt.getTime());
        else if (m.run) external.add(m.target, !m.run.open && m.run.endedAt ? m.run.endedAt.getTime() : atMs + spec.assumedRunSeconds * 1000);
      }
    }
  }

  const summary: BacktestResult['summary'] = {
    window: { from: spec.from.toISOString(), to: spec.to.toISOString(), warmupFrom: spec.warmupFrom.toISOString() },
    events: { read, reported, stale },
    candidate: tallies.candidate.summary(spec.from, spec.to),
    ...(tallies.baseline ? { baseline: tallies.baseline.summary(spec.from, spec.to) } : {}),
    ...(vsCurrent ? { vsCurrent: vsCurrent.summary() } : {}),
    ...(vsRecorded ? { vsRecorded: { ...vsRecorded.summary(), agreement } } : {}),
    assumedRunSeconds: spec.assumedRunSeconds,
  };
  return { summary, items, totalItems };
}

function recordedOutcome(m: RecordedMatch): RecordedOutcome {
  const policy = policyOfRecorded(m.decision, m.skipReason);
  return { version: m.ruleVersion, decision: m.decision, ...(policy ? { policy } : {}), reason: m.skipReason };
}
