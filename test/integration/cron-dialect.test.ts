// validateCron's dialect against a real Temporal server: every expression it accepts, a Temporal
// Schedule accepts too; the extensions it refuses, Temporal refuses as well, or (for "#") misreads,
// so the 400 at save time stands for an error or a surprise Temporal would give later.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { scheduledTimesIn, validateCron } from '../../src/domain/jobs.js';
import { testTemporal } from '../helpers/temporal.js';

const ACCEPTED = ['0 6 * * *', '*/15 * * * *', '0 9-17/2 * * MON-FRI', '30 2 1,15 jan,jul *', '0 0 * * 7', '5/15 * * * *', '0 0 29 2 *', '@daily', '@hourly'];
const REFUSED_BY_TEMPORAL = ['0 0 ? * *', '0 0 L * *', '0 0 1W * *', 'H 6 * * *', '0 0 * * 5L', '@Daily', '0 0 * * MOO', '0 25 * * *'];

describe('cron expressions: validateCron and Temporal Schedules agree', function () {
  let client: Client;

  before(async function () {
    client = (await testTemporal()).client;
  });

  /** Creates a paused schedule with this cron; its next three run times, or Temporal's error. */
  async function temporalSchedule(cron: string): Promise<{ next: string[] } | { error: string }> {
    try {
      const handle = await client.schedule.create({
        scheduleId: `cron-dialect-${randomUUID()}`,
        spec: { cronExpressions: [cron] },
        action: { type: 'startWorkflow', workflowType: 'cronDialectProbe', taskQueue: 'cron-dialect-probe', args: [] },
        state: { paused: true },
      });
      const described = await handle.describe();
      await handle.delete();
      return { next: described.info.nextActionTimes.slice(0, 3).map((d) => d.toISOString()) };
    } catch (err) {
      return { error: (err as Error).message };
    }
  }

  it('Temporal accepts every expression validateCron accepts', async function () {
    for (const cron of ACCEPTED) {
      assert.equal(validateCron(cron), undefined, cron);
      const result = await temporalSchedule(cron);
      assert.ok('next' in result && result.next.length === 3, `Temporal: ${cron} → ${JSON.stringify(result)}`);
    }
  });

  it('Temporal refuses what validateCron refuses as outside its dialect', async function () {
    for (const cron of REFUSED_BY_TEMPORAL) {
      assert.ok(validateCron(cron), `validateCron accepted ${cron}`);
      assert.ok('error' in await temporalSchedule(cron), `Temporal accepted ${cron}`);
    }
  });

  // Found in review: cron-parser, like cron(8), runs on a day matching either day field when both are
  // restricted; Temporal only on a day matching both. Counted the first way, a backfill of "Friday the
  // 13th" over a year was refused as more than 24 runs, and "30 February, a Monday" was saved to never run.
  it('both day fields restricted: a day must match both, as Temporal runs it; one that never comes is refused', async function () {
    for (const cron of ['0 9 13 * FRI', '0 0 1-7 * MON', '15 6 1,15 * SAT,SUN']) {
      assert.equal(validateCron(cron), undefined, cron);
      const result = await temporalSchedule(cron);
      assert.ok('next' in result && result.next.length === 3, `Temporal: ${cron} → ${JSON.stringify(result)}`);
      // From now to Temporal's third run: Temporal's three, no more (every Friday and every 13th were more).
      assert.equal(scheduledTimesIn({ cron, timezone: 'UTC' }, new Date(), new Date(result.next[2]!)), 3, cron);
    }
    const never = await temporalSchedule('0 0 30 2 MON');
    assert.ok('next' in never && never.next.length === 0, JSON.stringify(never));
    assert.match(validateCron('0 0 30 2 MON')!, /never runs: no day matches both its day of month and its day of week/);
  });

  it('"5#2" is refused: Temporal would take "#2" as a comment and run every Friday', async function () {
    assert.match(validateCron('0 0 * * 5#2')!, /"#" starts a comment/);
    const nth = await temporalSchedule('0 0 * * 5#2');
    const everyFriday = await temporalSchedule('0 0 * * 5');
    assert.ok('next' in nth && 'next' in everyFriday);
    assert.deepEqual(nth.next, everyFriday.next);
  });
});
