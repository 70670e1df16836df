// One durable workflow per PagerDuty incident: take each event in turn (triage: persist, enrich, extract,
// match), start the matched rules' runs, cancel them on resolve, and linger for late events once resolved.
// Deterministic orchestration only; every read of the clock, network or database is an activity.
import { ApplicationFailure, condition, continueAsNew, setHandler } from '@temporalio/workflow';
import type { ApprovalDecision, IncidentEventMessage, IncidentWorkflowInput, IncidentWorkflowResult } from '../src/contracts/index.js';
import { approvalSignal, incidentEventSignal, incidentStateQuery } from './messages.js';
import { cancelOnResolve, shouldContinueAsNew, startRuleRuns, triageEvent, type IncidentRun } from './incident-steps.js';

export type { IncidentWorkflowInput, IncidentWorkflowResult };

export async function incidentWorkflow(input: IncidentWorkflowInput): Promise<IncidentWorkflowResult> {
  const run: IncidentRun = {
    incidentId: input.incidentId,
    status: input.carried?.status ?? 'triggered',
    pending: [...(input.carried?.pending ?? [])],
    seen: new Set(input.carried?.seenEventIds ?? []),
    running: new Map(),
    approvals: new Map<string, ApprovalDecision>(),
    awaiting: new Set<string>(),
    eventsProcessed: 0,
    actionRuns: 0,
  };

  setHandler(incidentEventSignal, (msg: IncidentEventMessage) => {
    if (run.seen.has(msg.eventId) || run.pending.some((p) => p.eventId === msg.eventId)) return;
    run.pending.push(msg);
  });
  setHandler(approvalSignal, (d) => {
    run.approvals.set(d.actionRunId, d);
  });
  setHandler(incidentStateQuery, () => ({
    incidentId: run.incidentId,
    status: run.status,
    eventsSeen: run.seen.size,
    pendingEvents: run.pending.length,
    runningRules: [...run.running.keys()],
  }));

  const linger = input.lingerSeconds ?? 300;
  for (;;) {
    const next = run.pending.shift();
    if (next) {
      const triaged = await triageEvent(run, next);
      cancelOnResolve(run);
      if (triaged.act) startRuleRuns(run, next, triaged.environment, triaged.plans);
      continue;
    }
    if (run.status === 'resolved' && run.running.size === 0) {
      const more = await condition(() => run.pending.length > 0, `${linger} seconds`);
      if (!more) break;
      continue;
    }
    if (shouldContinueAsNew(run, input.historyLimit)) {
      await continueAsNew<typeof incidentWorkflow>({
        incidentId: run.incidentId,
        lingerSeconds: input.lingerSeconds,
        historyLimit: input.historyLimit,
        ...(input.revision !== undefined ? { revision: input.revision } : {}),
        carried: { status: run.status, seenEventIds: [...run.seen].slice(-500), pending: run.pending, running: [] },
      });
    }
    const runningBefore = run.running.size;
    await condition(() => run.pending.length > 0 || run.running.size < runningBefore);
  }
  if (run.running.size > 0) throw ApplicationFailure.nonRetryable('incident workflow ended with remediation still running');
  return { incidentId: run.incidentId, status: run.status, eventsProcessed: run.eventsProcessed, ruleRuns: run.actionRuns };
}
