// A realistic incident history for backtest tests: incidents across services, hosts and environments in
// several time zones, each a lifecycle of real PagerDuty V3 payloads (test/helpers/samples.ts) —
// triggered, acknowledged, annotated, resolved, sometimes escalated, reopened or annotated after the
// resolve — plus an alert storm. Deterministic (seeded). `storeHistory` writes it the way the pipeline
// would have left it (incident_events and incidents rows, received at the event's time), and
// `storeRecordedMatch` adds what a rule decided at the time, with its action runs.
import type { Kysely } from 'kysely';
import type { Database } from '../../src/db/database.js';
import { sampleFor } from './samples.js';

/** The host and environment come from the title: `[web-3] prod-eu: Disk usage above 95%`. */
export const TITLE_EXTRACTORS = {
  extractors: [{ type: 'regex' as const, source: 'title' as const, pattern: '^\\[(?<host>[a-z0-9-]+)\\] (?<environment>[a-z0-9-]+):' }],
};

export interface SeedEnvironment {
  name: string;
  timezone: string;
  hosts: string[];
}

export const SEED_SERVICES = [
  { id: 'PSTORAGE1', name: 'storage' },
  { id: 'PWEBFRNT1', name: 'web-frontend' },
  { id: 'PDATABAS1', name: 'database' },
  { id: 'PQUEUES01', name: 'queues' },
] as const;

export const SEED_ENVIRONMENTS: SeedEnvironment[] = [
  { name: 'prod-eu', timezone: 'Europe/Paris', hosts: ['web-1', 'web-2', 'db-1', 'db-2', 'mq-1'] },
  { name: 'prod-us', timezone: 'America/New_York', hosts: ['web-11', 'web-12', 'db-11', 'mq-11'] },
  { name: 'prod-apac', timezone: 'Asia/Tokyo', hosts: ['web-21', 'db-21'] },
  { name: 'staging', timezone: 'UTC', hosts: ['stg-1', 'stg-2'] },
];

const PROBLEMS = [
  { service: 'PSTORAGE1', title: 'Disk usage above 95%', urgency: 'high' },
  { service: 'PSTORAGE1', title: 'Disk full', urgency: 'high' },
  { service: 'PWEBFRNT1', title: 'HTTP 5xx rate above 5%', urgency: 'high' },
  { service: 'PWEBFRNT1', title: 'Latency p99 above 2s', urgency: 'low' },
  { service: 'PDATABAS1', title: 'Replication lag above 300s', urgency: 'high' },
  { service: 'PDATABAS1', title: 'Connections near max_connections', urgency: 'low' },
  { service: 'PQUEUES01', title: 'Queue depth above 10000', urgency: 'high' },
] as const;

export interface SeededEvent {
  eventId: string;
  incidentId: string;
  eventType: string;
  at: Date;
  body: { event: Record<string, unknown> & { id: string; data: Record<string, unknown> } };
}

export interface SeededIncident {
  id: string;
  serviceId: string;
  serviceName: string;
  environment: string;
  host: string;
  title: string;
  urgency: string;
  events: SeededEvent[];
  /** Status after its last event. */
  status: string;
}

function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;

export interface HistoryOptions {
  incidents: number;
  from: Date;
  hours: number;
  seed?: number;
  /** Incidents of an alert storm: "Disk full" on storage in one hour (`storm.at`), on every host. */
  storm?: { at: Date; incidents: number };
  /** Prefix of incident ids (unique per test). */
  prefix?: string;
}

