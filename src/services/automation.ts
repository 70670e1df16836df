// Automation pause and resume (issue 22): what the API and the CLI call. A guard crossing pauses
// automation (activities/guards.ts); only an admin resumes it, recorded in the audit log in the same
// transaction. Resuming also restarts the guard's windows: remediations before the resume no longer count.
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { writeAudit } from '../db/repositories/audit.js';
import { activePauses, lockGuards, recentPauses, resumePauses, type AutomationPause } from '../db/repositories/guards.js';
import type { AutomationPauseView, AutomationStatusView } from '../contracts/stats.js';
import { formatDuration, type GuardConfig } from '../domain/guards.js';
import type { Actor } from './actor.js';
import { visibleTeams } from './team-access.js';

/** What the API answers (src/contracts/stats.ts is the one definition the CLI and the dashboard read too). */
export type PauseView = AutomationPauseView;
export type AutomationStatus = AutomationStatusView;

export const pauseView = (p: AutomationPause): PauseView => ({
  id: String(p.id),
  scope: p.scope === 'environment' ? 'environment' : 'fleet',
  environment: p.scope === 'environment' ? p.environment : null,
  guard: p.guard,
  reason: p.reason,
  incidentId: p.incident_id,
  pausedAt: p.paused_at.toISOString(),
  resumedAt: p.resumed_at ? p.resumed_at.toISOString() : null,
  resumedBy: p.resumed_by,
});

/**
 * The pauses `actor` may see (every one for a global admin): fleet-wide ones, and those of environments of
 * the teams it reads or of no team (an environment not registered). Another team's environment pause is
 * that team's business, and only a global admin resumes it.
 */
export async function automationStatus(db: Kysely<Database>, guards: GuardConfig, actor: Actor): Promise<AutomationStatus> {
  const teams = visibleTeams(actor);
  const [active, history] = await Promise.all([activePauses(db, teams), recentPauses(db, 20, teams)]);
  return {
    paused: active.some((p) => p.scope === 'fleet'),
    pauses: active.map(pauseView),
    history: history.map(pauseView),
    guards: {
      maxTargets: guards.maxTargets,
      maxTargetPercent: guards.maxTargetPercent,
      window: formatDuration(guards.windowSeconds),
      maxActionsPerMinute: guards.maxActionsPerMinute,
      flapping: { max: guards.flapping.max, window: formatDuration(guards.flapping.windowSeconds) },
      pageChannels: [...(guards.page.slackWebhookRef ? ['slack'] : []), ...(guards.page.email.length > 0 ? ['email'] : [])],
    },
  };
}

/** Lift the pause of a scope (under the guards' lock, so no decision sees half of it); [] when none was in force. */
export async function resumeAutomation(db: Kysely<Database>, r: { scope: 'fleet' | 'environment'; environment?: string | undefined; actor: string }): Promise<PauseView[]> {
  return db.transaction().execute(async (trx) => {
    await lockGuards(trx);
    const lifted = await resumePauses(trx, { scope: r.scope, environment: r.scope === 'environment' ? (r.environment ?? '') : '', actor: r.actor, at: new Date() });
    for (const p of lifted) {
      await writeAudit(trx, { actor: r.actor, action: 'automation.resume', entityType: 'automation_pause', entityId: String(p.id), before: { guard: p.guard, reason: p.reason }, after: pauseView(p) });
    }
    return lifted.map(pauseView);
  });
}
