// An incident event's first steps in one local activity: persist, enrich, extract, match. One workflow
// activation instead of four, which is most of what an incident costs the worker (every activation is
// several calls into the workflow sandbox). Each step is idempotent, so a retry of the whole (Postgres
// down, a worker crash) redoes nothing twice: the event is stored once, a match is recorded once.
import { ApplicationFailure } from '@temporalio/common';
import { REMEDIATING_EVENT_TYPES } from '../src/pagerduty/parse.js';
import type { Logger } from '../src/logger.js';
import type { IncidentEventMessage } from '../src/contracts/incident.js';
import type { createIncidentActivities } from './incidents.js';
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
  incidents: ReturnType<typeof createIncidentActivities>;
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
  return `${publicUrl.replace(/\/+$/, '')}/ui#/incidents/${encodeURIComponent(incidentId)}`;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function createTriageActivities(deps: TriageDeps) {
  const backoff = deps.enrichBackoffMs ?? [1000, 2000];

  /** Best effort: a few quick tries, then extraction goes on with what the event itself carries. */
  async function enrich(incidentId: string): Promise<string | undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        await deps.incidents.enrichIncident({ incidentId });
        return undefined;
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        const final = (err instanceof ApplicationFailure && err.nonRetryable) || attempt >= backoff.length;
        if (final) return message;
        await sleep(backoff[attempt]!);
      }
    }
  }

  /**
   * `takenBy` is the workflow run taking the event (its run id): a delivery another run took already is a
   * duplicate and stops here, as do rejected (poison) and stale events.
   */
  async function triageIncidentEvent(input: { incidentId: string; message: IncidentEventMessage; takenBy?: string }): Promise<TriageResult> {
    const { incidentId, message: msg } = input;
    const recorded = await deps.incidents.recordIncidentEvent(msg, input.takenBy);
    if (recorded.stale || recorded.duplicate || recorded.rejected) return { recorded, environment: {}, plans: [] };
    let environment: Record<string, unknown> = {};
    let enrichError: string | undefined;
    if (REMEDIATING_EVENT_TYPES.has(msg.eventType)) {
      enrichError = await enrich(incidentId);
      if (enrichError) deps.logger.warn({ incidentId, error: enrichError }, 'alerts not fetched; extracting from the event alone');
      environment = await deps.incidents.extractIncidentEnvironment({ incidentId });
    }
    const plans = await deps.plan.planIncidentActions({ incidentId, eventId: msg.eventId, eventType: msg.eventType });
    return {
      recorded,
      environment,
      plans: plans.map((p) => ({ ...p, writeBack: deps.writeBack, ...(deps.publicUrl ? { incidentUrl: incidentPageUrl(deps.publicUrl, incidentId) } : {}) })),
      ...(enrichError ? { enrichError } : {}),
    };
  }

  return { triageIncidentEvent };
}