/** Incidents in time order of their trigger. */
export function buildHistory(opts: HistoryOptions): SeededIncident[] {
  const random = prng(opts.seed ?? 21);
  const prefix = opts.prefix ?? 'H';
  const out: SeededIncident[] = [];
  const span = opts.hours * 3_600_000;
  const make = (n: number, at: Date, problem: (typeof PROBLEMS)[number], env: SeedEnvironment, host: string) => {
    const id = `${prefix}${String(n).padStart(5, '0')}`;
    const service = SEED_SERVICES.find((s) => s.id === problem.service)!;
    const title = `[${host}] ${env.name}: ${problem.title}`;
    const data = {
      title,
      urgency: problem.urgency,
      number: n,
      html_url: `https://example.pagerduty.com/incidents/${id}`,
      service: { id: service.id, type: 'service_reference', summary: service.name, html_url: `https://example.pagerduty.com/services/${service.id}` },
    };
    const events: SeededEvent[] = [];
    let t = at.getTime();
    let seq = 0;
    const add = (sample: string, type: string, extra: Record<string, unknown> = {}, partial = false) => {
      seq += 1;
      const eventId = `E${id}-${seq}`;
      const body = sampleFor(sample, id, { eventId, occurredAt: new Date(t).toISOString(), data: partial ? extra : { ...data, ...extra } });
      events.push({ eventId, incidentId: id, eventType: type, at: new Date(t), body });
    };
    add('v3-incident.triggered-01.json', 'incident.triggered', { status: 'triggered' });
    let status = 'triggered';
    if (random() < 0.1) {
      t += (5 + random() * 20) * 60_000;
      add('v3-incident.escalated-01.json', 'incident.escalated', { status: 'triggered' });
    }
    if (random() < 0.7) {
      t += (2 + random() * 28) * 60_000;
      add('v3-incident.acknowledged-01.json', 'incident.acknowledged', { status: 'acknowledged' });
      status = 'acknowledged';
    }
    if (random() < 0.25) {
      t += (1 + random() * 10) * 60_000;
      add('v3-incident.annotated-01.json', 'incident.annotated', { content: random() < 0.5 ? 'Looking into it' : 'Restarted the service by hand' }, true);
    }
    if (random() < 0.9) {
      t += (10 + random() * 110) * 60_000;
      add('v3-incident.resolved-01.json', 'incident.resolved', { status: 'resolved' });
      status = 'resolved';
      if (random() < 0.05) {
        t += (5 + random() * 30) * 60_000;
        add('v3-incident.reopened-01.json', 'incident.reopened', { status: 'triggered' });
        status = 'triggered';
      } else if (random() < 0.08) {
        t += (1 + random() * 20) * 60_000;
        add('v3-incident.annotated-01.json', 'incident.annotated', { content: 'Post-mortem: root cause found' }, true);
      }
    }
    return { id, serviceId: service.id, serviceName: service.name, environment: env.name, host, title, urgency: problem.urgency, events, status };
  };
  for (let i = 0; i < opts.incidents; i++) {
    const env = pick(random, SEED_ENVIRONMENTS);
    const at = new Date(opts.from.getTime() + Math.floor(random() * span));
    out.push(make(i, at, pick(random, PROBLEMS), env, pick(random, env.hosts)));
  }
  if (opts.storm) {
    const problem = PROBLEMS[1];
    const hosts = SEED_ENVIRONMENTS.flatMap((e) => e.hosts.map((h) => ({ env: e, host: h })));
    for (let i = 0; i < opts.storm.incidents; i++) {
      const { env, host } = hosts[i % hosts.length]!;
      const at = new Date(opts.storm.at.getTime() + Math.floor((i * 3_600_000) / (opts.storm.incidents + 1)));
      out.push(make(opts.incidents + i, at, problem, env, host));
    }
  }
  return out.sort((a, b) => a.events[0]!.at.getTime() - b.events[0]!.at.getTime());
}

/**
 * One storage incident of `host` in `environment` (the title carries both, as TITLE_EXTRACTORS reads them),
 * triggered at `at`: for a history made to order, e.g. a host that an attacker named `--apply`.
 */
export function seededIncident(o: { id: string; host: string; environment: string; at: Date; problem?: string }): SeededIncident {
  const service = SEED_SERVICES[0];
  const title = `[${o.host}] ${o.environment}: ${o.problem ?? 'Disk full'}`;
  const eventId = `E${o.id}-1`;
  const data = { title, urgency: 'high', status: 'triggered', html_url: `https://example.pagerduty.com/incidents/${o.id}`, service: { id: service.id, type: 'service_reference', summary: service.name } };
  const body = sampleFor('v3-incident.triggered-01.json', o.id, { eventId, occurredAt: o.at.toISOString(), data });
  return {
    id: o.id,
    serviceId: service.id,
    serviceName: service.name,
    environment: o.environment,
    host: o.host,
    title,
    urgency: 'high',
    events: [{ eventId, incidentId: o.id, eventType: 'incident.triggered', at: o.at, body }],
    status: 'triggered',
  };
}

