// End to end over real HTTP: signed webhook → API → signalWithStart → incident workflow → persist,
// extract, match → a no-op action (notify.webhook to a local sink).
//  - latency from the delivery to the action run's started_at (and to the sink receiving the call);
//  - an alert storm: N new incidents delivered as fast as the API takes them; drain time until every
//    incident is persisted and every action has finished; incidents fully processed per second.
import { randomBytes, randomUUID } from 'node:crypto';
import { parseRuleInput, type RuleInputDocument } from '../src/domain/rules/schema.js';
import { cpuSince, perItemMs, type CpuParts, type CpuUse } from './cpu.js';
import { newBatch, persistedCount } from './deliveries.js';
import { closedLoop, keepAliveTarget, log, openLoop, pollUntil, quick, request, round, sleep, summarize, type LatencySummary } from './lib.js';
import { incidentWorkflowId } from '../src/contracts/names.js';
import { perIncident, pgCounters, pgCountersSettled, pgWritesBetween, type PgWrites } from './pg-writes.js';
import { CALLERS_IN_STORM, runSameShapeFloor, settledShape, type FloorStorm } from './same-shape.js';
import { cloudActions, describeShape, totalCounts, type ShapeCounts, type WorkflowShape } from './shape.js';
import type { BenchStack } from './stack.js';

export interface EndToEndResults {
  /** One trickle incident's shape (incident workflow and its rule runs), read from its histories. */
  shape?: { workflows: WorkflowShape; total: ShapeCounts & { workflows: number }; cloudActions: number };
  /** The same-shape floor's storm, run just before the real one (the server a little emptier for it). */
  floor?: FloorStorm;
  latency: { rate: number; incidents: number; toActionStarted: LatencySummary; toSink: LatencySummary; missing: number };
  storm: {
    incidents: number;
    deliverSeconds: number;
    deliverPerSecond: number;
    accepted: number;
    redeliveries: number;
    persisted: number;
    actionsFinished: number;
    actionsSucceeded: number;
    drainSeconds: number;
    processedPerSecond: number;
    toActionStarted: LatencySummary;
    complete: boolean;
    /** CPU by process from the first delivery until every action finished. */
    cpu: CpuUse;
    /** CPU milliseconds per incident by process. */
    cpuPerIncidentMs: CpuParts;
    /** Postgres writes per incident over the storm (pg_stat_database, pg_stat_user_tables). */
    pgWritesPerIncident?: PgWrites;
  };
}

async function addRule(stack: BenchStack, serviceId: string): Promise<void> {
  const doc: RuleInputDocument = {
    name: `bench-noop-${randomBytes(3).toString('hex')}`,
    services: [serviceId],
    conditions: { all: [{ field: 'incident.urgency', op: 'equals', value: 'high' }, { field: 'incident.title', op: 'matches', value: '^Disk full' }] },
    actions: [{ id: 'ping', type: 'notify.webhook', url: stack.sink.url, body: '{"incident":"{{ incident.id }}"}' }],
  };
  const parsed = parseRuleInput(doc);
  if (!parsed.ok) throw new Error(`invalid bench rule: ${JSON.stringify(parsed.issues)}`);
  await stack.database.db
    .insertInto('rules')
    .values({ id: `r-${randomUUID()}`, name: parsed.value.name, version: 1, enabled: true, definition: JSON.stringify(parsed.value) })
    .execute();
}

interface ActionProgress {
  finished: number;
  succeeded: number;
  started: Map<string, number>;
}

async function actionProgress(stack: BenchStack, incidentPrefix: string): Promise<ActionProgress> {
  const rows = await stack.database.db
    .selectFrom('action_runs')
    .select(['incident_id', 'status', 'started_at', 'finished_at'])
    .where('incident_id', 'like', `${incidentPrefix}%`)
    .execute();
  const started = new Map<string, number>();
  let finished = 0;
  let succeeded = 0;
  for (const r of rows) {
    if (r.finished_at) finished += 1;
    if (r.status === 'succeeded') succeeded += 1;
    if (r.incident_id && r.started_at) started.set(r.incident_id, new Date(r.started_at).getTime());
  }
  return { finished, succeeded, started };
}

const incidentPrefixOf = (eventPrefix: string): string => `Q${eventPrefix.slice(1, -1)}`;

