// Lost resolves. PagerDuty gives up on a webhook delivery after its retries, and a subscription can be
// disabled (after repeated failures) or deleted for a while: a resolve lost that way left the incident
// open here for good. Its workflow waited for ever, a fix waiting for approval could still be approved,
// the dashboard and stats counted it open, and retention keeps open incidents whole. The worker asks
// PagerDuty, now and then, about the open incidents that have heard nothing for an hour, and hands the
// workflow of each one PagerDuty says is resolved the resolve it missed, through the same signalWithStart
// as a webhook (a workflow that was terminated meanwhile is started again and takes it). The resolve
// event is built from PagerDuty's own answer: its time is the incident's `last_status_change_at` (or the
// time of the newest event we hold, when that is later: PagerDuty's REST times are whole seconds) and its
// agent `last_status_change_by`, so a resolve Self-healing itself made is still recognised as its own
// (activities/own-writes.ts), and its id is fixed per incident and status change (PagerDuty's
// `last_status_change_at`), so a second sweep, or a second worker, hands over the same event, which the
// workflow and the events table take once, while the resolve lost after a reopen is another event. PagerDuty's own delivery
// arriving later is a resolve of a resolved incident, which triage stores and acts on no more. An incident
// of `unknown` status (first known from a note, activities/incidents.ts) is asked about too: open in
// PagerDuty, it takes that status; resolved there, its resolve closes it and starts no rule.
import type { Kysely } from 'kysely';
import type { IncidentEventMessage } from '../src/contracts/index.js';
import type { Database } from '../src/db/database.js';
import { adoptStatusIfUnknown, claimIncidentToReconcile, releaseReconcileClaim } from '../src/db/repositories/incidents.js';
import type { Logger } from '../src/logger.js';
import { PagerDutyApiError, type PagerDutyClient, type PagerDutyIncident } from '../src/pagerduty/rest-client.js';
import type { PagerDutyEvent } from '../src/pagerduty/webhook.js';
import { incidentEventMessage, serviceIdOf } from '../src/temporal/incident-signal.js';

/** An open incident is asked about once it has heard nothing for this long, and then at most this often. */
export const RECONCILE_QUIET_SECONDS = 3600;
/** Incidents asked about per sweep per worker, one request at a time (PagerDuty allows 960 a minute per token). */
export const RECONCILE_BATCH = 50;

export interface ReconcileDeps {
  db: Kysely<Database>;
  pagerduty: Pick<PagerDutyClient, 'getIncident'>;
  /** Hands the incident's workflow one event (src/temporal/incident-signal.ts). */
  signal: (incidentId: string, msg: IncidentEventMessage, serviceId: string | undefined) => Promise<void>;
  logger: Logger;
}

export interface ReconcileResult {
  asked: number;
  /** Incidents PagerDuty says are resolved, whose workflow was handed the resolve. */
  resolved: string[];
  /**
   * Asked, and PagerDuty or Temporal did not answer. Unreachable, a 5xx or a 429 (and Temporal not taking
   * the resolve): asked again in the next sweep; another refusal (a 404, a 401): after the quiet period.
   */
  failed: number;
}

/**
 * The event id of the resolve handed over for `incidentId`: the same in every sweep and every worker for
 * one resolve of PagerDuty's, another for the next one. The workflow and the events table take an id
 * once, so an id fixed per incident alone dropped the resolve lost after a reopen: the incident stayed
 * open for good and was asked about every hour.
 */
export function reconciledResolveId(incidentId: string, statusChangedAt?: string): string {
  return statusChangedAt ? `selfheal-reconciled-resolve:${incidentId}:${statusChangedAt}` : `selfheal-reconciled-resolve:${incidentId}`;
}

