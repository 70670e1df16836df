// The incident workflow's steps, each small and named: take an event (triage), cancel rule runs on
// resolve, start rule runs, decide when to continue as new and what to carry. They share the run's state.
import {
  ParentClosePolicy,
  condition,
  getExternalWorkflowHandle,
  log,
  patched,
  sleep,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from '@temporalio/common';
import { RULE_RUN_REVISION, ruleRunWorkflowId, type IncidentEventMessage, type IncidentWorkflowInput, type MatchPlan, type RunningRule } from '../src/contracts/index.js';
import { searchAttributes } from '../src/temporal/names.js';
import { db, localDb, localTriage } from './activities.js';
import { ruleRunWorkflow } from './rule-run.js';

/** The state of one incident workflow run. */
export interface IncidentRun {
  incidentId: string;
  status: string;
  /** Events received and not yet taken for processing, in arrival order. */
  pending: IncidentEventMessage[];
  /** Event ids taken for processing (by this run and the runs it continues). */
  seen: Set<string>;
  /** Rule runs in flight, by workflow id (carried across continue-as-new). */
  running: Map<string, RunningRule>;
  /**
   * Child starts and cancel requests this run issued that the server has not confirmed yet (the child's
   * start recorded or refused, the cancel request delivered or refused). Not carried: a run continues as
   * new only once this is 0 (see settleBeforeContinueAsNew).
   */
  unconfirmed: number;
  /** Rule runs whose start the server has not confirmed yet (not carried: see unconfirmed). */
  starting: Set<string>;
  /** Rule runs to cancel once their start is confirmed: a cancel sent earlier may find no workflow yet. */
  cancelAfterStart: Set<string>;
  eventsProcessed: number;
  ruleRuns: number;
  /**
   * UTF-8 bytes of JSON the events taken since the workflow task last ended put in its completion: their
   * triage results (markers) and rule-run starts (see TASK_SLICE_PATCH). Not carried.
   */
  taskBytes: number;
  /**
   * Set while events parked in Postgres may be left to take (see PARK_BACKLOG_PATCH): the id of the last
   * one taken ("0": none yet). Carried.
   */
  parkedAfter?: string | undefined;
}

/**
 * Patch: a run continues as new only once every child start and cancel request it issued is confirmed
 * (before it, a run could close in the task that issued them, and Temporal then never starts an ABANDON
 * child nor delivers the cancel, while the next run carried the rule run as running). Recorded only by a
 * run that had something unconfirmed at that point; older histories replay without it.
 */
export const CONFIRM_BEFORE_CONTINUE_PATCH = 'incident-confirm-before-continue-as-new';
/**
 * Patch: a resolve cancels the rule runs going when the incident became resolved, not those started by the
 * resolve or later (before it, every later event cancelled them). Recorded only where older code would
 * have cancelled such a run; older histories replay with the cancel.
 */
export const CANCEL_AT_RESOLVE_PATCH = 'incident-cancel-only-at-resolve';
/**
 * Patch: a rule run whose start is not confirmed yet (started in the same task as the resolve, as when an
 * alert resolves itself seconds after it fired) is cancelled once its start is. Sent at once, the cancel
 * went in the same task as the start, which Temporal refuses ("Start and RequestCancel for child workflow
 * is not allowed in same workflow task"); the task tried again found both events taken and started no rule
 * run at all. Recorded only where older code sent such a cancel at once; older histories replay with it.
 */
export const CANCEL_AFTER_START_PATCH = 'incident-cancel-after-start';

/**
 * Patch: once resolved, a run waiting on rule runs it carried across continue-as-new asks Temporal every
 * `carriedCheckSeconds` which of them are still open, and stops waiting for the others (a rule run
 * terminated from outside, or ended by Temporal, never signals its end; before it, the incident's run
 * waited forever). Recorded only by a run that waits so; older histories replay without the timer.
 */
export const CARRIED_CHECK_PATCH = 'incident-check-carried-rule-runs';
/** How often a resolved run asks about the rule runs it carried, unless the input says otherwise. */
export const CARRIED_CHECK_SECONDS = 600;

/**
 * Patch: a run continues as new only while the events it would carry fit in the next run's input
 * ({@link MAX_CARRIED_PENDING_BYTES}; Temporal refuses an input past 2 MB and a request past 4 MB). Events
 * queue while a triage is slow: a backlog of 25 notes of 185 KiB made the input 4.6 MB, the command was
 * refused for good ("GRPC message too large") and the run stalled, with 13 accepted events never stored.
 * Past the bound the run takes the next queued event instead (each one taken shrinks the backlog) and
 * continues as new once the rest fits. Recorded only by a run that held back so; older histories replay
 * without it.
 */
export const CARRY_BOUND_PATCH = 'incident-carry-what-fits';
/** UTF-8 bytes of queued events a run carries to the next one at most (see CARRY_BOUND_PATCH). */
export const MAX_CARRIED_PENDING_BYTES = 1024 * 1024;

/**
 * Patch: the events one workflow task takes put at most about {@link MAX_TASK_BYTES} in its completion;
 * past it, the task ends before the next event is taken. Events that reach a run together (delivered while
 * no worker ran, or while a triage was slow) are taken one after the other in one task, each triage a
 * local activity: every triage result (a marker) and rule-run start went in that task's one request, each
 * carrying the rule's template context (up to 256 KiB a run, 1 MiB the plans of one event), and a dozen
 * events of the webhook's 256 KiB made it past Temporal's 4 MB ("GRPC Message too large"). The task
 * failed, was tried again the same way for ever, and the incident took none of them, nor any later event.
 * Recorded only by a run that ended a task so; older histories replay without it.
 */
export const TASK_SLICE_PATCH = 'incident-slice-workflow-task';
/**
 * Bytes the events of one workflow task may put in its completion before the task ends. One event puts
 * in at most about 2 MiB (its plans, 1 MiB, twice: activities/plan.ts MAX_TRIAGE_PLANS_BYTES), so a task
 * stays under 3.1 MiB of Temporal's 4 MB per request.
 */
export const MAX_TASK_BYTES = 1024 * 1024;

/**
 * Patch: a run due to continue as new whose queued events do not fit in the next run's input parks them in
 * Postgres (activities/event-backlog.ts) and carries only how far it got in them; the next run takes the
 * parked events, oldest first, before the events signalled to it. Before it, the run took queued events
 * until the rest fitted (CARRY_BOUND_PATCH), each adding its triage result and rule-run starts to its
 * history: 80 events of 240 KiB queued while no worker ran (19.8 MB of signals) took it past Temporal's
 * 50 MB, which terminated it with 14 accepted events never stored. The same patch makes a run continue as
 * new once its history passes {@link MAX_HISTORY_BYTES}, whatever Temporal suggests. Recorded only by a run
 * that parked or continued as new for its history's size; older histories replay without it.
 */
export const PARK_BACKLOG_PATCH = 'incident-park-backlog';
/**
 * History bytes after which a run continues as new, unless the input says otherwise. Temporal warns at
 * 10 MB and terminates the run at 50 MB (limit.historySize.warn and .error); it suggests continuing as new
 * at 4 MiB by default, but that is the server's setting. A run checks before each event, and an event taken
 * adds at most about 2 MiB, so 8 MiB leaves it short of the warning, and the parking and the
 * continue-as-new add only small markers: signals still delivered meanwhile are all that can grow it more.
 */
export const MAX_HISTORY_BYTES = 8 * 1024 * 1024;
/** UTF-8 bytes of queued events one park (one local activity) takes at most. */
const MAX_PARK_BATCH_BYTES = 4 * 1024 * 1024;

/** History length after which a run continues as new, unless the input says otherwise. */
export const MAX_HISTORY = 8000;
/** Event ids a run carries to the next one (older redeliveries are stopped at triage instead). */
const CARRIED_EVENT_IDS = 500;

export interface Taken {
  /** False when nothing is to be started: a duplicate delivery, a rejected (poison) or a stale event. */
  act: boolean;
  environment: Record<string, unknown>;
  plans: MatchPlan[];
}

/**
 * Take an event for processing: into the seen set first (so a redelivery arriving during triage is
 * dropped), then persist, enrich, extract and match in one local activity. Triage knows the run by id: an
 * event another run already took is a duplicate and stops there.
 */
export async function takeEvent(run: IncidentRun, msg: IncidentEventMessage): Promise<Taken> {
  run.seen.add(msg.eventId);
  const t = await localTriage.triageIncidentEvent({ incidentId: run.incidentId, message: msg, takenBy: workflowInfo().runId });
  // The marker holds the result, not the input (the event travels in its signal, written by the server).
  run.taskBytes += jsonBytes(t);
  run.eventsProcessed += 1;
  run.status = t.recorded.incidentStatus;
  if (t.recorded.rejected) log.warn('event rejected', { incidentId: run.incidentId, eventId: msg.eventId, reason: t.recorded.rejected });
  return { act: !t.recorded.stale && !t.recorded.duplicate && !t.recorded.rejected, environment: t.environment, plans: t.plans };
}

/**
 * When the incident becomes resolved, cancel the rule runs whose rule asks for it (they record it, notify,
 * and report back). `resolvedBefore`: the incident was resolved before this event, so every rule run it
 * could cancel was asked already and the ones left were started by the resolve or after it (a rule on
 * `incident.resolved`): those are not cancelled by the events that follow.
 */
export function cancelOnResolve(run: IncidentRun, resolvedBefore: boolean): void {
  if (run.status !== 'resolved') return;
  for (const r of run.running.values()) {
    if (!r.cancelOnResolve || r.cancelRequested) continue;
    // Older code cancelled these too; its histories hold the request and replay with it.
    if (resolvedBefore && patched(CANCEL_AT_RESOLVE_PATCH)) continue;
    r.cancelRequested = true;
    // Counted now, so a continue-as-new waits for it whether it is sent now or once the start is confirmed.
    run.unconfirmed += 1;
    if (run.starting.has(r.id) && patched(CANCEL_AFTER_START_PATCH)) run.cancelAfterStart.add(r.id);
    else sendCancel(run, r.id);
  }
}

/** Ask a rule run to cancel; `run.unconfirmed` counted it already and is settled when the server answers. */
function sendCancel(run: IncidentRun, id: string): void {
  getExternalWorkflowHandle(id)
    .cancel()
    .then(
      () => {
        run.unconfirmed -= 1;
      },
      (err: unknown) => {
        run.unconfirmed -= 1;
        log.warn('rule run not cancelled', { ruleRunId: id, error: err instanceof Error ? err.message : String(err) });
      },
    );
}

/** Tag the run for search and start one rule-run workflow per matched rule that has something to do. */
export function startRuleRuns(run: IncidentRun, msg: Pick<IncidentEventMessage, 'eventId'>, environment: Record<string, unknown>, plans: MatchPlan[]): void {
  const attributes = [
    ...(typeof environment.environment === 'string' ? [{ key: searchAttributes.environment, value: environment.environment }] : []),
    ...(plans.length > 0 ? [{ key: searchAttributes.ruleIds, value: plans.map((p) => p.ruleId) }] : []),
  ];
  if (attributes.length > 0) upsertSearchAttributes(attributes);
  const parentWorkflowId = workflowInfo().workflowId;
  for (const plan of plans) {
    if (plan.decision === 'skipped' || plan.actions.length === 0) continue;
    const id = ruleRunWorkflowId(run.incidentId, plan.ruleId, msg.eventId);
    run.running.set(id, { id, ruleId: plan.ruleId, cancelOnResolve: plan.cancelOnResolve });
    run.ruleRuns += 1;
    run.unconfirmed += 1;
    run.starting.add(id);
    /** The start is answered: a cancel the resolve held back goes now (a refused start may name a run going). */
    const answered = () => {
      run.starting.delete(id);
      if (run.cancelAfterStart.delete(id)) sendCancel(run, id);
    };
    const ended = (err: unknown) => {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) log.error('rule run failed', { ruleRunId: id, error: err instanceof Error ? err.message : String(err) });
      run.running.delete(id);
    };
    const input = { incidentId: run.incidentId, eventId: msg.eventId, plan, parentWorkflowId, revision: RULE_RUN_REVISION };
    run.taskBytes += jsonBytes(input);
    void startChild(ruleRunWorkflow, {
      workflowId: id,
      args: [input],
      // The rule run outlives this run when it continues as new, and reports its end by signal.
      parentClosePolicy: ParentClosePolicy.ABANDON,
      // One run per incident, rule and event, ever: a second start of the same id is refused.
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
    }).then(
      (child) => {
        answered();
        run.unconfirmed -= 1;
        void child.result().then(() => run.running.delete(id), ended);
      },
      // A start refused (or failed) is handled before it counts as confirmed, so it is never carried.
      (err: unknown) => {
        answered();
        ended(err);
        run.unconfirmed -= 1;
      },
    );
  }
}

