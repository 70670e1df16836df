// The V3 webhook envelope, parsed tolerantly: the fields we route on are required, everything else
// (including fields PagerDuty adds later) is kept as-is. Run only after the signature check.
import { z } from '../domain/zod.js';
import type { PagerDutyEvent } from './parse.js';

export { classifyEvent, incidentIdOf, incidentIdOfData, statusFromEventType, toIncidentSnapshot } from './parse.js';
export type { EventClass, IncidentSnapshot, PagerDutyEvent } from './parse.js';

const nullableObject = z.looseObject({}).nullable().optional();

export const webhookEventSchema = z.looseObject({
  id: z.string().min(1),
  event_type: z.string().min(1),
  resource_type: z.string().min(1),
  occurred_at: z.string().min(1),
  agent: nullableObject,
  client: nullableObject,
  data: z.looseObject({}),
});

export const webhookBodySchema = z.looseObject({ event: webhookEventSchema });

export type WebhookParseResult =
  | { ok: true; event: PagerDutyEvent }
  | { ok: false; detail: string; fields: string[] };

function fieldPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return 'body';
  return path
    .map((segment, i) => (typeof segment === 'number' ? `[${segment}]` : `${i === 0 ? '' : '.'}${String(segment)}`))
    .join('');
}

/** Parse a raw webhook body; on failure say which fields are wrong (field paths such as `event.data`). */
export function parseWebhookBody(raw: string): WebhookParseResult {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, detail: 'body is not valid JSON', fields: [] };
  }
  return parseWebhookJson(json);
}

/** Check an already parsed (and bounded: src/api/body.ts) webhook body. */
export function parseWebhookJson(json: unknown): WebhookParseResult {
  const result = webhookBodySchema.safeParse(json);
  if (!result.success) {
    const fields: string[] = [];
    const messages: string[] = [];
    for (const issue of result.error.issues) {
      const path = fieldPath(issue.path);
      if (!fields.includes(path)) fields.push(path);
      messages.push(`${path}: ${issue.message}`);
    }
    return { ok: false, detail: `invalid PagerDuty webhook body: ${messages.join('; ')}`, fields };
  }
  const event: PagerDutyEvent = result.data.event;
  return { ok: true, event };
}
