// Shapes of the backtest: what the history reader yields (one stored event with what the live pipeline
// recorded for it), what the engine is asked, and what it answers. Pure types.
import type { ExtractorsConfig } from '../extract.js';
import type { PolicyDecisionKind, PolicyKind, RunOutcome } from '../policies.js';
import type { Explanation } from '../rules/evaluate.js';
import type { ArgsRefusal } from '../script-args.js';
import type { Rule } from '../rules/schema.js';
import type { TimeWindow } from '../rules/time-window.js';

/** What the live pipeline did with one rule's match of one event (`rule_matches` and its `action_runs`). */
export interface RecordedMatch {
  ruleId: string;
  ruleVersion: number;
  decision: string;
  skipReason: string | null;
  target: string | null;
  matchedAt: Date;
  /**
   * When its lease on the target stopped counting for concurrency (released when the run ended, else at its
   * expiry, so a run left unfinished stops holding the host); null when no lease is recorded (none taken,
   * or purged with the week's leases); absent: not known (as null).
   */
  leaseEndedAt?: Date | null;
  /** The run's actions as recorded; null when none was (a skipped match, or nothing recorded yet). */
  run: RecordedRun | null;
}

export interface RecordedRun {
  /** When its last action ended; null while one is unfinished. */
  endedAt: Date | null;
  /** An action of it has not finished (still running, or awaiting approval). */
  open: boolean;
  outcome: RunOutcome;
  /** Action runs recorded. */
  actions: number;
}

/** The incident row as stored today (its latest state): the fallback for what an event does not carry. */
export interface StoredIncident {
  id: string;
  number: number | null;
  title: string | null;
  description: string | null;
  status: string;
  urgency: string | null;
  priority: string | null;
  serviceId: string | null;
  serviceName: string | null;
  escalationPolicyId: string | null;
  escalationPolicyName: string | null;
  assignees: { id: string; summary?: string }[];
  htmlUrl: string | null;
  incidentKey: string | null;
  /** The environment extracted last. */
  environment: Record<string, unknown>;
  /** The alerts fetched last; only carried with the events after which alerts are fetched. */
  alerts: unknown[] | null;
}

/** One stored event, in the order the backtest replays them (received time, then storage order). */
export interface HistoryEvent {
  /** `incident_events.id`: the storage order, and the tie-break between events received at once. */
  seq: string;
  eventId: string;
  incidentId: string;
  eventType: string;
  occurredAt: Date | null;
  receivedAt: Date;
  /** The stored `event` object; null when the reader left it out (a service no simulated rule applies to). */
  event: Record<string, unknown> | null;
  incident: StoredIncident;
  /** Every rule's recorded match of this event. */
  matches: RecordedMatch[];
}

/** One version of a rule and from when it was current; `live` = enabled and not deleted. */
export interface RuleVersionSpan {
  /** null: from the beginning. */
  from: Date | null;
  rule: Rule;
  live: boolean;
}

/** A simulated rule: one definition for the whole window, or its versions as they were. */
export interface LaneSpec {
  versions: RuleVersionSpan[];
}

/**
 * What the engine needs to know about the other rules (stopOnMatch ordering), as the version a recorded
 * match names was: the live matcher stopped the rules after it with that version, not the rule as it is now.
 */
export interface OtherRule {
  id: string;
  name: string;
  priority: number;
  stopOnMatch: boolean;
  dryRun: boolean;
  /** Its team: its stopOnMatch stops only its own team's rules. */
  team: string;
}

/** The key of a rule version in {@link BacktestSpec.otherRules}. */
export const otherRuleKey = (id: string, version: number): string => `${id}@${version}`;

export type ItemFilter = 'all' | 'applies' | 'matched' | 'changed';

