// Whether automation earns its keep (issue 22): each incident labelled by who fixed it, and the pure
// arithmetic of the effectiveness statistics (rates, medians, histograms). No I/O: the service reads the
// rows (src/services/stats.ts) and hands them here.

/** Who fixed an incident. */
export type IncidentLabel = 'auto-remediated' | 'assisted' | 'human';
export const INCIDENT_LABELS: readonly IncidentLabel[] = ['auto-remediated', 'assisted', 'human'];

/** One stored PagerDuty event of the incident, as the classifier needs it. */
export interface LabelEvent {
  type: string;
  at: Date;
  /** The PagerDuty `agent.type` of the event (`user_reference` for a person), or null. */
  agentType: string | null;
  /** The event is the echo of a write Self-healing made (pagerduty_writes.matched_event_id). */
  ownWrite: boolean;
}

export interface LabelAction {
  type: string;
  status: string;
  startedAt: Date | null;
  finishedAt: Date | null;
}

/** One rule match that ran actions on the incident. */
export interface LabelRemediation {
  ruleId: string;
  actions: LabelAction[];
  /** How long after its actions succeeded a resolve still counts as theirs (the rule's verify.within, else the default). */
  windowMs: number;
  /** rule_matches.verification: pending | verified | unverified | not_applicable | null. */
  verification: string | null;
}

export interface LabelInput {
  status: string;
  resolvedAt: Date | null;
  events: LabelEvent[];
  remediations: LabelRemediation[];
}

export interface Classification {
  label: IncidentLabel;
  /** False while the incident is open: the label may still change. */
  final: boolean;
  reason: string;
}

/** The window a resolve must fall in when the rule declares no `verify.within`. */
export const DEFAULT_WINDOW_MS = 30 * 60_000;

/** Events a person makes on an incident: taking it, handing it on, writing on it, changing its priority, resolving it. */
export const HUMAN_WRITE_TYPES: ReadonlySet<string> = new Set([
  'incident.acknowledged',
  'incident.unacknowledged',
  'incident.reassigned',
  'incident.delegated',
  'incident.escalated',
  'incident.annotated',
  'incident.priority_updated',
  'incident.responder.added',
  'incident.status_update_published',
  'incident.resolved',
]);

/** A stored webhook payload (`{ event: { event_type, occurred_at, agent } }`) as a {@link LabelEvent}; undefined without a time. */
export function labelEventOf(payload: unknown, fallback: { type: string; at: Date | null }, ownWrite: boolean): LabelEvent | undefined {
  const event = (payload as { event?: { event_type?: unknown; occurred_at?: unknown; agent?: { type?: unknown } | null } } | null)?.event;
  const when = typeof event?.occurred_at === 'string' ? new Date(event.occurred_at) : fallback.at;
  if (!when || Number.isNaN(when.getTime())) return undefined;
  const agentType = typeof event?.agent?.type === 'string' ? event.agent.type : null;
  return { type: typeof event?.event_type === 'string' ? event.event_type : fallback.type, at: when, agentType, ownWrite };
}

/** Notifications tell people; they fix nothing, so they do not make an incident "ours". */
const isRemediation = (type: string): boolean => !type.startsWith('notify.');
const ran = (a: LabelAction): boolean => (a.status === 'succeeded' || a.status === 'failed') && a.startedAt !== null;
const isPerson = (agentType: string | null): boolean => agentType === 'user_reference' || agentType === 'user';

/** A person's write: a human-write event type whose agent is a user and which is not the echo of our own write. */
export function isHumanWrite(e: LabelEvent): boolean {
  return HUMAN_WRITE_TYPES.has(e.type) && isPerson(e.agentType) && !e.ownWrite;
}

/**
 * Label an incident:
 * - `human`: no remediation action of ours ran (notifications do not count);
 * - `auto-remediated`: a remediation's actions all succeeded (or its verification said `verified`), the
 *   incident resolved after they started and within the rule's window after they finished, and no person
 *   wrote on the incident from our first action to the resolve (the resolve included);
 * - `assisted`: our actions ran, but a person acted, or they failed, or the resolve came too late.
 */