/**
 * Before continuing as new: wait until every child start and cancel request this run issued is confirmed.
 * Temporal never starts an ABANDON child whose parent closed first, and drops a cancel request whose
 * requester closed; the next run would carry such a rule run as running forever.
 */
export async function settleBeforeContinueAsNew(run: IncidentRun): Promise<void> {
  if (run.unconfirmed === 0 || !patched(CONFIRM_BEFORE_CONTINUE_PATCH)) return;
  await condition(() => run.unconfirmed === 0);
}

/**
 * Before taking the next queued event: end the workflow task if the events taken in it filled it
 * (`limit`, default {@link MAX_TASK_BYTES}). It waits for the server to confirm the rule-run starts and
 * cancels issued (answered in a later task) or, with none, sleeps a millisecond (a timer fires in a later
 * task). See TASK_SLICE_PATCH.
 */
export async function endFullTask(run: IncidentRun, limit: number | undefined): Promise<void> {
  if ((run.pending.length === 0 && run.parkedAfter === undefined) || run.taskBytes < (limit ?? MAX_TASK_BYTES) || !patched(TASK_SLICE_PATCH)) return;
  if (run.unconfirmed > 0) await condition(() => run.unconfirmed === 0);
  else await sleep(1);
  run.taskBytes = 0;
}

