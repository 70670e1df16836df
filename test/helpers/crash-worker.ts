// A main worker process for fault tests that dies at a chosen point: after an action run is claimed in
// Postgres and before its side effect. It claims, prints "claimed <action run id>", and hangs until the
// test SIGKILLs it. Run with startChildRoot('test/helpers/crash-worker.ts', env).
// With CRASH_AFTER_TRIAGE_OF=<event id> it runs every action and dies instead once the triage of that
// event committed, before its workflow task completed: it prints "triaged <event id>" and hangs.
// With CRASH_AFTER_PARK=1 it dies once an incident run's first park of queued events committed, before
// the run continued as new (workflows/incident-steps.ts parkPending): it prints "parked <n>" and hangs.
import { NativeConnection } from '@temporalio/worker';
import { createActivities } from '../../activities/index.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/connect.js';
import { createIntegrations } from '../../src/integrations.js';
import { createLogger } from '../../src/logger.js';
import { createMainWorker, installTemporalRuntime } from '../../src/temporal/worker.js';

const config = loadConfig(process.env);
const crashAfterTriageOf = process.env.CRASH_AFTER_TRIAGE_OF;
const crashAfterPark = process.env.CRASH_AFTER_PARK === '1';
const logger = createLogger({ level: 'warn' });
installTemporalRuntime(logger);
const { db } = await openDatabase({ url: config.database.url, dataDir: '' });
const real = createActivities({ db, logger, extractors: { extractors: [{ type: 'regex', source: 'title', pattern: '^\\[(?<host>[a-z0-9-]+)\\]' }] }, integrations: createIntegrations(config) });
const connection = await NativeConnection.connect({ address: config.temporal.address ?? 'localhost:7233' });
const worker = await createMainWorker({
  connection,
  namespace: config.temporal.namespace,
  taskQueue: config.temporal.taskQueue,
  activities: crashAfterPark
    ? {
        ...real,
        async parkIncidentEvents(input: Parameters<typeof real.parkIncidentEvents>[0]) {
          await real.parkIncidentEvents(input);
          process.stdout.write(`parked ${input.messages.length}\n`);
          return new Promise<never>(() => undefined);
        },
      }
    : crashAfterTriageOf
    ? {
        ...real,
        async triageIncidentEvent(input: Parameters<typeof real.triageIncidentEvent>[0]) {
          const result = await real.triageIncidentEvent(input);
          if (input.message.eventId !== crashAfterTriageOf) return result;
          process.stdout.write(`triaged ${input.message.eventId}\n`);
          return new Promise<never>(() => undefined);
        },
      }
    : {
        ...real,
        async claimAction(input: Parameters<typeof real.claimAction>[0]) {
          await real.claimAction(input);
          process.stdout.write(`claimed ${input.actionRunId}\n`);
          return new Promise<never>(() => undefined);
        },
      },
});
process.stdout.write('worker started\n');
await worker.run();