/** Every event of the history, in the order received. */
export const eventsOf = (incidents: readonly SeededIncident[]): SeededEvent[] =>
  incidents.flatMap((i) => i.events).sort((a, b) => a.at.getTime() - b.at.getTime() || (a.eventId < b.eventId ? -1 : 1));

/** Writes the incidents and their events as the pipeline would have stored them. */
export async function storeHistory(db: Kysely<Database>, incidents: readonly SeededIncident[]): Promise<void> {
  for (let i = 0; i < incidents.length; i += 200) {
    const batch = incidents.slice(i, i + 200);
    await db
      .insertInto('incidents')
      .values(
        batch.map((inc) => {
          const last = inc.events[inc.events.length - 1]!;
          return {
            id: inc.id,
            number: Number(inc.id.replace(/\D/g, '')) || null,
            title: inc.title,
            status: inc.status,
            urgency: inc.urgency,
            service_id: inc.serviceId,
            service_name: inc.serviceName,
            assignees: JSON.stringify([]),
            html_url: `https://example.pagerduty.com/incidents/${inc.id}`,
            environment: JSON.stringify({ host: inc.host, environment: inc.environment }),
            workflow_id: `incident-${inc.id}`,
            pd_created_at: inc.events[0]!.at,
            last_event_at: last.at,
            resolved_at: inc.status === 'resolved' ? last.at : null,
          };
        }),
      )
      .execute();
  }
  const events = eventsOf(incidents);
  for (let i = 0; i < events.length; i += 500) {
    await db
      .insertInto('incident_events')
      .values(
        events.slice(i, i + 500).map((e) => ({
          event_id: e.eventId,
          incident_id: e.incidentId,
          event_type: e.eventType,
          resource_type: 'incident',
          occurred_at: e.at,
          received_at: e.at,
          disposition: 'accepted',
          payload: JSON.stringify({ event: e.body.event }),
        })),
      )
      .execute();
  }
}

export interface RecordedRunSeed {
  incidentId: string;
  eventId: string;
  ruleId: string;
  ruleName?: string;
  version?: number;
  decision: string;
  skipReason?: string | null;
  target?: string | null;
  matchedAt: Date;
  /** Action runs of the match: status, and when each finished (null: still running). */
  actions?: { status: string; finishedAt: Date | null; type?: string }[];
}

/** What a rule decided for an event at the time, with its action runs. */
export async function storeRecordedMatch(db: Kysely<Database>, m: RecordedRunSeed): Promise<void> {
  const row = await db
    .insertInto('rule_matches')
    .values({
      incident_id: m.incidentId,
      event_id: m.eventId,
      rule_id: m.ruleId,
      rule_version: m.version ?? 1,
      rule_name: m.ruleName ?? m.ruleId,
      explanation: JSON.stringify({ kind: 'always', result: true, text: 'seeded' }),
      decision: m.decision,
      skip_reason: m.skipReason ?? null,
      target: m.target ?? null,
      matched_at: m.matchedAt,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  for (const [index, a] of (m.actions ?? []).entries()) {
    const id = `${m.incidentId}:${m.ruleId}:a${index}:${m.eventId}`;
    await db
      .insertInto('action_runs')
      .values({
        id,
        idempotency_key: id,
        incident_id: m.incidentId,
        match_id: String(row.id),
        rule_id: m.ruleId,
        rule_version: m.version ?? 1,
        action_index: index,
        action_id: `a${index}`,
        action_type: a.type ?? 'pagerduty.note',
        status: a.status,
        target: m.target ?? null,
        started_at: m.matchedAt,
        finished_at: a.finishedAt,
        created_at: m.matchedAt,
      })
      .execute();
  }
}