/** Whether `eventId` names a resolve the reconcile handed over ({@link reconciledResolveId}); PagerDuty's event ids never start so. */
export function isReconciledResolveId(eventId: string): boolean {
  return eventId.startsWith('selfheal-reconciled-resolve:');
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

/**
 * The V3 `incident.resolved` event PagerDuty would have delivered, from its REST answer: the fields the
 * webhook's `data` shares with the REST incident (`resolve_reason` among them: a merge is no fix,
 * workflows/verify.ts), and `reconciled: true` in `client` so whoever reads the stored event can tell it
 * from a delivery.
 */
export function reconciledResolveEvent(incidentId: string, incident: PagerDutyIncident, now: Date, snapshotAt: Date | null = null): PagerDutyEvent {
  const i = incident as Record<string, unknown>;
  const data: Record<string, unknown> = { id: incidentId, type: 'incident', status: 'resolved' };
  for (const key of ['self', 'html_url', 'number', 'incident_number', 'title', 'created_at', 'urgency', 'incident_key', 'service', 'escalation_policy', 'teams', 'priority', 'resolved_at', 'resolve_reason']) {
    if (i[key] !== undefined && i[key] !== null) data[key === 'incident_number' ? 'number' : key] = i[key];
  }
  // PagerDuty's REST times are whole seconds, its webhooks' carry milliseconds: a resolve in the same
  // second as the last event delivered reads as older than it, and triage would keep it as stale (the
  // incident open for good). PagerDuty says it is resolved now, so it is no older than what we hold.
  const said = Date.parse(str(i['last_status_change_at']) ?? str(i['resolved_at']) ?? '');
  const at = Math.max(Number.isNaN(said) ? now.getTime() : said, snapshotAt?.getTime() ?? 0);
  return {
    // PagerDuty's time, normalised: an ISO instant of 24 characters, whatever the answer spelled.
    id: reconciledResolveId(incidentId, Number.isNaN(said) ? undefined : new Date(said).toISOString()),
    event_type: 'incident.resolved',
    resource_type: 'incident',
    occurred_at: new Date(at).toISOString(),
    agent: incident.last_status_change_by ?? null,
    client: { name: 'Self-healing reconcile', reconciled: true },
    data,
  };
}

/**
 * Whether a failed question is worth asking again at the next sweep: PagerDuty unreachable, overloaded
 * (5xx) or rate-limiting (429). A 404 or a 401 answers the same in ten minutes: asked after the quiet
 * period, as an answered incident is.
 */
function askAgainSoon(status: number | undefined): boolean {
  return status === undefined || status === 429 || status >= 500;
}

/**
 * One sweep: claims up to `batch` open incidents quiet for `quietSeconds` and not asked about for as long,
 * asks PagerDuty about each in turn, and hands each resolved one's workflow its resolve. Never throws:
 * what fails is logged and counted. A question that got no answer (PagerDuty unreachable, a 5xx, a 429;
 * Temporal not taking the resolve) gives its claim back, so the next sweep asks again: before, it waited
 * for the quiet period, an hour, though PagerDuty had said the incident was resolved. A 429 ends the
 * sweep (the rest of the batch waits for a later one).
 */
export async function reconcileOpenIncidents(deps: ReconcileDeps, opts: { quietSeconds?: number; batch?: number; now?: Date } = {}): Promise<ReconcileResult> {
  const now = opts.now ?? new Date();
  const quiet = new Date(now.getTime() - (opts.quietSeconds ?? RECONCILE_QUIET_SECONDS) * 1000);
  const result: ReconcileResult = { asked: 0, resolved: [], failed: 0 };
  const unanswered: string[] = [];
  // One claimed at a time: a sweep that ends early (a 429) leaves the rest unmarked for the next one.
  for (let n = 0; n < (opts.batch ?? RECONCILE_BATCH); n++) {
    let claimed: Awaited<ReturnType<typeof claimIncidentToReconcile>>;
    try {
      claimed = await claimIncidentToReconcile(deps.db, { before: quiet, at: now });
    } catch (err) {
      deps.logger.warn({ err: { message: (err as Error).message } }, 'reconcile of open incidents: the database did not answer; next sweep');
      break;
    }
    if (claimed === undefined) break;
    const incidentId = claimed.id;
    // Given back once the sweep ends, behind every incident waiting already (releaseReconcileClaim).
    const release = (): void => {
      unanswered.push(incidentId);
    };
    result.asked += 1;
    let incident: PagerDutyIncident;
    try {
      incident = await deps.pagerduty.getIncident(incidentId);
    } catch (err) {
      result.failed += 1;
      const status = err instanceof PagerDutyApiError ? err.status : undefined;
      deps.logger.warn({ incidentId, status, err: { message: (err as Error).message } }, 'reconcile: PagerDuty did not say whether the incident is open');
      if (askAgainSoon(status)) release();
      if (status === 429) break;
      continue;
    }
    // An answer about another incident (a proxy or redirect in between, a bug) says nothing about this one.
    if (incident.id !== incidentId) {
      result.failed += 1;
      deps.logger.warn({ incidentId, answeredFor: incident.id.slice(0, 64) }, 'reconcile: PagerDuty answered about another incident; ignored');
      continue;
    }
    if (incident.status !== 'resolved') {
      // An incident first known from a note is `unknown` (activities/incidents.ts): PagerDuty's answer says
      // it is open, and a resolve derived later is then one of an incident known open, whose rules run.
      if (claimed.status === 'unknown' && (incident.status === 'triggered' || incident.status === 'acknowledged')) {
        try {
          if (await adoptStatusIfUnknown(deps.db, incidentId, incident.status)) deps.logger.info({ incidentId, status: incident.status }, 'reconcile: an incident of unknown status takes the status PagerDuty gives it');
        } catch (err) {
          deps.logger.warn({ incidentId, err: { message: (err as Error).message } }, 'reconcile: the status PagerDuty gave could not be stored; next sweep');
          release();
        }
      }
      continue;
    }
    const event = reconciledResolveEvent(incidentId, incident, now, claimed.snapshotAt);
    const msg = incidentEventMessage(event, undefined, now);
    try {
      await deps.signal(incidentId, msg, serviceIdOf(event));
      result.resolved.push(incidentId);
      deps.logger.info({ incidentId, occurredAt: msg.occurredAt }, 'reconcile: PagerDuty says the incident is resolved and its resolve never arrived; handed to its workflow');
    } catch (err) {
      result.failed += 1;
      deps.logger.warn({ incidentId, err: { message: (err as Error).message.split('\n')[0] } }, 'reconcile: the resolve could not be handed to the workflow; next sweep');
      release();
    }
  }
  for (const id of unanswered) {
    try {
      await releaseReconcileClaim(deps.db, id, { at: now, before: quiet });
    } catch (err) {
      deps.logger.warn({ incidentId: id, err: { message: (err as Error).message } }, 'reconcile: the database did not answer; the incident is asked again after the quiet period');
    }
  }
  return result;
}
