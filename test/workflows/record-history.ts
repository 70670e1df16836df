// Record incident-workflow histories for the replay test (not a test itself):
//   npx tsx test/workflows/record-history.ts <name-prefix>
// Runs the current workflow code against the test stack (Temporal dev server, database, real worker) in
// two scenarios and writes test/workflows/histories/<prefix>{,-out-of-order}.json:
//  - triggered (a rule runs a notify.webhook action), acknowledged, resolved; the run then lingers;
//  - resolved delivered before triggered (the late trigger is stale and acts on nothing).
// Record after every change that alters the commands a run issues, so later changes are checked
// against runs the deployed code leaves in flight.
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { incidentWorkflowId } from '../../src/temporal/names.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

const prefix = process.argv[2];
if (!prefix || !/^[a-z0-9-]+$/.test(prefix)) {
  process.stderr.write('usage: npx tsx test/workflows/record-history.ts <name-prefix> (lowercase, digits, dashes)\n');
  process.exit(2);
}

async function lingering(stack: Stack, id: string): Promise<void> {
  await eventually(
    async () => {
      const events = (await stack.temporal.client.workflow.getHandle(incidentWorkflowId(id)).fetchHistory()).events ?? [];
      // The last command is the linger timer once the run has handled every event.
      return events.at(-1)?.timerStartedEventAttributes ? true : undefined;
    },
    60_000,
    `${id} to wait for late events`,
  );
}

async function save(stack: Stack, id: string, file: string): Promise<void> {
  const history = await stack.temporal.client.workflow.getHandle(incidentWorkflowId(id)).fetchHistory();
  const { historyToJSON } = await import('@temporalio/common/lib/proto-utils.js');
  const path = new URL(`./histories/${file}`, import.meta.url);
  writeFileSync(path, `${historyToJSON(history)}\n`);
  process.stdout.write(`wrote ${path.pathname} (${history.events?.length ?? 0} events)\n`);
}

async function main(): Promise<void> {
  const sink = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(204).end());
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', () => r()));
  const sinkUrl = `http://127.0.0.1:${(sink.address() as { port: number }).port}/hook`;
  const stack = await startStack();
  try {
    const serviceId = newServiceId();
    await insertRule(stack.db.db, {
      name: `record-${prefix}`,
      services: [serviceId],
      conditions: { all: [{ field: 'incident.urgency', op: 'equals', value: 'high' }] },
      actions: [{ id: 'ping', type: 'notify.webhook', url: sinkUrl, body: '{"incident":"{{ incident.id }}"}' }],
    });
    const service = { service: { id: serviceId, type: 'service_reference', summary: 'Recorded', html_url: 'https://example.pagerduty.com/services/x' } };

    const id = newIncidentId();
    const steps: [string, string][] = [
      ['v3-incident.triggered-01.json', '2026-05-01T10:00:00Z'],
      ['v3-incident.acknowledged-01.json', '2026-05-01T10:01:00Z'],
      ['v3-incident.resolved-01.json', '2026-05-01T10:02:00Z'],
    ];
    for (const [i, [sample, occurredAt]] of steps.entries()) {
      const res = await stack.deliver(sampleFor(sample, id, { occurredAt, data: { urgency: 'high', ...service } }));
      if (res.status !== 202) throw new Error(`${sample}: ${res.status}`);
      await eventually(
        async () => ((await stack.db.db.selectFrom('incident_events').select('id').where('incident_id', '=', id).execute()).length > i ? true : undefined),
        30_000,
        `${sample} to be persisted`,
      );
    }
    await eventually(async () => (await stack.db.db.selectFrom('action_runs').select('finished_at').where('incident_id', '=', id).executeTakeFirst())?.finished_at ?? undefined, 30_000, 'the action to finish');
    await lingering(stack, id);
    await save(stack, id, `${prefix}.json`);

    const late = newIncidentId();
    for (const [sample, occurredAt] of [
      ['v3-incident.resolved-01.json', '2026-05-01T11:05:00Z'],
      ['v3-incident.triggered-01.json', '2026-05-01T11:00:00Z'],
    ] as const) {
      const res = await stack.deliver(sampleFor(sample, late, { occurredAt, data: { urgency: 'high', ...service } }));
      if (res.status !== 202) throw new Error(`${sample}: ${res.status}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    await eventually(async () => ((await stack.db.db.selectFrom('incident_events').select('id').where('incident_id', '=', late).execute()).length === 2 ? true : undefined), 30_000);
    await lingering(stack, late);
    await save(stack, late, `${prefix}-out-of-order.json`);

  } finally {
    await stack.stop();
    sink.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
