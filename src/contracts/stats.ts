// The answers of GET /api/stats, GET /api/rules/{id}/stats and GET /api/automation as their clients (the CLI
// and the dashboard) read them, and the two ways both print a figure. Pure: no I/O.

export interface TimeToResolve {
  count: number;
  medianSeconds: number | null;
  /** Counts per bucket of `timeToResolve.bucketsSeconds` (≤ bound), the last above every bound. */
  histogram: number[];
}

export interface DayCount {
  day: string;
  runs: number;
  verified: number;
}

export interface RunStats {
  runs: number;
  /** Runs whose actions all ended (none waiting or running) and at least one ran. */
  finishedRuns: number;
  succeededRuns: number;
  successRate: number | null;
  verification: { verified: number; unverified: number; pending: number; notApplicable: number };
  /** verified / (verified + unverified): not_applicable and pending are left out. */
  verifiedRate: number | null;
  dryRuns: number;
  /** Matches skipped by a policy, per policy (the skip reason up to its first colon). */
  suppressed: { policy: string; count: number }[];
  /** Targets the flapping policy kept automation away from, with how often. */
  flappingTargets: { target: string; count: number }[];
}

export interface StatsAnswer extends RunStats {
  range: { since: string; until: string };
  incidents: { 'auto-remediated': number; assisted: number; human: number; open: number };
  autoRemediatedShare: number | null;
  timeToResolve: { bucketsSeconds: number[]; withAutomation: TimeToResolve; withoutAutomation: TimeToResolve };
  daily: DayCount[];
  truncated: boolean;
  rule?: { id: string; name: string; enabled: boolean; liveSince: string | null };
  rules?: { id: string; name: string; runs: number; successRate: number | null; verifiedRate: number | null; autoRemediatedShare: number | null; suppressed: number }[];
}

/** A pause of automation by a guard (GET /api/automation). */
export interface AutomationPauseView {
  id: string;
  scope: 'fleet' | 'environment';
  environment: string | null;
  guard: string;
  reason: string;
  incidentId: string | null;
  pausedAt: string;
  resumedAt: string | null;
  resumedBy: string | null;
}

export interface AutomationStatusView {
  paused: boolean;
  pauses: AutomationPauseView[];
  history: AutomationPauseView[];
  guards: { maxTargets: number; maxTargetPercent: number; window: string; maxActionsPerMinute: number; flapping: { max: number; window: string }; pageChannels: string[] };
}

/** A rate as a percentage; `–` when unknown (nothing to divide). */
export const percent = (r: number | null | undefined): string => (r === null || r === undefined ? '–' : `${Math.round(r * 100)}%`);

/** Seconds for reading, two units at most: 750 → `12m 30s`, 7200 → `2h`; `–` when unknown. */
export function humanSeconds(s: number | null | undefined): string {
  if (s === null || s === undefined) return '–';
  const parts: string[] = [];
  let left = Math.round(s);
  for (const [unit, size] of [['d', 86_400], ['h', 3600], ['m', 60]] as const) {
    if (left >= size) {
      parts.push(`${Math.floor(left / size)}${unit}`);
      left %= size;
    }
  }
  if (left > 0 || parts.length === 0) parts.push(`${left}s`);
  return parts.slice(0, 2).join(' ');
}