export interface BacktestSpec {
  /** The rule as asked (new, edited, or a stored one). */
  candidate: LaneSpec;
  /** The stored rule's current version, to diff the candidate with. */
  baseline?: LaneSpec | undefined;
  /** The stored rule's id: its recorded decisions are compared, and its recorded runs are replaced by simulated ones. */
  ruleId?: string | undefined;
  /** The window reported on; events from `warmupFrom` on are simulated so policies start with their state. */
  from: Date;
  to: Date;
  warmupFrom: Date;
  extractors: ExtractorsConfig;
  /** Maintenance windows by environment name. */
  environmentWindows: ReadonlyMap<string, readonly TimeWindow[]>;
  /** The team of each environment, by name; absent: no team check (as before teams). */
  environmentTeams?: ReadonlyMap<string, string> | undefined;
  /**
   * The other rules by otherRuleKey(id, version) of their recorded matches; a key of the id alone stands for
   * every version of that rule.
   */
  otherRules: ReadonlyMap<string, OtherRule>;
  /** How long a simulated run holds its target when no run of that incident on that target was recorded. */
  assumedRunSeconds: number;
  /** Report only these (the simulation still sees every event). */
  filters: { services?: ReadonlySet<string> | undefined; environments?: ReadonlySet<string> | undefined };
  page: { offset: number; limit: number; only: ItemFilter };
  /** Cost bounds: events read, and a deadline on `clock()` (milliseconds). */
  budget: { maxEvents: number; deadline: number; clock: () => number };
}

export type ChangeKind = 'newly_matched' | 'no_longer_matched' | 'newly_suppressed' | 'no_longer_suppressed';
export const CHANGE_KINDS: readonly ChangeKind[] = ['newly_matched', 'no_longer_matched', 'newly_suppressed', 'no_longer_suppressed'];

export interface RenderedAction {
  id: string;
  type: string;
  when: string;
  /** Parameters with templates rendered against the incident as it was; secret references stay references. */
  params: Record<string, unknown>;
}

export type OutcomeKnown = RunOutcome | 'unknown';

/** What one simulated rule did with one event. */
export interface LaneOutcome {
  /** False when the rule was not evaluated: `skippedBecause` says why. */
  evaluated: boolean;
  skippedBecause?: string;
  version?: number;
  /** The rule's services and event types include this event's. */
  applies: boolean;
  matched: boolean;
  explanation?: Explanation;
  decision?: PolicyDecisionKind;
  policy?: PolicyKind;
  reason?: string;
  /** The actions planned (a run, a dry run, or the notifications of an open breaker). */
  actions?: RenderedAction[];
  /**
   * Planned script actions (and the verify check) whose `args`, rendered for this event, the rule run would
   * refuse: an element whose leading `-` came from the incident (src/domain/script-args.ts). Such an action
   * fails without running, after any approval. Absent when none.
   */
  refusedArgs?: ArgsRefusal[];
  /** For a run: the outcome fed to the circuit breaker and where it came from. */
  outcome?: OutcomeKnown;
  outcomeFrom?: 'this rule' | 'same target' | 'none recorded';
  /** For a run on a target: how long it held the target, and whether that was recorded or assumed. */
  holdSeconds?: number;
  holdFrom?: 'recorded' | 'assumed';
}

export interface RecordedOutcome {
  version: number;
  decision: string;
  policy?: PolicyKind;
  reason: string | null;
}

export interface BacktestItem {
  seq: string;
  eventId: string;
  eventType: string;
  /** When the event was received: the time the backtest decides it at. */
  at: string;
  incident: { id: string; title: string | null; status: string; serviceId: string | null; serviceName: string | null; htmlUrl: string | null };
  environment: Record<string, unknown>;
  target: string | null;
  candidate: LaneOutcome;
  baseline?: LaneOutcome;
  /** The stored rule's recorded match of this event; null when it had none. */
  recorded?: RecordedOutcome | null;
  changes: { vsCurrent?: ChangeKind; vsRecorded?: ChangeKind };
}

export interface HourCount {
  /** Start of the hour (UTC), ISO. */
  hour: string;
  firings: number;
  actions: number;
}

export interface GroupCount {
  key: string;
  name?: string | null;
  matched: number;
  fired: number;
  suppressed: number;
}

