import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import type { IncidentEventMessage } from '../../src/contracts/index.js';

export const samplesDir = new URL('../fixtures/pagerduty/samples/', import.meta.url);

export function readSample(name: string): { event: Record<string, unknown> & { data: Record<string, unknown> } } {
  return JSON.parse(readFileSync(new URL(name, samplesDir), 'utf8'));
}

let seq = 0;
/** A unique PagerDuty-style incident id, so tests never share a workflow. */
export function newIncidentId(): string {
  seq += 1;
  return `Q${randomUUID().replace(/-/g, '').slice(0, 10).toUpperCase()}${seq}`;
}

/**
 * A real sample payload re-addressed to `incidentId` with a fresh event id. `occurredAt` and
 * data fields can be overridden.
 */
export function sampleFor(
  name: string,
  incidentId: string,
  opts: { eventId?: string; occurredAt?: string; data?: Record<string, unknown> } = {},
): { event: Record<string, unknown> & { id: string; data: Record<string, unknown> } } {
  const body = readSample(name);
  const event = body.event as Record<string, unknown> & { id: string; data: Record<string, unknown> };
  event.id = opts.eventId ?? `E${randomUUID()}`;
  if (opts.occurredAt) event.occurred_at = opts.occurredAt;
  const data = event.data;
  if (data.type === 'incident') {
    data.id = incidentId;
  } else if (data.incident && typeof data.incident === 'object') {
    (data.incident as Record<string, unknown>).id = incidentId;
  }
  Object.assign(data, opts.data ?? {});
  return body as never;
}

/** What the webhook hands the incident workflow for a sample body (sampleFor), received when it occurred. */
export function messageFor(body: { event: Record<string, unknown> & { id: string } }): IncidentEventMessage {
  const occurredAt = String(body.event.occurred_at);
  return { eventId: body.event.id, eventType: String(body.event.event_type), occurredAt, receivedAt: occurredAt, event: body.event };
}
