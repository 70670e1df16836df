// Exactly-once (or, where the provider gives us no way to find out, at-most-once) external side effects.
//
// Every side effect has a key (the action run id: incident, rule, action and event) and a row in
// side_effects claimed before the provider is called. The provider's answer (ticket key, note id,
// Message-ID) is recorded the moment it arrives. A later attempt reads the row first:
//   done       → the recorded answer, no call;
//   failed     → the last call provably did nothing (4xx, connection refused): call again;
//   attempting → an earlier call may have taken effect (timeout, dropped connection, 5xx, worker killed
//                before the answer was stored): what happens next is the side effect's `onUncertain`:
//       'lookup'       find the object by the marker it carries (a read PagerDuty/GitHub/EWM answer from
//                      the object store itself), create it only if it is not there;
//       'lookup-settle' the same through a search index that lags (Jira JQL): look again until the index
//                      has had `settleMs` to catch up, then give up without creating (at most one);
//       'resend'       call again with the same idempotency key, which the receiver deduplicates;
//       'refuse'       never call again (no id, no lookup, no key: Slack incoming webhooks, SMTP).
//   unknown    → given up (see above): never called again.
// A cancelled activity (its rule run cancelled on resolve) learns it through its heartbeats: before the
// call it stops with a CancelledFailure (reported cancelled: nothing was done); a call in flight is
// aborted and the attempt fails as outcome unknown, never as cancelled, since the call may have landed.
// An attempt's calls share one deadline shorter than the activity's start-to-close timeout, and the row
// says until when the attempt may still be talking to the provider, so two attempts never overlap: a retry
// that finds the row in flight does not call, and puts its next attempt after that time. That deadline
// bounds the calls (AttemptContext.signal), with no shorter timeout of their own: an action's
// `timeoutSeconds` is the time its provider is given.
// Hand-written: this is the project's own bookkeeping over its own table; no library fits.
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { Kysely } from 'kysely';
import type { Database, SideEffect } from '../src/db/database.js';
import { nextRetryDelayMs, retryPauseMs, type RetryPauses } from '../src/domain/retry-pause.js';
import { HttpCallError } from '../src/executors/errors.js';
import { PagerDutyApiError } from '../src/pagerduty/rest-client.js';
import {
  claimAfterFailure,
  claimFirstAttempt,
  claimUncertain,
  getSideEffect,
  markDone,
  markFailed,
  markUncertain,
  markUnknown,
  release,
} from '../src/db/repositories/side-effects.js';
import { POSTGRES_WAIT_MS, whilePostgresUnavailable } from '../src/db/unavailable.js';
import type { Logger } from '../src/logger.js';

export type OnUncertain = 'lookup' | 'lookup-settle' | 'resend' | 'refuse';

/** What the provider answered: enough to link to the object and to recognise it later. */
export interface EffectRecord {
  externalId?: string | undefined;
  url?: string | undefined;
  detail?: string | undefined;
}

export interface AttemptContext {
  /** Aborts every call of this attempt at its deadline, which bounds them (no fixed timeout below it). */
  signal: AbortSignal;
  /** When the first attempt of this side effect started (lookups need not look further back). */
  firstAttemptAt: Date;
}

export interface SideEffectSpec {
  key: string;
  kind: string;
  incidentId?: string | undefined;
  onUncertain: OnUncertain;
  /** For 'lookup' and 'lookup-settle': the object an earlier attempt created, or null. */
  find?: (ctx: AttemptContext) => Promise<EffectRecord | null>;
  perform: (ctx: AttemptContext) => Promise<EffectRecord>;
  /** For 'lookup-settle': how long after the uncertain attempt a miss still may be index lag. */
  settleMs?: number;
  /**
   * Asked right before the call, once the row says it may be made (never when an earlier attempt's answer
   * is recorded or found): a reason returned stops it for good, nothing sent by this attempt. A retry whose
   * rule was disabled during its pause is one (activities/actions.ts).
   */
  mayCall?: (() => Promise<string | undefined>) | undefined;
  /**
   * At most this long for the attempt's calls, when the activity's own budget is not theirs to spend (a
   * page sent from a triage, whose time is the incident's).
   */
  maxBudgetMs?: number | undefined;
}

export interface EffectResult extends EffectRecord {
  /** How this attempt got the result: it called the provider, found the object, or read the row. */
  via: 'performed' | 'found' | 'recorded';
}

export interface SideEffectDeps {
  db: Kysely<Database>;
  logger: Logger;
  /** Default budget outside an activity (tests); inside one it follows the start-to-close timeout. */
  budgetMs?: number;
}