/** A wait on the server (a signal, a rule run's end, a timer) ended the workflow task: it starts empty. */
export function taskEnded(run: IncidentRun): void {
  run.taskBytes = 0;
}

/** UTF-8 bytes of `value`'s JSON, as Temporal's JSON payload converter writes it. */
function jsonBytes(value: unknown): number {
  const text = JSON.stringify(value);
  return text === undefined ? 0 : new TextEncoder().encode(text).length;
}

/**
 * Continue as new when the history is long (events, or bytes: see PARK_BACKLOG_PATCH); rule runs go on in
 * their own workflows and are carried.
 */
export function shouldContinueAsNew(historyLimit: number | undefined, historyBytesLimit?: number): boolean {
  const info = workflowInfo();
  if (info.continueAsNewSuggested || info.historyLength > (historyLimit ?? MAX_HISTORY)) return true;
  return info.historySize > (historyBytesLimit ?? MAX_HISTORY_BYTES) && patched(PARK_BACKLOG_PATCH);
}

/**
 * Resolved and waiting on rule runs: wait for an event or a rule run's end, and, where some of them were
 * carried from an earlier run (whose end this run hears only by their signal), ask Temporal about those
 * every `checkSeconds` and stop waiting for the ones no longer open.
 */
export async function waitForRuleRuns(run: IncidentRun, carriedIds: ReadonlySet<string>, checkSeconds: number | undefined): Promise<void> {
  const runningBefore = run.running.size;
  const changed = () => run.pending.length > 0 || run.running.size !== runningBefore;
  const carriedOnes = () => [...run.running.keys()].filter((id) => carriedIds.has(id));
  if (run.status !== 'resolved' || carriedOnes().length === 0 || !patched(CARRIED_CHECK_PATCH)) {
    await condition(changed);
    return;
  }
  if (await condition(changed, `${checkSeconds ?? CARRIED_CHECK_SECONDS} seconds`)) return;
  const asked = carriedOnes();
  const open = new Set(await localDb.openRuleRuns({ ids: asked }));
  for (const id of asked) {
    if (open.has(id)) continue;
    log.warn('carried rule run no longer open and never reported its end: not waited for', { ruleRunId: id });
    run.running.delete(id);
  }
}

