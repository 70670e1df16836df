// One durable workflow per PagerDuty incident: take each event in turn (triage: persist, enrich, extract,
// match), start a rule-run workflow per matched rule, cancel them on resolve, continue as new before the
// history grows long (carrying the rule runs still going), and once resolved with nothing running, linger
// for late events and complete. Deterministic orchestration only: every read of the clock, network or
// database is an activity.
import { condition, continueAsNew, setHandler } from '@temporalio/workflow';
import type { IncidentEventMessage, IncidentWorkflowInput, IncidentWorkflowResult } from '../src/contracts/index.js';
import { incidentEventSignal, incidentStateQuery, ruleRunFinishedSignal } from './messages.js';
import {
  cancelOnResolve,
  canCarry,
  carried,
  endFullTask,
  parkPending,
  parksBacklog,
  settleBeforeContinueAsNew,
  shouldContinueAsNew,
  startRuleRuns,
  takeEvent,
  takeParkedEvent,
  taskEnded,
  waitForRuleRuns,
  type IncidentRun,
} from './incident-steps.js';

export type { IncidentWorkflowInput, IncidentWorkflowResult };

export async function incidentWorkflow(input: IncidentWorkflowInput): Promise<IncidentWorkflowResult> {
  const run: IncidentRun = {
    incidentId: input.incidentId,
    status: input.carried?.status ?? 'triggered',
    pending: [...(input.carried?.pending ?? [])],
    seen: new Set(input.carried?.seenEventIds ?? []),
    running: new Map((input.carried?.running ?? []).map((r) => [r.id, r])),
    unconfirmed: 0,
    starting: new Set(),
    cancelAfterStart: new Set(),
    eventsProcessed: 0,
    ruleRuns: 0,
    taskBytes: 0,
    parkedAfter: input.carried?.parkedAfter,
  };

  // Rule runs started by an earlier run: their end reaches this one only by their signal.
  const carriedIds = new Set((input.carried?.running ?? []).map((r) => r.id));

  // A delivery already taken or queued is dropped here; one that slips past (a run that continued as new
  // with a shorter memory, a delivery to a new run after the last one completed) stops at triage.
  setHandler(incidentEventSignal, (msg: IncidentEventMessage) => {
    if (run.seen.has(msg.eventId) || run.pending.some((p) => p.eventId === msg.eventId)) return;
    run.pending.push(msg);
  });
  setHandler(ruleRunFinishedSignal, (done) => {
    run.running.delete(done.id);
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
    // Events queued together are taken in as many workflow tasks as their triage results and rule-run
    // starts need: one task's completion is one request, which Temporal refuses past 4 MB.
    await endFullTask(run, input.taskBytesLimit);
    // Checked before every event, so a steady stream of events cannot keep one run growing. Queued events
    // that would not fit in the next run's input are parked in Postgres (older histories held the
    // continue-as-new back and took the next event instead).
    const due = shouldContinueAsNew(input.historyLimit, input.historyBytesLimit);
    const fits = due && canCarry(run, input.carryBytesLimit);
    if (fits || (due && parksBacklog())) {
      // Not before the rule runs it started are started and its cancel requests delivered: it carries them.
      await settleBeforeContinueAsNew(run);
      await parkPending(run, input.carryBytesLimit);
      await continueAsNew<typeof incidentWorkflow>({
        incidentId: run.incidentId,
        lingerSeconds: input.lingerSeconds,
        historyLimit: input.historyLimit,
        ...(input.historyBytesLimit !== undefined ? { historyBytesLimit: input.historyBytesLimit } : {}),
        ...(input.carryBytesLimit !== undefined ? { carryBytesLimit: input.carryBytesLimit } : {}),
        ...(input.taskBytesLimit !== undefined ? { taskBytesLimit: input.taskBytesLimit } : {}),
        ...(input.carriedCheckSeconds !== undefined ? { carriedCheckSeconds: input.carriedCheckSeconds } : {}),
        ...(input.revision !== undefined ? { revision: input.revision } : {}),
        carried: carried(run),
      });
    }
    // Parked events first: they queued before any event signalled to this run.
    if (run.parkedAfter !== undefined) {
      const resolvedBefore = run.status === 'resolved';
      const parked = await takeParkedEvent(run);
      if (parked) {
        cancelOnResolve(run, resolvedBefore);
        if (parked.taken.act) startRuleRuns(run, parked, parked.taken.environment, parked.taken.plans);
        continue;
      }
    }
    const next = run.pending.shift();
    // A redelivery of a parked event, signalled before that was taken: taken already.
    if (next && run.seen.has(next.eventId)) continue;
    if (next) {
      const resolvedBefore = run.status === 'resolved';
      const taken = await takeEvent(run, next);
      cancelOnResolve(run, resolvedBefore);
      if (taken.act) startRuleRuns(run, next, taken.environment, taken.plans);
      continue;
    }
    if (run.status === 'resolved' && run.running.size === 0) {
      // Complete only with nothing running: a rule run always has its incident workflow to report to.
      const more = await condition(() => run.pending.length > 0 || run.running.size > 0, `${linger} seconds`);
      taskEnded(run);
      if (!more) break;
      continue;
    }
    await waitForRuleRuns(run, carriedIds, input.carriedCheckSeconds);
    taskEnded(run);
  }
  return { incidentId: run.incidentId, status: run.status, eventsProcessed: run.eventsProcessed, ruleRuns: run.ruleRuns };
}
