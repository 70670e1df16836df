// Signed PagerDuty V3 deliveries built from a real sample payload, one new incident each, plus the
// database checks that every delivered event was persisted exactly once.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import { signBody } from '../src/pagerduty/signature.js';
import type { BenchStack } from './stack.js';
import { WEBHOOK_SECRET } from './stack.js';

const SAMPLE = new URL('../test/fixtures/pagerduty/samples/v3-incident.triggered-01.json', import.meta.url);

export interface Delivery {
  incidentId: string;
  eventId: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

export interface Batch {
  /** Prefix of every event id of the batch, for the persistence check. */
  eventPrefix: string;
  build(i: number): Delivery;
}

/** A batch of deliveries, each a new incident on `serviceId` (default: the sample's service). */
export function newBatch(label: string, opts: { serviceId?: string; title?: string } = {}): Batch {
  const template = JSON.parse(readFileSync(SAMPLE, 'utf8')) as { event: { id: string; occurred_at: string; data: Record<string, unknown> } };
  const tag = `${label}${randomBytes(3).toString('hex')}`.toUpperCase().replace(/[^A-Z0-9]/g, '');
  const eventPrefix = `EB${tag}-`;
  return {
    eventPrefix,
    build(i) {
      const incidentId = `QB${tag}${i}`;
      const eventId = `${eventPrefix}${i}`;
      const body = structuredClone(template);
      body.event.id = eventId;
      body.event.occurred_at = new Date().toISOString();
      body.event.data.id = incidentId;
      body.event.data.title = opts.title ?? `Disk full on db-${i % 100}.prod.example.com`;
      if (opts.serviceId) body.event.data.service = { id: opts.serviceId, type: 'service_reference', summary: 'bench' };
      const raw = JSON.stringify(body);
      return {
        incidentId,
        eventId,
        path: '/webhooks/pagerduty',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'PagerDuty-Webhook/V3.0',
          'x-webhook-id': `W${tag}${i}`,
          'x-pagerduty-signature': signBody(raw, WEBHOOK_SECRET),
        },
        body: raw,
      };
    },
  };
}

export interface PersistedCount {
  rows: number;
  distinctEvents: number;
}

export async function persistedCount(stack: BenchStack, eventPrefix: string): Promise<PersistedCount> {
  const row = await stack.database.db
    .selectFrom('incident_events')
    .select([sql<number>`count(*)::int`.as('rows'), sql<number>`count(distinct event_id)::int`.as('distinctEvents')])
    .where('event_id', 'like', `${eventPrefix}%`)
    .executeTakeFirstOrThrow();
  return { rows: row.rows, distinctEvents: row.distinctEvents };
}