/** Whether the queued events fit in the next run's input (see CARRY_BOUND_PATCH); counted only when a continue-as-new is due. */
export function canCarry(run: IncidentRun, limit?: number): boolean {
  return fits(run.pending, limit) || !patched(CARRY_BOUND_PATCH);
}

/** Whether `messages` fit in a run's input (`limit`, default {@link MAX_CARRIED_PENDING_BYTES}). */
function fits(messages: readonly IncidentEventMessage[], limit = MAX_CARRIED_PENDING_BYTES): boolean {
  let bytes = 0;
  for (const m of messages) {
    bytes += jsonBytes(m);
    if (bytes > limit) return false;
  }
  return true;
}

/**
 * A continue-as-new is due and the queued events do not fit in the next run's input: whether to park them
 * (PARK_BACKLOG_PATCH; older histories took the next event instead).
 */
export function parksBacklog(): boolean {
  return patched(PARK_BACKLOG_PATCH);
}

/**
 * Park every queued event in Postgres, in order, after those parked before (each park a local activity: the
 * events stay out of the history, its marker holds a count), until what is queued fits in the next run's
 * input again (events signalled while a park, or the wait before it, ran). The next run takes them first: they are older than any
 * event it is signalled, and than what this run carries. A retried park (a task failed before the
 * continue-as-new was recorded) parks the same events again, which keep their rows and place.
 */