export function classifyIncident(input: LabelInput): Classification {
  const resolved = input.status === 'resolved';
  const resolves = input.events.filter((e) => e.type === 'incident.resolved').sort((a, b) => a.at.getTime() - b.at.getTime());
  const resolvedAt = resolved ? (resolves[resolves.length - 1]?.at ?? input.resolvedAt) : null;
  const remediations = input.remediations
    .map((r) => ({ ...r, ran: r.actions.filter((a) => isRemediation(a.type) && ran(a)) }))
    .filter((r) => r.ran.length > 0);
  if (remediations.length === 0) {
    return { label: 'human', final: resolved, reason: 'no remediation action of Self-healing ran on this incident' };
  }
  const firstStart = Math.min(...remediations.flatMap((r) => r.ran.map((a) => a.startedAt!.getTime())));
  const people = input.events
    .filter((e) => isHumanWrite(e) && e.at.getTime() >= firstStart && (resolvedAt === null || e.at.getTime() <= resolvedAt.getTime()))
    .sort((a, b) => a.at.getTime() - b.at.getTime());
  if (people.length > 0) {
    const p = people[0]!;
    return { label: 'assisted', final: resolved, reason: `a person acted after our actions started (${p.type} at ${p.at.toISOString()})` };
  }
  if (resolvedAt === null) return { label: 'assisted', final: false, reason: 'our actions ran; the incident is still open' };

  const at = resolvedAt.getTime();
  for (const r of remediations) {
    if (r.verification === 'unverified') continue;
    const succeeded = r.ran.every((a) => a.status === 'succeeded');
    if (!succeeded) continue;
    const start = Math.min(...r.ran.map((a) => a.startedAt!.getTime()));
    const end = Math.max(...r.ran.map((a) => (a.finishedAt ?? a.startedAt!).getTime()));
    if (r.verification === 'verified' || (at >= start && at <= end + r.windowMs)) {
      return { label: 'auto-remediated', final: true, reason: `resolved ${Math.round((at - end) / 1000)} s after rule ${r.ruleId}'s actions succeeded, with no person acting` };
    }
  }
  const failed = remediations.some((r) => r.ran.some((a) => a.status === 'failed'));
  const unverified = remediations.some((r) => r.verification === 'unverified');
  return {
    label: 'assisted',
    final: true,
    reason: unverified ? 'our remediation was not verified' : failed ? 'an action of ours failed' : "the resolve came outside the rule's window after our actions",
  };
}

/**
 * An incident's label as one rule earned it: classified over that rule's own remediations only, with the
 * incident's events as they are. The per-rule auto-remediated share asks what the rule fixed alone, so
 * another rule's fix on the same incident must not count as this one's: a rule whose own run failed or was
 * unverified stays `assisted` whoever fixed the incident, and one whose own actions never ran is `human`.
 */
export function classifyForRule(input: LabelInput, ruleId: string): Classification {
  return classifyIncident({ ...input, remediations: input.remediations.filter((r) => r.ruleId === ruleId) });
}

/**
 * A duration as rules write it (`90s`, `10m`, `2h`, `1d`, or a number of seconds) in milliseconds;
 * undefined when it is none of these.
 */
export function durationMs(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) return value * 1000;
  if (typeof value !== 'string') return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/.exec(value.trim());
  if (!m) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

/** The window of a rule definition: its `verify.within`, else {@link DEFAULT_WINDOW_MS}. */
export function ruleWindowMs(definition: unknown): number {
  const verify = (definition as { verify?: { within?: unknown } } | null)?.verify;
  return durationMs(verify?.within) ?? DEFAULT_WINDOW_MS;
}

// ---- arithmetic of the statistics --------------------------------------------------------------------

/** The median of some numbers (mean of the middle two for an even count), or null for none. */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** part / whole, or null when there is no whole (a rate of nothing is unknown, not 0). */
export const rate = (part: number, whole: number): number | null => (whole > 0 ? part / whole : null);

/** Upper bounds (seconds) of the time-to-resolve histogram: 1 min … 1 day, then everything longer. */
export const TTR_BUCKETS_SECONDS = [60, 300, 600, 1800, 3600, 7200, 14_400, 43_200, 86_400] as const;

/** How many values fall in each bucket (value ≤ bound, above the previous bound); the last count is above every bound. */
export function histogram(values: readonly number[], bounds: readonly number[] = TTR_BUCKETS_SECONDS): number[] {
  const counts = new Array<number>(bounds.length + 1).fill(0);
  for (const v of values) {
    const i = bounds.findIndex((b) => v <= b);
    counts[i === -1 ? bounds.length : i]! += 1;
  }
  return counts;
}

/** Counts of each label among final classifications. */
export function labelCounts(labels: readonly Classification[]): Record<IncidentLabel, number> {
  const out: Record<IncidentLabel, number> = { 'auto-remediated': 0, assisted: 0, human: 0 };
  for (const l of labels) if (l.final) out[l.label] += 1;
  return out;
}