export async function runEndToEnd(stack: BenchStack): Promise<EndToEndResults> {
  const serviceId = `PBENCH${randomBytes(3).toString('hex').toUpperCase()}`;
  await addRule(stack, serviceId);
  const target = keepAliveTarget(stack.api.url, 256);
  try {
    // Latency: a steady trickle, each a new incident.
    const rate = 5;
    const seconds = quick ? 4 : 12;
    log(`end to end: latency at ${rate}/s for ${seconds} s`);
    const trickle = newBatch('lat', { serviceId });
    const sentAt = new Map<string, number>();
    const load = await openLoop({
      target,
      rate,
      durationMs: seconds * 1000,
      build: (i) => {
        const d = trickle.build(i);
        sentAt.set(d.incidentId, Date.now());
        return d;
      },
    });
    const prefix = incidentPrefixOf(trickle.eventPrefix);
    const progress =
      (await pollUntil(async () => {
        const p = await actionProgress(stack, prefix);
        return p.finished >= load.ok ? p : undefined;
      }, 120_000)) ?? (await actionProgress(stack, prefix));
    const toStarted: number[] = [];
    const toSink: number[] = [];
    for (const [incidentId, t0] of sentAt) {
      const started = progress.started.get(incidentId);
      if (started !== undefined) toStarted.push(started - t0);
      const arrived = stack.sink.arrivals.get(incidentId);
      if (arrived !== undefined) toSink.push(arrived - t0);
    }
    const latency = { rate, incidents: sentAt.size, toActionStarted: summarize(toStarted), toSink: summarize(toSink), missing: sentAt.size - toStarted.length };
    log(`  to action started p50 ${latency.toActionStarted.p50Ms} ms, p99 ${latency.toActionStarted.p99Ms} ms; to sink p50 ${latency.toSink.p50Ms} ms`);

    const incidents = quick ? 300 : 2000;
    // The shape of one incident as it ran (one rule, one no-op action, write-back off), then the floor
    // with that shape, same storm size and callers, before the real storm.
    let shape: EndToEndResults['shape'];
    let floor: FloorStorm | undefined;
    const sample = [...sentAt.keys()].find((id) => progress.started.has(id));
    if (sample) {
      const workflows = await settledShape(stack, incidentWorkflowId(sample));
      shape = { workflows, total: totalCounts(workflows), cloudActions: cloudActions(workflows) };
      log(`  one incident's Temporal shape (${shape.cloudActions} Temporal Cloud actions):\n${describeShape(workflows, '    ').join('\n')}`);
      floor = await runSameShapeFloor(stack, workflows, incidents);
      log(`  floor: ${floor.processedPerSecond}/s processed, to action started p50 ${floor.toActionStarted.p50Ms} ms, p99 ${floor.toActionStarted.p99Ms} ms`);
    } else {
      log('  no trickle incident reached its action: no shape, no same-shape floor');
    }

    // Alert storm: deliver N new incidents as fast as the API accepts them, then wait for every action.
    log(`end to end: storm of ${incidents} incidents`);
    const storm = newBatch('storm', { serviceId });
    const stormPrefix = incidentPrefixOf(storm.eventPrefix);
    const stormSent = new Map<string, number>();
    const pgBefore = await pgCounters(stack);
    let ownQueries = 1;
    const cpuAtStart = stack.cpu();
    const t0 = Date.now();
    let accepted = 0;
    let retries = 0;
    const delivered = await closedLoop({
      concurrency: CALLERS_IN_STORM,
      count: incidents,
      maxMs: 240_000,
      // Like PagerDuty: a delivery not answered 2xx is retried (same event id) after a pause.
      op: async (i) => {
        const d = storm.build(i);
        stormSent.set(d.incidentId, Date.now());
        let last = '';
        for (let attempt = 1; attempt <= 10; attempt++) {
          if (attempt > 1) {
            retries += 1;
            await sleep(1000);
          }
          const answer = await request(target, d.path, { method: 'POST', headers: d.headers, body: d.body }).catch((err: unknown) => ({ status: 0, body: (err as Error).message }));
          if (answer.status === 202 || answer.status === 200) {
            accepted += 1;
            return;
          }
          last = `${answer.status} ${answer.body.slice(0, 100)}`;
        }
        throw new Error(`webhook not accepted after 10 attempts: ${last}`);
      },
    });
    log(`  delivered in ${delivered.seconds} s (${delivered.perSecond}/s), ${accepted} accepted after ${retries} redeliveries`);
    const drainBudgetMs = quick ? 150_000 : 420_000;
    let lastLog = Date.now();
    const done = await pollUntil(
      async () => {
        ownQueries += 1;
        const p = await actionProgress(stack, stormPrefix);
        if (Date.now() - lastLog > 15_000) {
          lastLog = Date.now();
          log(`  ${p.finished}/${accepted} actions finished`);
        }
        return p.finished >= accepted ? p : undefined;
      },
      drainBudgetMs,
      500,
    );
    const drainSeconds = round((Date.now() - t0) / 1000, 2);
    const cpu = cpuSince(cpuAtStart, stack.cpu());
    const final = done ?? (await actionProgress(stack, stormPrefix));
    const persisted = await persistedCount(stack, storm.eventPrefix);
    const pgWrites = pgWritesBetween(pgBefore, await pgCountersSettled(stack), ownQueries + (done ? 0 : 1) + 1);
    const stormLatencies: number[] = [];
    for (const [incidentId, sent] of stormSent) {
      const started = final.started.get(incidentId);
      if (started !== undefined) stormLatencies.push(started - sent);
    }
    const complete = done !== undefined && persisted.distinctEvents === accepted && persisted.rows === accepted && accepted === incidents;
    log(`  drained in ${drainSeconds} s: ${persisted.distinctEvents} persisted, ${final.finished} actions finished (${final.succeeded} succeeded)`);
    log(`  CPU s: ${JSON.stringify(cpu.parts)}, machine busy ${Math.round(cpu.machineBusy * 100)}%`);
    // The sink answered every call; nothing else is left running.
    await request(target, '/healthz');
    log(`  Postgres per incident: ${JSON.stringify(perIncident(pgWrites, accepted))}`);
    return {
      ...(shape ? { shape } : {}),
      ...(floor ? { floor } : {}),
      latency,
      storm: {
        incidents,
        deliverSeconds: delivered.seconds,
        deliverPerSecond: delivered.perSecond,
        accepted,
        redeliveries: retries,
        persisted: persisted.distinctEvents,
        actionsFinished: final.finished,
        actionsSucceeded: final.succeeded,
        drainSeconds,
        processedPerSecond: round(final.finished / drainSeconds),
        toActionStarted: summarize(stormLatencies),
        complete,
        cpu,
        cpuPerIncidentMs: perItemMs(cpu, accepted),
        pgWritesPerIncident: perIncident(pgWrites, accepted),
      },
    };
  } finally {
    target.agent.destroy();
  }
}

