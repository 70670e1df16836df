import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { jobDefinitionSchema, jobScriptArgs, offEverySchedulesGrid, onScheduleGrid, previousScheduledTime, MAX_BACKFILL_RUNS, MAX_JOB_RUN_TARGETS, MIN_JOB_INTERVAL_SECONDS, parseDuration, parseInterval, runTargetCountProblem, runTimeoutProblem, scheduledTimesIn, scheduleFrequencyProblem, scheduleSpecOf, slugify, timeZoneSpelling, validateCron } from '../../src/domain/jobs.js';

const base = { name: 'Root password expiry', script: 'check-root-password-expiry.sh', targets: { all: true } };

function issues(input: unknown): string[] {
  const r = jobDefinitionSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('job schedules (pure)', function () {
  it('parses durations and intervals, with offsets', function () {
    assert.equal(parseDuration('30m'), 30 * 60_000);
    assert.equal(parseDuration('1h30m'), 90 * 60_000);
    assert.equal(parseDuration('0s'), undefined);
    assert.equal(parseDuration('1 hour'), undefined);
    assert.deepEqual(parseInterval('1h'), { ok: true, spec: { everyMs: 3_600_000, offsetMs: 0 } });
    assert.deepEqual(parseInterval('every 1h offset 15m'), { ok: true, spec: { everyMs: 3_600_000, offsetMs: 900_000 } });
    assert.deepEqual(parseInterval('@every 2h/30m'), { ok: true, spec: { everyMs: 7_200_000, offsetMs: 1_800_000 } });
  });

  it('names the problem of a bad interval', function () {
    const offset = parseInterval('every 1h offset 2h');
    assert.equal(offset.ok, false);
    assert.match((offset as { message: string }).message, /offset 2h must be shorter than the interval 1h/);
    assert.match((parseInterval('every hour') as { message: string }).message, /"hour" is not a duration/);
    assert.match((parseInterval('every 1h at noon') as { message: string }).message, /not understood/);
  });

  it('refuses an interval shorter than a minute, naming schedule.interval; a cron fires at most once a minute', function () {
    assert.equal(MIN_JOB_INTERVAL_SECONDS, 60);
    for (const fast of ['1s', '59s', 'every 30s', 'every 30s offset 10s', '@every 59s/10s', ' 1s ']) {
      const problem = scheduleFrequencyProblem({ interval: fast });
      assert.equal(problem?.path, 'schedule.interval', fast);
      assert.match(problem!.message, new RegExp(`^must be at least 60s \\(1m\\), got "${fast.trim()}"`), fast);
    }
    for (const ok of ['60s', '1m', 'every 1m offset 30s', '@every 90s', '1h', '2d']) assert.equal(scheduleFrequencyProblem({ interval: ok }), undefined, ok);
    // A cron has no seconds field: the tightest one ('* * * * *') fires once a minute, and six fields are refused.
    assert.equal(scheduleFrequencyProblem({ cron: '* * * * *' }), undefined);
    assert.equal(validateCron('* * * * *'), undefined);
    assert.match(validateCron('* * * * * *')!, /has 6 fields; expected 5/);
    assert.match(validateCron('*/5 * * * * *')!, /has 6 fields; expected 5/);
  });

  it('counts the scheduled times in a backfill window (both ends included), up to the cap + 1', function () {
    const at = (iso: string) => new Date(iso);
    assert.equal(scheduledTimesIn({ interval: '1h' }, at('2026-11-01T00:00:00Z'), at('2026-11-01T05:00:00Z')), 6);
    assert.equal(scheduledTimesIn({ interval: 'every 1h offset 15m' }, at('2026-11-01T00:00:00Z'), at('2026-11-01T05:00:00Z')), 5);
    assert.equal(scheduledTimesIn({ interval: '1m' }, at('2026-11-01T00:00:00Z'), at('2026-11-08T00:00:00Z')), MAX_BACKFILL_RUNS + 1, 'stops counting past the cap');
    assert.equal(scheduledTimesIn({ cron: '0 6 * * MON-FRI' }, at('2026-11-02T00:00:00Z'), at('2026-11-08T23:59:00Z')), 5);
    assert.equal(scheduledTimesIn({ cron: '@daily' }, at('2026-01-01T00:00:00Z'), at('2026-01-10T00:00:00Z')), 10);
    // In the job's time zone: 06:00 in Paris is 05:00 UTC in winter.
    assert.equal(scheduledTimesIn({ cron: '0 6 * * *', timezone: 'Europe/Paris' }, at('2026-11-02T05:30:00Z'), at('2026-11-03T04:59:00Z')), 0);
    assert.equal(scheduledTimesIn({ cron: '0 6 * * *', timezone: 'Europe/Paris' }, at('2026-11-02T04:30:00Z'), at('2026-11-02T05:30:00Z')), 1);
    assert.equal(scheduledTimesIn({ interval: '1h' }, at('2026-11-01T05:00:00Z'), at('2026-11-01T00:00:00Z')), 0);
  });

  it('accepts 5-field cron with ranges, steps, lists and names', function () {
    for (const ok of ['0 6 * * *', '*/15 * * * *', '0 9-17/2 * * MON-FRI', '30 2 1,15 jan,jul *', '0 0 * * 0', '0 0 * * 7', '@daily', '5 4 * * sun', '5/15 * * * *', '0  6  *  *  *', '0 0 29 2 *']) {
      assert.equal(validateCron(ok), undefined, ok);
    }
  });

  it('names the offending cron field', function () {
    assert.match(validateCron('0 25 * * *')!, /field 2 \(hour\) "25": 25 is out of range 0-23/);
    assert.match(validateCron('61 * * * *')!, /field 1 \(minute\)/);
    assert.match(validateCron('0 0 * * MOO')!, /field 5 \(day of week\) "MOO": "MOO" is not a number or a name/);
    assert.match(validateCron('0 0 * 13 *')!, /field 4 \(month\).*out of range 1-12/);
    assert.match(validateCron('0 0 0 * *')!, /field 3 \(day of month\) "0": 0 is out of range 1-31/);
    assert.match(validateCron('*/0 * * * *')!, /step "0"/);
    assert.match(validateCron('0 10-2 * * *')!, /runs backwards/);
    assert.match(validateCron('0 0 * *')!, /has 4 fields; expected 5/);
    assert.match(validateCron('0 0 1,,2 * *')!, /empty list item/);
    assert.match(validateCron('@sometimes')!, /shorthand "@sometimes" is not known/);
    assert.match(validateCron('@every 1h')!, /use "interval"/);
    assert.match(validateCron('TZ=Europe/Paris 0 6 * * *')!, /put the time zone in "timezone"/);
  });

  it('refuses what Temporal Schedules would refuse, and what never runs', function () {
    // Quartz and Jenkins extensions the library knows but Temporal's cron dialect does not.
    assert.match(validateCron('0 0 ? * *')!, /field 3 \(day of month\) "\?": "\?" is not part of Temporal's cron dialect/);
    assert.match(validateCron('0 0 L * *')!, /field 3 .*"L" is not part of Temporal's cron dialect/);
    assert.match(validateCron('0 0 1W * *')!, /field 3 .*"W" is not part of Temporal's cron dialect/);
    assert.match(validateCron('0 0 * * 5#2')!, /field 5 .*"#" starts a comment for Temporal: "5#2" would run as "5"/);
    assert.match(validateCron('H 6 * * *')!, /field 1 .*"H" is not part of Temporal's cron dialect/);
    assert.match(validateCron('0 0 * * 5L')!, /field 5 \(day of week\) "5L": is not a list of values or three-letter names/);
    // Temporal matches shorthands exactly; a seconds or year field is not part of our 5-field form.
    assert.match(validateCron('@Daily')!, /shorthand "@Daily" is not known/);
    assert.match(validateCron('0 0 6 * * *')!, /has 6 fields; expected 5/);
    // Valid fields that never meet: Temporal would keep such a schedule and never run it.
    assert.match(validateCron('0 0 31 2 *')!, /^cron expression "0 0 31 2 \*" never runs/);
    assert.match(validateCron('0 0 31 feb,apr *')!, /never runs/);
    // A bad cron is a validation issue of the job definition, so the API answers 400 naming it.
    assert.deepEqual(issues({ ...base, schedule: { cron: '0 0 ? * *' } }), ['schedule.cron: cron field 3 (day of month) "?": "?" is not part of Temporal\'s cron dialect (no ?, L, W, # or H)']);
  });

  it('validates a whole job, with defaults, and reports field paths', function () {
    const r = jobDefinitionSchema.parse({ ...base, schedule: { cron: '0 6 * * *', timezone: 'Europe/Paris' } });
    assert.equal(r.via, 'agent');
    assert.equal(r.concurrency, 5);
    assert.equal(r.schedule.overlap, 'skip');
    assert.equal(r.schedule.catchupWindow, '10m');
    assert.deepEqual(scheduleSpecOf(r.schedule), { cronExpressions: ['0 6 * * *'], timezone: 'Europe/Paris' });

    assert.deepEqual(issues({ ...base, schedule: { cron: '0 6 * * *', timezone: 'Mars/Olympus' } }), ['schedule.timezone: must be an IANA time zone such as "Europe/Paris" or "UTC"']);
    // Intl takes any case; Temporal looks the name up as written and refused every save of such a job. The
    // schema takes it (a job stored so still reads and runs); a save is refused (src/services/jobs.ts).
    assert.equal(timeZoneSpelling('europe/paris'), 'Europe/Paris');
    assert.equal(timeZoneSpelling('utc'), 'UTC');
    assert.equal(timeZoneSpelling('AMERICA/NEW_YORK'), 'America/New_York');
    assert.deepEqual(issues({ ...base, schedule: { interval: '1h', timezone: 'europe/paris' } }), []);
    for (const zone of ['UTC', 'Etc/UTC', 'America/Argentina/Buenos_Aires', 'Asia/Kolkata', 'America/Port-au-Prince', 'Mars/Olympus']) assert.equal(timeZoneSpelling(zone), undefined, zone);
    assert.deepEqual(issues({ ...base, schedule: { interval: '1h', cron: '0 * * * *' } }), ['schedule: give exactly one of "interval" or "cron"']);
    assert.deepEqual(issues({ ...base, schedule: { interval: '1h', overlap: 'sometimes' } }).length, 1);
    assert.match(issues({ ...base, schedule: { interval: '1h', catchupWindow: '1s' } })[0]!, /catchupWindow must be at least 10s/);
    assert.match(issues({ ...base, script: '../etc/passwd', schedule: { interval: '1h' } })[0]!, /^script: must be a script file name/);
    assert.match(issues({ ...base, targets: { selector: {} }, schedule: { interval: '1h' } }).join(), /targets/);
    assert.match(issues({ ...base, notifyOnFailure: { slack: { webhookUrlRef: 'https://hooks.slack.com/x' } }, schedule: { interval: '1h' } })[0]!, /^notifyOnFailure\.slack\.webhookUrlRef/);
  });

  it("says when a run could outlast the 24 h run limit: lanes × (timeout + agent pickup + 30 s)", function () {
    const job = (over: Record<string, unknown>) => jobDefinitionSchema.parse({ ...base, schedule: { interval: '1h' }, ...over });
    const forty = { environments: Array.from({ length: 40 }, (_, i) => `env-${i}`) };
    assert.equal(runTimeoutProblem(job({ targets: forty, timeoutSecondsPerTarget: 3600, concurrency: 40 })), undefined, 'all at once: one target long');
    assert.match(runTimeoutProblem(job({ targets: forty, timeoutSecondsPerTarget: 3600, concurrency: 1 }))!, /40 targets, 1 at a time, may take 147600 s/);
    // Two rounds of 20 at (3540 + 60 + 30) s: 7260 s.
    assert.equal(runTimeoutProblem(job({ targets: forty, timeoutSecondsPerTarget: 3540, concurrency: 20 })), undefined);
    assert.match(runTimeoutProblem(job({ timeoutSecondsPerTarget: 86_400 }))!, /a run of 1 target, 1 at a time, may take 86490 s/, 'one target of a selector or all must fit');
    assert.equal(runTimeoutProblem(job({ via: 'ssh', timeoutSecondsPerTarget: 86_370 })), undefined, 'over SSH there is no agent pickup wait');
    assert.match(runTimeoutProblem(job({ via: 'ssh', timeoutSecondsPerTarget: 86_371 }))!, /may take 86401 s/);
    assert.match(runTimeoutProblem(job({ timeoutSecondsPerTarget: 3600, concurrency: 2 }), 48)!, /a run of 48 targets, 2 at a time, may take 88560 s/, 'a run counts what its selector matched');
    assert.equal(runTimeoutProblem(job({ timeoutSecondsPerTarget: 3600, concurrency: 2 }), 46), undefined);
    assert.equal(runTimeoutProblem(job({ timeoutSecondsPerTarget: 86_400 }), 0), undefined, 'nothing matched: nothing to outlast');
  });

  it('says when a run would hold more targets than one run may (MAX_JOB_RUN_TARGETS), naming the count, the bound and what to do', function () {
    assert.equal(MAX_JOB_RUN_TARGETS, 500);
    assert.equal(runTargetCountProblem(500), undefined);
    assert.equal(
      runTargetCountProblem(6900),
      "the job's targets match 6900 environments, more than the 500 one run may hold (a run's targets share one Temporal workflow history, which Temporal ends past its limits): split the job into several jobs, each with a label selector matching at most 500",
    );
    // A list may name no more than a run may hold.
    assert.deepEqual(issues({ ...base, schedule: { interval: '1h' }, targets: { environments: Array.from({ length: 500 }, (_, i) => `env-${i}`) } }), []);
    assert.deepEqual(issues({ ...base, schedule: { interval: '1h' }, targets: { environments: Array.from({ length: 501 }, (_, i) => `env-${i}`) } }).length, 1);
  });

  it('derives ids and dry-run arguments', function () {
    assert.equal(slugify('Root password expiry!'), 'root-password-expiry');
    assert.deepEqual(jobScriptArgs({ args: ['--days', '14'], dryRun: true }), ['--dry-run', '--days', '14']);
    assert.deepEqual(jobScriptArgs({ args: ['--days', '14', '--'], dryRun: true }), ['--dry-run', '--days', '14', '--'], 'before a `--`, where it is still an option');
    assert.deepEqual(jobScriptArgs({ args: ['--dry-run'], dryRun: true }), ['--dry-run']);
    assert.deepEqual(scheduleSpecOf({ interval: 'every 1h offset 15m', timezone: 'UTC', overlap: 'skip', catchupWindow: '10m' }), {
      intervals: [{ every: 3_600_000, offset: 900_000 }],
      timezone: 'UTC',
    });
  });
});

describe('examples/jobs', function () {
  it('root-password-expiry.yaml is a valid job definition', async function () {
    const job = jobDefinitionSchema.parse(parse(await readFile(new URL('../../examples/jobs/root-password-expiry.yaml', import.meta.url), 'utf8')));
    assert.equal(job.script, 'check-root-password-expiry.sh');
    assert.deepEqual(jobScriptArgs(job), ['--dry-run', '--days', '14']);
    assert.deepEqual(scheduleSpecOf(job.schedule), { cronExpressions: ['0 6 * * *'], timezone: 'Europe/Paris' });
  });
});

describe('the previous scheduled time a buffered run bounds its catch-up by (previousScheduledTime)', function () {
  const at = (iso: string) => new Date(iso);
  it('an interval: the latest time strictly before the run, counted from the epoch with its offset', function () {
    const every15 = { interval: 'every 1h offset 15m' };
    assert.deepEqual(previousScheduledTime(every15, at('2026-03-02T11:15:00Z')), at('2026-03-02T10:15:00Z'));
    assert.deepEqual(previousScheduledTime(every15, at('2026-03-02T11:20:00Z')), at('2026-03-02T11:15:00Z'));
    assert.deepEqual(previousScheduledTime({ interval: '1d' }, at('2026-03-02T12:00:00Z')), at('2026-03-02T00:00:00Z'));
  });
  it('a cron in its time zone, both day fields as Temporal takes them', function () {
    assert.deepEqual(previousScheduledTime({ cron: '0 6 * * MON-FRI', timezone: 'Europe/Paris' }, at('2026-03-09T05:00:00Z')), at('2026-03-06T05:00:00Z'), 'Monday 06:00 Paris: Friday before');
    assert.deepEqual(previousScheduledTime({ cron: '0 9 13 * FRI' }, at('2026-11-13T09:00:00Z')), at('2026-03-13T09:00:00Z'), 'Friday the 13th only');
  });
});

describe("whether a run's time is one of its schedule's (onScheduleGrid): a Run now's is not", function () {
  const at = (iso: string) => new Date(iso);
  it("an interval's times, to the millisecond; a time a trigger took between them is not one", function () {
    const every15 = { interval: 'every 1h offset 15m' };
    assert.equal(onScheduleGrid(every15, at('2026-03-02T11:15:00Z')), true);
    assert.equal(onScheduleGrid(every15, at('2026-03-02T11:15:00.001Z')), false);
    assert.equal(onScheduleGrid(every15, at('2026-03-02T11:00:00Z')), false);
    assert.equal(onScheduleGrid({ interval: '1m' }, at('2026-03-02T11:14:59.999Z')), false);
  });
  it('a cron in its time zone, both day fields as Temporal takes them', function () {
    assert.equal(onScheduleGrid({ cron: '0 6 * * MON-FRI', timezone: 'Europe/Paris' }, at('2026-03-06T05:00:00Z')), true, 'Friday 06:00 Paris');
    assert.equal(onScheduleGrid({ cron: '0 6 * * MON-FRI', timezone: 'Europe/Paris' }, at('2026-03-07T05:00:00Z')), false, 'a Saturday');
    assert.equal(onScheduleGrid({ cron: '0 9 13 * FRI' }, at('2026-03-13T09:00:00Z')), true, 'Friday the 13th');
    assert.equal(onScheduleGrid({ cron: '0 9 13 * FRI' }, at('2026-04-13T09:00:00Z')), false, 'a 13th, a Monday');
    assert.equal(onScheduleGrid({ cron: '*/5 * * * *' }, at('2026-03-13T09:05:00.250Z')), false, 'a trigger a quarter second past a time');
  });
  it('after an edit, a time of the schedule the job had before is on a grid (offEverySchedulesGrid); a value not a schedule names none', function () {
    const current = { cron: '30 * * * *' };
    const before = { interval: '1h', overlap: 'allow_all' };
    assert.equal(offEverySchedulesGrid([current], at('2026-03-02T11:00:00Z')), true, 'off the current one alone');
    assert.equal(offEverySchedulesGrid([current, before], at('2026-03-02T11:00:00Z')), false, "on the old one's");
    assert.equal(offEverySchedulesGrid([current, before], at('2026-03-02T11:17:04Z')), true, "a trigger's second, off both");
    assert.equal(offEverySchedulesGrid([current, null, 'x', { cron: 42 }, { cron: 'not a cron' }], at('2026-03-02T11:17:04Z')), true);
  });
});