export async function parkPending(run: IncidentRun, limit?: number): Promise<void> {
  // Older histories continued as new with what was queued (it fitted when they checked).
  if (fits(run.pending, limit) || !patched(PARK_BACKLOG_PATCH)) return;
  const parkedBy = workflowInfo().runId;
  while (!fits(run.pending, limit)) {
    const batch: IncidentEventMessage[] = [];
    let bytes = 0;
    while (run.pending.length > 0 && (batch.length === 0 || bytes + jsonBytes(run.pending[0]) <= MAX_PARK_BATCH_BYTES)) {
      const m = run.pending.shift()!;
      bytes += jsonBytes(m);
      batch.push(m);
    }
    // Taken off the queue before the park: a redelivery signalled meanwhile is queued again, and parked
    // once (its row is kept) or taken after the parked one (and dropped as seen).
    await localDb.parkIncidentEvents({ incidentId: run.incidentId, parkedBy, messages: batch });
    run.parkedAfter ??= '0';
  }
}

/**
 * Take the next parked event (see PARK_BACKLOG_PATCH): read back and triaged in one local activity, whose
 * marker holds the triage result, as for an event from a signal. Undefined once none is left: the parked
 * rows are then deleted by an activity, which Temporal hands out only once this workflow task, and with it
 * the taking of every one of them, is recorded (a task that fails before finds them again).
 */
export async function takeParkedEvent(run: IncidentRun): Promise<{ eventId: string; taken: Taken } | undefined> {
  const after = run.parkedAfter ?? '0';
  const r = await localTriage.triageParkedEvent({ incidentId: run.incidentId, after, takenBy: workflowInfo().runId });
  if (r.none) {
    if (after !== '0') await db.dropParkedIncidentEvents({ incidentId: run.incidentId, upTo: after });
    run.parkedAfter = undefined;
    return undefined;
  }
  run.parkedAfter = r.id;
  run.seen.add(r.eventId);
  run.taskBytes += jsonBytes(r.triage);
  run.eventsProcessed += 1;
  run.status = r.triage.recorded.incidentStatus;
  if (r.triage.recorded.rejected) log.warn('event rejected', { incidentId: run.incidentId, eventId: r.eventId, reason: r.triage.recorded.rejected });
  const t = r.triage;
  return { eventId: r.eventId, taken: { act: !t.recorded.stale && !t.recorded.duplicate && !t.recorded.rejected, environment: t.environment, plans: t.plans } };
}

/** What the next run needs: status, recent event ids, events still queued (and parked), rule runs still going. */
export function carried(run: IncidentRun): NonNullable<IncidentWorkflowInput['carried']> {
  return {
    status: run.status,
    seenEventIds: [...run.seen].slice(-CARRIED_EVENT_IDS),
    pending: run.pending,
    running: [...run.running.values()],
    ...(run.parkedAfter !== undefined ? { parkedAfter: run.parkedAfter } : {}),
  };
}