/** Kept free of an attempt's deadline: time to record the answer after the last call. */
const RESERVE_MS = 5_000;
const DEFAULT_BUDGET_MS = 45_000;
export const DEFAULT_SETTLE_MS = 30_000;
/** Added to an earlier attempt's in-flight time before the next attempt (clock skew, Temporal's timers). */
const IN_FLIGHT_MARGIN_MS = 2_000;

/** The failure type of a side effect given up on: it may or may not have happened, and is not retried. */
export const OUTCOME_UNKNOWN = 'OutcomeUnknown';
/** The failure type of a side effect that reached part of its audience and is not repeated (an email some recipients refused). */
export const PARTLY_DONE = 'SideEffectPartlyDone';
/** The failure type of a call its spec's `mayCall` refused (nothing sent). */
export const CALL_REFUSED = 'SideEffectCallRefused';

/** The time one attempt may spend calling providers: its activity's start-to-close timeout, less a reserve. */
export function attemptBudgetMs(fallback = DEFAULT_BUDGET_MS): number {
  let info: Context['info'] | undefined;
  try {
    info = Context.current().info;
  } catch {
    return fallback;
  }
  const total = info.startToCloseTimeoutMs > 0 ? info.startToCloseTimeoutMs : fallback + RESERVE_MS;
  return Math.max(1_000, total - Math.max(RESERVE_MS, Math.round(total * 0.1)));
}

/** The key of a side effect made by the current activity itself (same on every retry of it), if any. */
export function activityKey(prefix: string): string | undefined {
  try {
    const info = Context.current().info;
    const wf = info.workflowExecution;
    return wf ? `${prefix}:${wf.workflowId}:${wf.runId}:${info.activityId}` : undefined;
  } catch {
    return undefined;
  }
}

function cancellation(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}

const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_NONAME',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);
const NOTHING_DONE_ERRORS = new Set(['SecretResolutionError', 'EgressDeniedError', 'ValidationError', 'SshConfigError']);

/** Every error in a cause chain (AggregateError members included), outermost first. */
function causes(err: unknown): unknown[] {
  const out: unknown[] = [];
  const queue = [err];
  while (queue.length > 0 && out.length < 20) {
    const e = queue.shift();
    if (e === undefined || e === null || out.includes(e)) continue;
    out.push(e);
    if (typeof e === 'object') {
      const o = e as { cause?: unknown; errors?: unknown };
      if (o.cause !== undefined) queue.push(o.cause);
      if (Array.isArray(o.errors)) queue.push(...(o.errors as unknown[]));
    }
  }
  return out;
}

/**
 * Whether a failed call provably did nothing at the provider ('nothing') or may have (`uncertain`): an
 * answer of 4xx or of a redirect other than 303 (not followed), a connection that was never made, a request
 * refused before it left. Everything else (timeouts, dropped connections, 5xx, a 303 See Other to a write, a
 * 2xx we could not read) is uncertain.
 */
export function whatHappened(err: unknown): 'nothing' | 'uncertain' {
  const chain = causes(err);
  if (chain.some((e) => (e as { maybeSent?: unknown }).maybeSent === true)) return 'uncertain';
  for (const e of chain) {
    if (!(e instanceof Error)) continue;
    if (NOTHING_DONE_ERRORS.has(e.name) || (e instanceof ApplicationFailure && typeof e.type === 'string' && NOTHING_DONE_ERRORS.has(e.type))) return 'nothing';
    if (e.name === 'EmailSendError') return 'nothing';
    const status = (e as { status?: unknown }).status;
    // A redirect other than 303 See Other (301, 302, 307, 308) was not handled where it was sent, and is not
    // followed: nothing was done. A 303 answers a request that was handled (a write made, its result elsewhere).
    if (typeof status === 'number') return (status >= 400 && status < 500) || (status >= 300 && status < 400 && status !== 303) ? 'nothing' : 'uncertain';
    if (e.name === 'PagerDutyApiError' && status === undefined && (e as { retryable?: boolean }).retryable === false && e.cause === undefined) return 'nothing';
  }
  for (const e of chain) {
    const code = (e as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && NOT_SENT_CODES.has(code)) return 'nothing';
  }
  return 'uncertain';
}

/**
 * The pause the provider asked for before the same call is made again, or undefined when no answer asked
 * for one: PagerDuty's `Retry-After` on a 429 (the account's or the token's rate limit) or on a 503; Slack's,
 * Jira's, GitHub's, EWM's or a webhook receiver's on any retryable refusal (429, 503, GitHub's rate-limit
 * 403s), or GitHub's `x-ratelimit-reset` (src/http-body.ts askedPauseMs). Not bounded here: see retryDelayMs.
 */
