// Incidents as the API reads them, and the approval gate: a decision is recorded in Postgres with the
// authenticated actor first (atomically: only while the action still waits and nobody decided), then the
// waiting rule run is nudged; it acts on the decision it reads back from Postgres, never on the signal.
// The author of the rule version that planned the action may not approve it.
import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { SIGNALS } from '../contracts/index.js';
import type { Database } from '../db/database.js';
import { findActionRun, recordApprovalDecision, ruleVersionAuthor } from '../db/repositories/action-runs.js';
import { findIncident, listActionRuns, listEvents, listIncidents, listMatches } from '../db/repositories/incidents.js';
import { ruleTeam } from '../db/repositories/teams.js';
import { DEFAULT_TEAM } from '../domain/teams.js';
import type { Logger } from '../logger.js';
import type { Actor } from './actor.js';
import { ConflictError, ForbiddenError, NotFoundError } from './errors.js';
import { requireTeam } from './team-access.js';

export type IncidentFilter = Parameters<typeof listIncidents>[1];

function describeDecision(d: unknown): string {
  const x = d as { decision?: string; actor?: string };
  return `${x.decision ?? '?'} by ${x.actor ?? '?'}`;
}

export function incidentService(deps: { db: Kysely<Database>; temporal: Client; logger: Logger }) {
  const { db } = deps;
  return {
    list: (filter: IncidentFilter) => listIncidents(db, filter),

    /** One incident with its events, rule matches and action runs. */
    async get(id: string) {
      const incident = await findIncident(db, id);
      if (!incident) throw new NotFoundError(`incident ${id} is not known`);
      const [events, matches, actionRuns] = await Promise.all([listEvents(db, id), listMatches(db, id), listActionRuns(db, id)]);
      return { incident, events, matches, actionRuns };
    },

    /** Records an approval decision and tells the waiting rule run; `delivered` is false when it could not be reached. */
    async decide(actor: Actor, incidentId: string, actionRunId: string, input: { decision: 'approve' | 'reject'; comment?: string | undefined }) {
      const run = await findActionRun(db, actionRunId);
      if (!run || run.incident_id !== incidentId) throw new NotFoundError(`action run ${actionRunId} of incident ${incidentId} is not known`);
      // Only an approver of the team owning the rule that planned the action may decide it (issue 24).
      const team = (run.rule_id !== null ? await ruleTeam(db, run.rule_id) : undefined) ?? DEFAULT_TEAM;
      requireTeam(actor, 'approver', team, `action run ${actionRunId}`);
      const author = run.rule_id !== null && run.rule_version !== null ? await ruleVersionAuthor(db, run.rule_id, run.rule_version) : undefined;
      if (author === undefined) throw new ForbiddenError(`the author of the rule version that planned ${actionRunId} is not recorded, so nobody can be shown to be someone else: it cannot be approved`);
      if (author === actor.name) throw new ForbiddenError(`${actor.name} wrote version ${run.rule_version} of rule ${run.rule_id}: its gated actions need the approval of someone else`);
      const late = (status: string, decided: unknown) =>
        new ConflictError(
          decided ? `action run ${actionRunId} was already decided (${describeDecision(decided)}); status ${status}` : `action run ${actionRunId} is not awaiting approval (status ${status})`,
          { status, ...(decided ? { approval: decided } : {}) },
        );
      if (run.status !== 'awaiting_approval' || run.approval !== null) throw late(run.status, run.approval);
      const decision = { decision: input.decision, actor: actor.name, at: new Date().toISOString(), ...(input.comment !== undefined ? { comment: input.comment } : {}) };
      const recorded = await recordApprovalDecision(db, actionRunId, decision, team);
      if (!recorded) {
        // The deadline, a cancellation or another approver got there between our read and our write.
        const now = await findActionRun(db, actionRunId);
        throw late(now?.status ?? 'unknown', now?.approval);
      }
      let delivered = true;
      try {
        if (!run.workflow_id) throw new Error('no rule-run workflow recorded');
        await deps.temporal.workflow.getHandle(run.workflow_id).signal(SIGNALS.approval, { actionRunId });
      } catch (err) {
        // Recorded all the same: the run reads it at its deadline at the latest.
        delivered = false;
        deps.logger.warn({ actionRunId, err: { message: (err as Error).message.split('\n')[0] } }, 'approval recorded; rule run not reached');
      }
      return { actionRunId, decision: input.decision, actor: actor.name, delivered };
    },
  };
}