export interface LaneSummary {
  /** Events the rule was evaluated on (its service and event type, while it was live). */
  evaluated: number;
  matched: number;
  decisions: Record<PolicyDecisionKind, number>;
  /** Matches suppressed (skipped, or notifications only) by each policy. */
  suppressedBy: Partial<Record<PolicyKind, number>>;
  /**
   * Matches that launch actions: runs, and the notifications an open breaker lets through. Dry runs launch
   * nothing and are not counted (backtest with asLive to see what a dry-run rule would launch).
   */
  firings: number;
  /** Actions those would launch on their success path (`when: success` or `always`). */
  actions: number;
  /** The busiest single hour, whatever perHour's buckets. */
  peakPerHour: HourCount | null;
  /**
   * Buckets of `perHourBucketHours` hours with at least one firing, in time order, each named by its start
   * (`hour`): at most MAX_HOUR_BUCKETS (bounds.ts), so one hour each for a window of up to 33 days.
   */
  perHour: HourCount[];
  /** Hours in each bucket of perHour: 1, or 2 to 24 for a window longer than 33 days (absent from summaries stored before it: 1). */
  perHourBucketHours: number;
  /** The MAX_GROUPS services with the most matches, most first; `byServiceOmitted` counts the services left out. */
  byService: GroupCount[];
  byServiceOmitted: number;
  /** The MAX_GROUPS environments with the most matches, most first; `byEnvironmentOmitted` counts those left out. */
  byEnvironment: GroupCount[];
  byEnvironmentOmitted: number;
  assumptions: {
    /** Runs whose hold on their target was assumed (no run of that incident on that target recorded). */
    holdsAssumed: number;
    /** Runs whose outcome is unknown (the circuit breaker did not count them). */
    outcomesUnknown: number;
  };
  /**
   * Matches (runs and dry runs) with a script action or verify check whose arguments the rule run would
   * refuse for that event (the items say which: `refusedArgs`). A refused action fails without running.
   */
  argsRefused: number;
}

export interface DiffSummary {
  /** Events behind each change (exact). */
  counts: Record<ChangeKind, number>;
  /**
   * Incident ids behind each change, the first {@link MAX_DIFF_INCIDENTS} distinct ones each, an id of more
   * than {@link MAX_INCIDENT_ID_BYTES} left out (an incident id is whatever the webhook carried).
   */
  incidents: Record<ChangeKind, string[]>;
  /**
   * Distinct incidents behind each change left out of `incidents` (past MAX_DIFF_INCIDENTS, an id over
   * MAX_INCIDENT_ID_BYTES, or a summary cut to MAX_STORED_SUMMARY_BYTES): listed plus omitted is every
   * incident behind that change. Absent from summaries stored before it.
   */
  incidentsOmitted: Record<ChangeKind, number>;
}

export interface BacktestSummary {
  window: { from: string; to: string; warmupFrom: string };
  events: {
    /** Events read, warm-up included. */
    read: number;
    /** Events inside the window, of incidents of the rule's services, that pass the filters. */
    reported: number;
    /** Events older than what the incident already held when they arrived: the pipeline did not match them. */
    stale: number;
  };
  candidate: LaneSummary;
  baseline?: LaneSummary;
  vsCurrent?: DiffSummary;
  vsRecorded?: DiffSummary & {
    /** Events where the candidate and the recorded decision agree (both unmatched, or same decision and policy), of the events either matched. */
    agreement: { same: number; of: number };
  };
  assumedRunSeconds: number;
}

export interface BacktestResult {
  summary: BacktestSummary;
  items: BacktestItem[];
  /** Items in the whole result (all pages) under `page.only`. */
  totalItems: number;
}

export const MAX_DIFF_INCIDENTS = 100;

/**
 * Bytes (UTF-8) of an incident id a diff lists at most; a longer one is counted in `incidentsOmitted`, not
 * listed (a PagerDuty id is 7 to 14 characters; one of a hostile webhook may be of up to 256 KiB, and a
 * cut id would name no incident).
 */
export const MAX_INCIDENT_ID_BYTES = 256;

/**
 * Groups (services, environments) a lane summary keeps, those with the most matches: environments are
 * whatever the extractors found in alerts, one group per distinct value, and a summary is stored with
 * the rule version it was attached to and read back by GET /api/rules/{id}/backtests.
 */
export const MAX_GROUPS = 100;