function askedPauseOf(err: unknown): number | undefined {
  for (const e of causes(err)) {
    if (e instanceof PagerDutyApiError && (e.status === 429 || e.status === 503) && e.details.retryAfterMs !== undefined) return e.details.retryAfterMs;
    if (e instanceof HttpCallError && e.retryable && e.retryAfterMs !== undefined) return e.retryAfterMs;
  }
  return undefined;
}

/** The retry policy an activity said it runs under (usesRetryPauses), for a server that does not send it. */
const declaredPauses = new WeakMap<object, RetryPauses>();

/**
 * Says which retry policy the current activity runs under, as the workflow built its options
 * (src/domain/retry-pause.ts saasRetryPauses: a rule action's `retry`, or the SaaS preset): what policyPauseMs
 * counts from when the Temporal server sends no policy with the task (the dev server does not). Nothing
 * outside an activity.
 */
export function usesRetryPauses(pauses: RetryPauses): void {
  try {
    declaredPauses.set(Context.current(), pauses);
  } catch {
    // Not in an activity (tests calling it directly): no retry, no pause.
  }
}

/**
 * The pause the current activity's retry policy puts after this attempt, as Temporal computes it: from the
 * policy the server gave the attempt (Context.current().info.retryPolicy) or, when it gave none, the one the
 * activity said it runs under (usesRetryPauses), and the attempt's number; undefined outside an activity or
 * when neither is known: then only what was asked counts.
 */
export function policyPauseMs(): number | undefined {
  let ctx: Context;
  try {
    ctx = Context.current();
  } catch {
    return undefined;
  }
  const policy = ctx.info.retryPolicy;
  let pauses = declaredPauses.get(ctx);
  if (policy) {
    const ms = (d: unknown): number | undefined => (typeof d === 'number' && d > 0 ? d : undefined);
    const initialIntervalMs = ms(policy.initialInterval) ?? 1_000;
    pauses = { initialIntervalMs, backoffCoefficient: policy.backoffCoefficient ?? 2, maximumIntervalMs: ms(policy.maximumInterval) ?? 100 * initialIntervalMs };
  }
  return pauses && retryPauseMs(pauses, ctx.info.attempt);
}

/**
 * The nextRetryDelay of a failure whose provider asked for a pause of `askedMs`: the longer of it (at most
 * SAAS_PAUSE_CAP_SECONDS) and the retry policy's own pause for this attempt, a second at least
 * (src/domain/retry-pause.ts). Temporal's nextRetryDelay replaces that pause: set to what PagerDuty asked
 * alone, an action whose rule asks for 5 minutes between attempts came back after 2 s.
 */
export function retryDelayMs(askedMs: number): number {
  return nextRetryDelayMs(askedMs, policyPauseMs());
}

/**
 * The nextRetryDelay of a failure whose provider asked for a pause (askedPauseOf), or undefined when none
 * did: the retry policy's own pause applies. Before, the policy's 1 s came back long before a rate limit let
 * up, spending attempts on an account whose limit is shared by every integration.
 */
export function askedRetryDelayMs(err: unknown): number | undefined {
  const asked = askedPauseOf(err);
  return asked === undefined ? undefined : retryDelayMs(asked);
}

/**
 * A retryable provider error whose answer asked for a pause (PagerDuty, Slack, Jira, GitHub, EWM, a webhook
 * receiver): a retryable failure not retried before it (askedRetryDelayMs); others as they are.
 */
