// The API app in process over a test database of its own and a stub of Temporal's schedules
// (schedule-stub.ts), for tests of how a job save holds the rows of its targets against other requests: a
// save can be held at its last step, the schedule's creation in Temporal, its transaction open.
import assert from 'node:assert/strict';
import type { ScheduleOptions } from '@temporalio/client';
import { sql } from 'kysely';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { stubScheduleClient } from './schedule-stub.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read by the assertions
export type Doc = Record<string, any>;

export interface HeldSaveApi {
  /** The test database (set once the suite's `before` ran). */
  readonly db: TestDatabase;
  /** A request as the admin, JSON in: its status, content type and JSON body. */
  call(method: string, path: string, body?: unknown): Promise<{ status: number; type: string | null; body: Doc }>;
  /**
   * Starts a job save (POST /api/jobs with `body`) whose last step, the schedule's creation in Temporal,
   * waits until `release` is called: its transaction is open, holding its targets' rows as a save does
   * (FOR KEY SHARE). Answers once the save reached that step.
   */
  heldSave(body: unknown): Promise<{ saving: Promise<{ status: number; type: string | null; body: Doc }>; release: () => void }>;
  /** Whether `request` ends by itself ('ended') or some query of this database waits on a lock first ('waiting'). */
  endsOrWaits(request: Promise<unknown>): Promise<'ended' | 'waiting'>;
}

/**
 * Sets up, in the calling describe block's hooks, a test database and the API app over it with the admin
 * token `adminToken` and a stub schedule client; a held save's gate is taken off after each test.
 */
export function heldSaveApi(adminToken: string): HeldSaveApi {
  let db: TestDatabase | undefined;
  let app: ReturnType<typeof createApp>;
  const { temporal } = stubScheduleClient();
  const schedules = (temporal as unknown as { schedule: { create: (o: ScheduleOptions) => Promise<unknown> } }).schedule;
  const create = schedules.create;

  before(async function () {
    db = await createTestDatabase();
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: adminToken, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    app = createApp({ config, db: db.db, temporal, logger: createLogger({ level: 'silent' }) }, allRoutes);
  });
  afterEach(() => {
    schedules.create = create;
  });
  after(async () => db?.close());

  const call: HeldSaveApi['call'] = async (method, path, body) => {
    const res = await app.request(path, { method, headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await res.text();
    return { status: res.status, type: res.headers.get('content-type'), body: (text ? JSON.parse(text) : {}) as Doc };
  };

  const database = (): TestDatabase => {
    assert.ok(db, 'the suite has not set up its database yet');
    return db;
  };

  return {
    get db() {
      return database();
    },
    call,
    async heldSave(body) {
      let entered!: () => void;
      const inSave = new Promise<void>((resolve) => (entered = resolve));
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      schedules.create = async (o) => {
        entered();
        await gate;
        return create(o);
      };
      const saving = call('POST', '/api/jobs', body);
      await inSave;
      return { saving, release };
    },
    async endsOrWaits(request) {
      const d = database();
      let settled = false;
      const waiting = (async () => {
        while (!settled) {
          const { rows } = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()`.execute(d.db);
          if (rows[0]!.n > 0) return 'waiting' as const;
          await new Promise((r) => setTimeout(r, 20));
        }
        return 'ended' as const;
      })();
      const first = await Promise.race([request.then(() => 'ended' as const), waiting]);
      settled = true;
      await waiting;
      return first;
    },
  };
}
