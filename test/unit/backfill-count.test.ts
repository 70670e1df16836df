import assert from 'node:assert/strict';
import { CronExpressionParser } from 'cron-parser';
import { countScheduledTimes, MAX_BACKFILL_COUNT_STEPS, MAX_BACKFILL_RUNS, nextDayMatchingBoth } from '../../src/domain/jobs.js';

// A backfill's window is counted (countScheduledTimes) on the API's event loop. When both day fields of a
// cron are restricted, Temporal runs on a day matching both; the count used to walk, with cron-parser, every
// day matching either (a step of up to a millisecond in a time zone), without bound: 2,822 steps for the 25
// Mondays 29 February of years 1 to 9999. It now jumps to the next day matching both by calendar
// arithmetic, and takes at most MAX_BACKFILL_COUNT_STEPS steps. The counts are those of the old walk, kept
// here as the reference.

function referenceCount(cron: string, tz: string, start: Date, end: Date, cap = MAX_BACKFILL_RUNS): number {
  const t = CronExpressionParser.parse(cron, { tz, currentDate: new Date(start.getTime() - 1), endDate: end });
  const f = t.fields;
  const both = !f.dayOfMonth.isWildcard && !f.dayOfWeek.isWildcard;
  const days = new Set<number | string>(f.dayOfMonth.values);
  const weekdays = new Set<number | string>(f.dayOfWeek.values.map((d) => (d === 7 ? 0 : d)));
  let n = 0;
  while (n <= cap && t.hasNext()) {
    const x = t.next();
    if (!both || (days.has(x.getDate()) && weekdays.has(x.getDay()))) {
      n += 1;
      continue;
    }
    x.setEndOfDay();
    t.reset(x);
  }
  return n;
}

const at = (s: string) => new Date(s);

describe('backfill count: bounded in steps, the same counts', function () {
  this.timeout(120_000);

  it('counts as the day-by-day walk did, in a few steps a run (crons with both day fields, time zones with time changes)', function () {
    const crons = ['0 0 29 2 1', '0 9 13 * FRI', '30 2 1-7 * 0', '0 0 * 3,10 0', '0 0,12 31 * 1-5', '0 0 1 1 1', '0 6 * * MON-FRI'];
    const zones = ['UTC', 'America/Santiago', 'Australia/Lord_Howe'];
    const windows: [string, string][] = [
      ['2020-01-01T00:00:00Z', '2021-06-01T00:00:00Z'],
      ['2026-03-28T00:00:00Z', '2026-11-05T00:00:00Z'],
      ['2016-03-01T00:00:00Z', '2030-01-01T00:00:00Z'],
    ];
    for (const cron of crons)
      for (const tz of zones)
        for (const [s, e] of windows) {
          const got = countScheduledTimes({ cron, timezone: tz }, at(s), at(e));
          assert.equal(got.runs, referenceCount(cron, tz, at(s), at(e)), `${cron} in ${tz}, ${s} to ${e}`);
          assert.equal(got.stoppedAt, null, `${cron} in ${tz}, ${s} to ${e}: counted to the end`);
          assert.ok(got.steps <= 2 * (MAX_BACKFILL_RUNS + 1) + 1, `${cron} in ${tz}, ${s} to ${e}: ${got.steps} steps`);
        }
  });

  it('years 0001 to 9999 of "0 0 29 2 1" in America/Santiago: past the cap in a few dozen steps (the walk took 2,822)', function () {
    const got = countScheduledTimes({ cron: '0 0 29 2 1', timezone: 'America/Santiago' }, at('0001-01-01T00:00:00Z'), at('9999-12-31T23:59:59Z'));
    assert.equal(got.runs, MAX_BACKFILL_RUNS + 1);
    assert.ok(got.steps <= 2 * (MAX_BACKFILL_RUNS + 1), `${got.steps} steps`);
  });

  it('a count that runs out of steps says where it stopped: a window ending there is counted within the budget', function () {
    const start = at('2000-01-01T00:00:00Z');
    const cut = countScheduledTimes({ cron: '0 9 13 * FRI', timezone: 'America/Santiago' }, start, at('2030-01-01T00:00:00Z'), { maxSteps: 10 });
    assert.equal(cut.steps, 10);
    assert.ok(cut.stoppedAt, 'stopped');
    const again = countScheduledTimes({ cron: '0 9 13 * FRI', timezone: 'America/Santiago' }, start, cut.stoppedAt, { maxSteps: 10 });
    assert.equal(again.stoppedAt, null, 'the window up to stoppedAt fits');
    assert.equal(again.runs, referenceCount('0 9 13 * FRI', 'America/Santiago', start, cut.stoppedAt));
    assert.ok(MAX_BACKFILL_COUNT_STEPS >= 2 * (MAX_BACKFILL_RUNS + 1), 'the budget holds a window of the cap');
  });

  it('nextDayMatchingBoth: Friday the 13th, Monday 29 February, years before 100 are not 1900s', function () {
    const fri13 = nextDayMatchingBoth({ year: 2026, month: 1, day: 1 }, new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]), [13], new Set([5]), 2100);
    assert.deepEqual(fri13, { year: 2026, month: 2, day: 13 });
    assert.deepEqual(nextDayMatchingBoth({ year: 2024, month: 2, day: 29 }, new Set([2]), [29], new Set([1]), 3000), { year: 2044, month: 2, day: 29 });
    // 0004-02-29 is a Sunday in the proleptic Gregorian calendar (1904-02-29 was a Monday).
    assert.deepEqual(nextDayMatchingBoth({ year: 1, month: 1, day: 1 }, new Set([2]), [29], new Set([0]), 100), { year: 4, month: 2, day: 29 });
    assert.equal(nextDayMatchingBoth({ year: 2026, month: 1, day: 1 }, new Set([2]), [30], new Set([1]), 2500), undefined);
  });
});
