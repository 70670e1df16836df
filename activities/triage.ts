// An incident event's first steps in one local activity: persist, enrich, extract, match. One workflow
// activation instead of four, which is most of what an incident costs the worker (every activation is
// several calls into the workflow sandbox). Each step is idempotent, so a retry of the whole (Postgres
// down, a worker crash) redoes nothing twice: the event is stored once, a match is recorded once.
import { ApplicationFailure } from '@temporalio/common';
import { REMEDIATING_EVENT_TYPES } from '../src/pagerduty/parse.js';
import { trimTrailingSlashes } from '../src/domain/text.js';
import type { Logger } from '../src/logger.js';
import type { IncidentEventMessage } from '../src/contracts/incident.js';
import type { createIncidentSteps } from './incidents.js';
import type { createPlanActivities } from './plan.js';
import type { MatchPlan, RecordEventResult } from './types.js';

export interface TriageResult {
  recorded: RecordEventResult;
  /** What the extractors found; `{}` for events that do not remediate. */
  environment: Record<string, unknown>;
  /** Every matched rule's plan; `[]` for a stale, duplicate or rejected event. */
  plans: MatchPlan[];
  /** Why the alerts were not fetched, when fetching failed: extraction used the event alone. */
  enrichError?: string;
}

export interface TriageDeps {
  logger: Logger;
  incidents: ReturnType<typeof createIncidentSteps>;
  plan: ReturnType<typeof createPlanActivities>;
  /** Whether PagerDuty write-back is configured (API token and From address). */
  writeBack: boolean;
  /** SELFHEAL_PUBLIC_URL: links to an incident's page in the dashboard (approval notices). */
  publicUrl?: string | undefined;
  /** Pauses between alert-fetch attempts (default 1 s, then 2 s). */
  enrichBackoffMs?: number[];
}

/** The incident's page in the dashboard. */
export function incidentPageUrl(publicUrl: string, incidentId: string): string {
  return `${trimTrailingSlashes(publicUrl)}/ui#/incidents/${encodeURIComponent(incidentId)}`;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function createTriageActivities(deps: TriageDeps) {
  const backoff = deps.enrichBackoffMs ?? [1000, 2000];

  /** Best effort: a few quick tries, then extraction goes on with what the event itself carries. */
  async function enrich(incidentId: string): Promise<{ alerts?: unknown[] | undefined; error?: string }> {
    for (let attempt = 0; ; attempt++) {
      try {
        return { alerts: await deps.incidents.fetchAlerts(incidentId) };
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        const final = (err instanceof ApplicationFailure && err.nonRetryable) || attempt >= backoff.length;
        if (final) return { error: message };
        await sleep(backoff[attempt]!);
      }
    }
  }

  /**
   * `takenBy` is the workflow run taking the event (its run id): a delivery another run took already is a
   * duplicate and stops here, as do rejected (poison) and stale events, and a quiet one (a reconciled resolve
   * of an incident of unknown status, activities/incidents.ts).
   */
  async function triageIncidentEvent(input: { incidentId: string; message: IncidentEventMessage; takenBy?: string }): Promise<TriageResult> {
    const { incidentId, message: msg } = input;
    // Each step goes on from the row the one before it wrote (returned by its write), never reading it back.
    const { recorded, incident: stored, event, retry } = await deps.incidents.recordEvent(msg, input.takenBy);
    if (recorded.stale || recorded.duplicate || recorded.rejected || recorded.quiet) return { recorded, environment: {}, plans: [] };
    let incident = stored;
    let environment: Record<string, unknown> = {};
    let enrichError: string | undefined;
    if (REMEDIATING_EVENT_TYPES.has(msg.eventType) && incident) {
      const fetched = await enrich(incidentId);
      enrichError = fetched.error;
      if (enrichError) deps.logger.warn({ incidentId, error: enrichError }, 'alerts not fetched; extracting from the event alone');
      // The fetched alerts and what the extractors found, in one update.
      incident = await deps.incidents.extractAndStore(incident, fetched.alerts);
      environment = incident.environment as Record<string, unknown>;
    }
    const planInput = { incidentId, eventId: msg.eventId, eventType: msg.eventType };
    const plans = incident && event ? await deps.plan.planEvent(planInput, incident, event, { retry }) : await deps.plan.planIncidentActions(planInput);
    return {
      recorded,
      environment,
      plans: plans.map((p) => ({ ...p, writeBack: deps.writeBack, ...(deps.publicUrl ? { incidentUrl: incidentPageUrl(deps.publicUrl, incidentId) } : {}) })),
      ...(enrichError ? { enrichError } : {}),
    };
  }

  return { triageIncidentEvent };
}