export function afterAskedPause(err: unknown): unknown {
  if (!(err instanceof PagerDutyApiError || err instanceof HttpCallError) || !err.retryable) return err;
  const nextRetryDelay = askedRetryDelayMs(err);
  if (nextRetryDelay === undefined) return err;
  return ApplicationFailure.create({ message: err.message, type: err.name, nextRetryDelay });
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function createSideEffects(deps: SideEffectDeps) {
  const { db, logger } = deps;

  /** Record the provider's answer; retried briefly, since an answer that is not recorded is a duplicate risk. */
  async function recordDone(key: string, r: EffectRecord): Promise<void> {
    for (let i = 0; ; i++) {
      try {
        await markDone(db, key, r);
        return;
      } catch (err) {
        if (i >= 4) throw err;
        await sleep(250 * 2 ** i);
      }
    }
  }

  /**
   * An earlier attempt may still be talking to the provider (its worker died or lost Temporal, which
   * retried after the heartbeat timeout, long before that attempt's deadline). This attempt does not call;
   * its retry is put off until the earlier attempt's in-flight time is over (plus a margin for the clock
   * of this worker against Postgres's), so each attempt that dies costs at most one such answer. Before,
   * the retry policy's own short delays brought every remaining attempt into that window: all spent on
   * this answer, the action was recorded failed though its side effect may well have happened.
   */
  function inFlight(spec: SideEffectSpec, holder: SideEffect | undefined): ApplicationFailure {
    const restMs = holder?.in_flight_until ? Math.max(0, holder.in_flight_until.getTime() - Date.now()) : 0;
    return ApplicationFailure.create({
      message: `${spec.kind}: an earlier attempt may still be in flight (${Math.ceil(restMs / 1000)} s more); the next attempt comes after it`,
      type: 'SideEffectInFlight',
      // Not sooner than the retry policy's own pause either (a rule's 5 minutes between attempts stays 5), and
      // never capped: an attempt is not made while an earlier one may still be talking to the provider.
      nextRetryDelay: Math.max(restMs + IN_FLIGHT_MARGIN_MS, policyPauseMs() ?? 0),
    });
  }

  function unknown(spec: SideEffectSpec, why: string): ApplicationFailure {
    return ApplicationFailure.nonRetryable(`${spec.kind}: outcome unknown, not tried again so it cannot happen twice (${why})`, OUTCOME_UNKNOWN);
  }

  async function run(spec: SideEffectSpec): Promise<EffectResult> {
    const budgetMs = Math.min(attemptBudgetMs(deps.budgetMs), spec.maxBudgetMs ?? Infinity);
    const deadline = AbortSignal.timeout(budgetMs);
    const cancelled = cancellation();
    const signal = cancelled ? AbortSignal.any([deadline, cancelled]) : deadline;
    const log = logger.child({ sideEffect: spec.key, kind: spec.kind });
    // Postgres out of reach for a moment is not the action's failure: the bookkeeping waits for it, so an
    // action allowed one attempt does not spend it on our own database restarting.
    const book = <T>(step: () => Promise<T>) => whilePostgresUnavailable(step, { maxWaitMs: Math.min(POSTGRES_WAIT_MS, budgetMs / 2), signal });
    // What an attempt learned is recorded within the reserve kept after its deadline.
    const record = <T>(step: () => Promise<T>) => whilePostgresUnavailable(step, { maxWaitMs: RESERVE_MS });

    let row: SideEffect | undefined = await book(() => claimFirstAttempt(db, { key: spec.key, kind: spec.kind, incidentId: spec.incidentId ?? null, budgetMs }));
    let uncertain = false;
    if (!row) {
      row = await book(() => claimAfterFailure(db, spec.key, budgetMs));
      if (!row) {
        const current = await book(() => getSideEffect(db, spec.key));
        if (!current) throw ApplicationFailure.retryable(`${spec.kind}: side effect row vanished`, 'SideEffectRace');
        if (current.state === 'done') return { externalId: current.external_id ?? undefined, url: current.url ?? undefined, detail: current.detail ?? undefined, via: 'recorded' };
        if (current.state === 'unknown') throw unknown(spec, current.last_error ?? 'given up earlier');
        row = await book(() => claimUncertain(db, spec.key, budgetMs));
        // Another attempt owns it right now (a retry scheduled while a slow attempt still runs).
        if (!row) throw inFlight(spec, await book(() => getSideEffect(db, spec.key)));
        uncertain = true;
      }
    }
    const ctx: AttemptContext = { signal, firstAttemptAt: row.first_attempt_at };

    if (uncertain) {
      if (spec.onUncertain === 'refuse') {
        const why = row.last_error ?? 'an earlier attempt ended without an answer';
        await record(() => markUnknown(db, spec.key, why));
        throw unknown(spec, why);
      }
      if (spec.onUncertain === 'lookup' || spec.onUncertain === 'lookup-settle') {
        let found: EffectRecord | null;
        try {
          found = await spec.find!(ctx);
        } catch (err) {
          await record(() => release(db, spec.key));
          // The earlier attempt may have taken effect: never reported as a cancellation (nothing done).
          if (cancelled?.aborted) throw unknown(spec, `cancelled while looking for the result of an earlier unanswered attempt (${row.last_error ?? 'no answer'})`);
          throw err;
        }
        if (found) {
          await recordDone(spec.key, { ...found, detail: found.detail ?? 'found after an unanswered attempt' });
          log.info({ externalId: found.externalId }, 'side effect found after an unanswered attempt');
          return { ...found, via: 'found' };
        }
        if (spec.onUncertain === 'lookup-settle') {
          const since = row.uncertain_since ?? row.first_attempt_at;
          const settleMs = spec.settleMs ?? DEFAULT_SETTLE_MS;
          if (Date.now() - since.getTime() < settleMs) {
            await record(() => release(db, spec.key));
            throw ApplicationFailure.retryable(`${spec.kind}: not found yet after an unanswered attempt; the search index may lag, looking again`, 'SideEffectNotVisibleYet');
          }
          const why = `not found ${Math.round(settleMs / 1000)} s after an unanswered attempt: ${row.last_error ?? 'no answer'}`;
          await record(() => markUnknown(db, spec.key, why));
          throw unknown(spec, why);
        }
      }
      // 'lookup' found nothing, or 'resend': call again.
    }

    // Asked before the cancellation is looked at: one landing while it waits for Postgres ends the attempt
    // as a cancellation before the call. Another failure of it (the attempt's deadline) leaves the row as a
    // call not made: given back when an earlier attempt's outcome is still open, else failed, nothing sent.
    let refusal: string | undefined;
    if (spec.mayCall) {
      try {
        refusal = await book(spec.mayCall);
      } catch (err) {
        if (!cancelled?.aborted) {
          await record(() => (uncertain ? release(db, spec.key) : markFailed(db, spec.key, `not called: ${messageOf(err)}`)));
          throw err;
        }
      }
    }
    if (cancelled?.aborted) {
      // Cancelled before the call: nothing was sent by this attempt. After an unanswered one that a lookup
      // did not rule out (a resend) it may have happened all the same: that is not a cancellation.
      if (uncertain && spec.onUncertain !== 'lookup') {
        await record(() => release(db, spec.key));
        throw unknown(spec, `cancelled before calling again; an earlier attempt may have taken effect (${row.last_error ?? 'no answer'})`);
      }
      await record(() => markFailed(db, spec.key, 'cancelled before the call: nothing sent'));
      throw new CancelledFailure(`${spec.kind}: cancelled before the call; nothing was sent`);
    }

    if (refusal !== undefined) {
      // After an unanswered attempt that no lookup ruled out (a resend), that attempt may have taken effect.
      if (uncertain && spec.onUncertain !== 'lookup') {
        const why = `${refusal}; an earlier attempt may have taken effect (${row.last_error ?? 'no answer'})`;
        await record(() => markUnknown(db, spec.key, why));
        throw unknown(spec, why);
      }
      await record(() => markFailed(db, spec.key, refusal));
      throw ApplicationFailure.nonRetryable(refusal, CALL_REFUSED);
    }

    let result: EffectRecord;
    try {
      result = await spec.perform(ctx);
    } catch (err) {
      const message = messageOf(err);
      if (cancelled?.aborted && whatHappened(err) !== 'nothing') {
        // Cancelled with the call in flight: it was aborted, and may have landed. Not retried (a cancelled
        // activity never is), so the action records a failure whose outcome is unknown.
        const why = `cancelled while the call was in flight; it may have taken effect (${message})`;
        await record(() => (spec.onUncertain === 'refuse' ? markUnknown(db, spec.key, why) : markUncertain(db, spec.key, why)));
        log.warn({ error: message }, 'side effect cancelled in flight; outcome unknown');
        throw unknown(spec, why);
      }
      if (causes(err).some((e) => (e as { partlySent?: unknown }).partlySent === true)) {
        // Known to have reached part of its audience (an email some recipients refused): calling again
        // would repeat it for the rest, so it never is, and the action fails with what happened.
        await record(() => markUnknown(db, spec.key, message));
        log.warn({ error: message }, 'side effect partly done; not retried');
        throw ApplicationFailure.nonRetryable(`${spec.kind}: ${message}`, PARTLY_DONE);
      }
      if (whatHappened(err) === 'nothing') {
        await record(() => markFailed(db, spec.key, message));
        throw err;
      }
      if (spec.onUncertain === 'refuse') {
        await record(() => markUnknown(db, spec.key, message));
        log.warn({ error: message }, 'side effect outcome unknown; not retried');
        throw unknown(spec, message);
      }
      await record(() => markUncertain(db, spec.key, message));
      // A later attempt finds out what happened (lookup or idempotent resend), whatever this error's type.
      // A 503 with Retry-After: the next attempt (which looks first) comes when the provider asked, or after the
      // retry policy's pause when that is longer.
      const nextRetryDelay = askedRetryDelayMs(err);
      throw ApplicationFailure.create({
        message: `${message} (outcome uncertain: the next attempt looks before it acts)`,
        type: 'SideEffectUncertain',
        ...(nextRetryDelay !== undefined ? { nextRetryDelay } : {}),
      });
    }
    await recordDone(spec.key, result);
    return { ...result, via: 'performed' };
  }

  return { run };
}

export type SideEffects = ReturnType<typeof createSideEffects>;
