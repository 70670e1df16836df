// The worker's action activities over a test database, configured from `env` the way the worker is (the
// same variables also resolve secret references), with a PagerDuty client that is never reached: for
// tests of one action's side effect at its peer (SMTP relay, GitHub, …).
import type { Kysely } from 'kysely';
import { createActionActivities } from '../../activities/actions.js';
import { loadConfig } from '../../src/config.js';
import type { Database } from '../../src/db/database.js';
import { createIntegrations } from '../../src/integrations.js';
import { createLogger, type Logger } from '../../src/logger.js';
import { createPagerDutyClient } from '../../src/pagerduty/rest-client.js';

/** `logger`: where the activities log (default silent), for a test that reads what they wrote. */
export function actionActivities(db: { db: Kysely<Database> }, env: Record<string, string>, logger: Logger = createLogger({ level: 'silent' })) {
  return createActionActivities({
    db: db.db,
    logger,
    pagerduty: createPagerDutyClient({ baseUrl: 'http://127.0.0.1:9', token: 'unused', fromEmail: 'selfheal@example.com' }),
    // Egress is not under test: loopback peers are reached directly.
    integrations: createIntegrations(loadConfig(env), { env, fetch: globalThis.fetch }),
    env,
    sideEffects: { budgetMs: 5_000, settleMs: 10_000 },
  });
}
