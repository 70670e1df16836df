// Scheduled jobs: the definition an SRE submits, and the pure parts of turning it into a Temporal
// Schedule spec (interval parsing, cron validation with cron-parser; clear messages). No I/O.
import { CronExpressionParser, type CronDate, type CronExpression } from 'cron-parser';
import { z } from './zod.js';
import { secretRefSchema, SLUG_PATTERN, teamFieldSchema } from './rules/schema.js';
import { isValidTimeZone } from './rules/time-window.js';

// ---- durations ------------------------------------------------------------------------------------

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Parses `90s`, `30m`, `1h`, `1h30m`, `2d` into milliseconds; `undefined` when malformed or zero. */
export function parseDuration(text: string): number | undefined {
  const s = text.trim().toLowerCase();
  if (!/^(\d+[smhd])+$/.test(s)) return undefined;
  let total = 0;
  for (const m of s.matchAll(/(\d+)([smhd])/g)) total += Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  return total > 0 && Number.isSafeInteger(total) ? total : undefined;
}

export interface IntervalSpec {
  everyMs: number;
  offsetMs: number;
}

/**
 * Parses an interval: `1h`, `30m`, `every 1h`, `every 1h offset 15m` (also `@every 1h/15m`, Temporal's form).
 * Returns the spec or a message naming what is wrong.
 */
export function parseInterval(text: string): { ok: true; spec: IntervalSpec } | { ok: false; message: string } {
  const s = text.trim();
  let every: string;
  let offset: string | undefined;
  const words = /^(?:every\s+)?(\S+)(?:\s+offset\s+(\S+))?$/i.exec(s);
  const temporalForm = /^@every\s+([^/\s]+)(?:\/(\S+))?$/i.exec(s);
  if (temporalForm) {
    every = temporalForm[1]!;
    offset = temporalForm[2];
  } else if (words) {
    every = words[1]!;
    offset = words[2];
  } else {
    return { ok: false, message: `interval "${s}" is not understood: write e.g. "30m", "1h", "every 1h offset 15m"` };
  }
  const everyMs = parseDuration(every);
  if (everyMs === undefined) return { ok: false, message: `interval "${every}" is not a duration: use a number with s, m, h or d, e.g. "30m" or "1h30m"` };
  if (everyMs < 1000) return { ok: false, message: 'interval must be at least 1s' };
  let offsetMs = 0;
  if (offset !== undefined) {
    const o = parseDuration(offset);
    if (o === undefined) return { ok: false, message: `offset "${offset}" is not a duration: use a number with s, m, h or d, e.g. "15m"` };
    if (o >= everyMs) return { ok: false, message: `offset ${offset} must be shorter than the interval ${every}` };
    offsetMs = o;
  }
  return { ok: true, spec: { everyMs, offsetMs } };
}

/**
 * The shortest interval a job may be saved with: each run starts its script on every environment it
 * targets, so a job firing every few seconds is runaway automation. A cron has no seconds field (five
 * fields, validateCron refuses a sixth), so it fires at most once a minute and always passes.
 */
export const MIN_JOB_INTERVAL_SECONDS = 60;

/**
 * Why a job's schedule fires more often than once every MIN_JOB_INTERVAL_SECONDS, with the field to name;
 * undefined when it does not (or when the interval is malformed: the schema says so). Checked where a job is
 * saved (create, update); a job stored before is held instead (heldScheduleReason).
 */
export function scheduleFrequencyProblem(schedule: { interval?: string | undefined; cron?: string | undefined }): { path: string; message: string } | undefined {
  if (schedule.interval === undefined) return undefined;
  const r = parseInterval(schedule.interval);
  if (!r.ok || r.spec.everyMs >= MIN_JOB_INTERVAL_SECONDS * 1000) return undefined;
  return {
    path: 'schedule.interval',
    message: `must be at least ${MIN_JOB_INTERVAL_SECONDS}s (1m), got "${schedule.interval.trim()}": each run starts the script on every target; to run a job now, trigger it (POST /api/jobs/{id}/trigger)`,
  };
}

/**
 * The longest interval a job may be saved with: 366 days, a yearly job in a leap year. Past it a schedule
 * is no schedule: 106752d overflows Temporal's durations (int64 nanoseconds, about 292 years) and the job
 * never fires, and a longer interval than a year is a typo or a job no one remembers when it runs (a yearly
 * date is a cron: "@yearly", "0 6 1 3 *").
 */
export const MAX_JOB_INTERVAL_DAYS = 366;

/**
 * The longest catchupWindow: 7 days. Runs missed while Temporal was down are taken when it is back if they
 * are this recent, and with `allow_all` each one starts the script on every target at once: a week covers
 * an outage over a long weekend, while a longer window replays runs (up to 10,080 of a once-a-minute job)
 * whose moment is long past. Temporal itself caps a window at about 292 years, silently.
 */
export const MAX_CATCHUP_WINDOW_DAYS = 7;

/**
 * Why a job's interval or catchupWindow is longer than its bound, with the field to name; empty when
 * neither is (or when malformed: the schema says so). Checked where a job is saved (create, update, apply).
 */
export function scheduleLengthProblems(schedule: { interval?: string | undefined; catchupWindow?: string | undefined }): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  const r = schedule.interval === undefined ? undefined : parseInterval(schedule.interval);
  if (r?.ok && r.spec.everyMs > MAX_JOB_INTERVAL_DAYS * UNIT_MS.d) {
    problems.push({
      path: 'schedule.interval',
      message: `must be at most ${MAX_JOB_INTERVAL_DAYS}d, got "${schedule.interval!.trim()}": a longer interval never fires or fires when no one expects it; for a yearly date use a cron ("@yearly", "0 6 1 3 *")`,
    });
  }
  const window = schedule.catchupWindow === undefined ? undefined : parseDuration(schedule.catchupWindow);
  if (window !== undefined && window > MAX_CATCHUP_WINDOW_DAYS * UNIT_MS.d) {
    problems.push({
      path: 'schedule.catchupWindow',
      message: `must be at most ${MAX_CATCHUP_WINDOW_DAYS}d, got "${schedule.catchupWindow!.trim()}": runs missed longer ago than that are stale, and each would start the script on every target`,
    });
  }
  return problems;
}

/**
 * Why a stored job's schedule is held, or undefined: a job saved before the minimum interval existed fires
 * more often than it allows. Its schedule is kept paused (src/temporal/schedules.ts), a run the schedule
 * starts anyway does nothing (activities/jobs.ts), and it runs only when triggered by hand, until its
 * interval is edited: the guard holds for every job, not only for those saved since.
 */
export function heldScheduleReason(schedule: { interval?: string | undefined; cron?: string | undefined }): string | undefined {
  if (schedule.interval === undefined || !scheduleFrequencyProblem(schedule)) return undefined;
  return `held by Self-healing: schedule.interval "${schedule.interval.trim()}" fires more often than once every ${MIN_JOB_INTERVAL_SECONDS}s, the minimum (the job was saved before it); edit the interval to release the schedule`;
}

/**
 * The most scheduled times one backfill may cover. A backfill catches up runs that were missed (a day of
 * an hourly job, a week of a daily one); each run starts the script on every target, so a wide window,
 * with `overlap: allow_all` all at once, is runaway automation.
 */
export const MAX_BACKFILL_RUNS = 24;

/**
 * The most runs of one job a trigger (POST /api/jobs/{id}/trigger) lets be in progress at once, its
 * schedule's counted with those started by hand. Past it the trigger is answered 409 and starts nothing.
 * Of an allow_all job (and a paused one) the trigger starts the run itself, and nothing else bounded
 * them: an editor at the per-caller rate limit's burst (100) started ~100 runs side by side, each on up to
 * MAX_JOB_RUN_TARGETS targets, as MAX_BACKFILL_RUNS bounds for a backfill. Five leaves room for a few
 * deliberate overlapping runs; more at once, by hand, is runaway automation. The other policies hold a
 * trigger themselves (skip refuses, buffer_one queues one, cancel_other ends the run going).
 */
export const MAX_TRIGGER_RUNS_IN_PROGRESS = 5;

/** Temporal's cron shorthands as five fields (cron-parser reads the fields). */
const SHORTHAND_FIELDS: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

/**
 * The most steps of cron-parser (calls of its `next`) one count of a backfill window may take: the count
 * runs on the API's event loop, and a step costs up to about a millisecond in a time zone. A count takes
 * one step a run, two when both day fields are restricted (temporalTimes), so a window of up to
 * MAX_BACKFILL_RUNS runs, or past them, is counted well within it; the budget bounds what is left (a time
 * change swallowing a day's times, say). Before, nothing bounded the count: "0 0 29 2 1" (a Monday 29
 * February) in America/Santiago over years 1 to 9999 walked 2,822 days at two steps each, 1.4 s of a
 * blocked event loop per request, for any editor of a job.
 */
export const MAX_BACKFILL_COUNT_STEPS = 100;

/**
 * How many times a (valid) schedule fires from `start` to `end`, both included, counted only up to
 * `cap + 1` (enough to tell whether a backfill stays within {@link MAX_BACKFILL_RUNS}) and in at most
 * `maxSteps` steps of cron-parser. `stoppedAt`: where the count stopped when the steps ran out (the window
 * up to there was counted, `runs` times); null when the window was counted to its end or past the cap.
 * An interval is counted by arithmetic, in no step.
 */
export function countScheduledTimes(
  schedule: { interval?: string | undefined; cron?: string | undefined; timezone?: string | undefined },
  start: Date,
  end: Date,
  opts: { cap?: number; maxSteps?: number } = {},
): { runs: number; steps: number; stoppedAt: Date | null } {
  const cap = opts.cap ?? MAX_BACKFILL_RUNS;
  if (end < start) return { runs: 0, steps: 0, stoppedAt: null };
  if (schedule.interval !== undefined) {
    const r = parseInterval(schedule.interval);
    if (!r.ok) return { runs: 0, steps: 0, stoppedAt: null };
    // Temporal's intervals are counted from the Unix epoch, shifted by the offset.
    const { everyMs, offsetMs } = r.spec;
    const first = Math.ceil((start.getTime() - offsetMs) / everyMs);
    const last = Math.floor((end.getTime() - offsetMs) / everyMs);
    return { runs: Math.min(Math.max(0, last - first + 1), cap + 1), steps: 0, stoppedAt: null };
  }
  if (schedule.cron === undefined) return { runs: 0, steps: 0, stoppedAt: null };
  const expr = schedule.cron.trim();
  const budget: StepBudget = { left: opts.maxSteps ?? MAX_BACKFILL_COUNT_STEPS, taken: 0, reached: null, before: null, exhausted: false };
  const times = temporalTimes(
    CronExpressionParser.parse(SHORTHAND_FIELDS[expr] ?? expr, { tz: schedule.timezone ?? 'UTC', currentDate: new Date(start.getTime() - 1), endDate: end }),
    budget,
    end.getUTCFullYear() + 1,
  );
  let runs = 0;
  while (runs <= cap && times() !== undefined) runs += 1;
  // What fits: the window up to the time the step before the last reached, counted in fewer steps than the
  // budget, leaving one for the step that finds the end.
  return { runs, steps: budget.taken, stoppedAt: budget.exhausted && runs <= cap ? (budget.before ?? start) : null };
}

/** {@link countScheduledTimes}' count alone (a count the steps cut short is the runs up to where it stopped). */
export function scheduledTimesIn(schedule: { interval?: string | undefined; cron?: string | undefined; timezone?: string | undefined }, start: Date, end: Date, cap = MAX_BACKFILL_RUNS): number {
  return countScheduledTimes(schedule, start, end, { cap }).runs;
}

/**
 * The schedule's latest time strictly before `before`, as Temporal takes it (a cron restricting both day
 * fields fires on days matching both); undefined when the walk's steps ran out. Asked by a scheduled
 * buffer_one run (activities/jobs.ts, resolveJobTargets): only an earlier run scheduled at or after this time
 * may have taken its time after an outage; one scheduled before it (yesterday's, backfilled) did not.
 */
export function previousScheduledTime(
  schedule: { interval?: string | undefined; cron?: string | undefined; timezone?: string | undefined },
  before: Date,
  maxSteps = MAX_BACKFILL_COUNT_STEPS,
): Date | undefined {
  if (schedule.interval !== undefined) {
    const r = parseInterval(schedule.interval);
    if (!r.ok) return undefined;
    const { everyMs, offsetMs } = r.spec;
    return new Date((Math.ceil((before.getTime() - offsetMs) / everyMs) - 1) * everyMs + offsetMs);
  }
  if (schedule.cron === undefined) return undefined;
  const expr = schedule.cron.trim();
  const times = CronExpressionParser.parse(SHORTHAND_FIELDS[expr] ?? expr, { tz: schedule.timezone ?? 'UTC', currentDate: before });
  const { dayOfMonth, dayOfWeek } = times.fields;
  const both = !dayOfMonth.isWildcard && !dayOfWeek.isWildcard;
  const daySet = new Set<number | string>(dayOfMonth.values);
  const weekdays = new Set<number | string>(dayOfWeek.values.map((d) => (d === 7 ? 0 : d)));
  for (let i = 0; i < maxSteps; i++) {
    let t: CronDate;
    try {
      t = times.prev();
    } catch {
      return undefined;
    }
    if (t.toDate() >= before) continue;
    if (!both || (daySet.has(t.getDate()) && weekdays.has(t.getDay()))) return t.toDate();
  }
  return undefined;
}

/**
 * Whether `at` is one of the schedule's times (undefined when the walk's steps ran out before one was
 * found). A run its schedule started for one of its times may be one of a catch-up; Temporal's
 * trigger-immediately ("Run now") names its run by the time it was asked for, which is not one of them
 * (but for the chance of landing on one to the second).
 */
export function onScheduleGrid(schedule: { interval?: string | undefined; cron?: string | undefined; timezone?: string | undefined }, at: Date): boolean | undefined {
  const latest = previousScheduledTime(schedule, new Date(at.getTime() + 1));
  return latest === undefined ? undefined : latest.getTime() === at.getTime();
}

/**
 * Whether `at` is off the times of every one of `schedules` (the job's current schedule and those it had
 * before edits since, as stored: a value not a schedule is passed over). A run queued while the worker was
 * down keeps the time of the schedule that started it: after an edit, it is off the current one's times but
 * on the old one's, and one of a catch-up; a Run now's time (the trigger's) is off them all, but for the
 * chance of landing on one to the second.
 */
export function offEverySchedulesGrid(schedules: readonly unknown[], at: Date): boolean {
  for (const value of schedules) {
    if (typeof value !== 'object' || value === null) continue;
    const v = value as Record<string, unknown>;
    const str = (x: unknown) => (typeof x === 'string' ? x : undefined);
    const schedule = { interval: str(v.interval), cron: str(v.cron), timezone: str(v.timezone) };
    if (schedule.interval === undefined && schedule.cron === undefined) continue;
    let on: boolean | undefined;
    try {
      on = onScheduleGrid(schedule, at);
    } catch {
      continue; // a cron this version cannot read names no time
    }
    if (on !== false) return false;
  }
  return true;
}

/** Steps of cron-parser left to a walk, taken so far, and the last time it reached (and the one before). */
interface StepBudget {
  left: number;
  taken: number;
  reached: Date | null;
  before: Date | null;
  exhausted: boolean;
}

/**
 * The times of a parsed cron expression as Temporal takes them, one per call, undefined past the end (or
 * once the budget's steps are spent: `exhausted` then says so). When both day fields are restricted,
 * cron-parser (like cron(8)) runs on a day matching either; Temporal only on a day matching both
 * ("0 9 13 * FRI": Friday the 13th, not every Friday and every 13th). From a day that matches one only, the
 * walk moves to the next day matching both, found by calendar arithmetic (nextDayMatchingBoth) instead of
 * cron-parser stepping through every day matching either: a step of cron-parser costs up to about a
 * millisecond in a time zone, and "0 0 29 2 1" (a Monday 29 February) took 2,822 of them for 25 runs. One
 * `next` a step: `hasNext` computes the next time as well, and doubled the cost of each.
 */
function temporalTimes(times: CronExpression, budget: StepBudget = { left: Infinity, taken: 0, reached: null, before: null, exhausted: false }, lastYear = Infinity): () => CronDate | undefined {
  const { dayOfMonth, dayOfWeek, month } = times.fields;
  const both = !dayOfMonth.isWildcard && !dayOfWeek.isWildcard;
  const days = [...new Set((dayOfMonth.values as readonly unknown[]).filter((d): d is number => typeof d === 'number'))].sort((a, b) => a - b);
  const daySet = new Set<number | string>(dayOfMonth.values);
  const weekdays = new Set<number | string>(dayOfWeek.values.map((d) => (d === 7 ? 0 : d)));
  const months = new Set<number>((month.values as readonly unknown[]).filter((m): m is number => typeof m === 'number'));
  return () => {
    for (;;) {
      if (budget.left <= 0) {
        budget.exhausted = true;
        return undefined;
      }
      budget.left -= 1;
      budget.taken += 1;
      let t: CronDate;
      try {
        t = times.next();
      } catch {
        // Past the end date, or cron-parser's own loop limit met (hasNext answered false to either).
        return undefined;
      }
      budget.before = budget.reached;
      budget.reached = t.toDate();
      if (!both || (daySet.has(t.getDate()) && weekdays.has(t.getDay()))) return t;
      const next = nextDayMatchingBoth({ year: t.getFullYear(), month: t.getMonth() + 1, day: t.getDate() }, months, days, weekdays, Math.min(lastYear, t.getFullYear() + 400));
      if (!next) return undefined;
      // The end of the day before it, as the walk left a skipped day before: the next time is then that
      // day's first (or a later day's, when that day has none, in a time change).
      t.setDate(1);
      t.setFullYear(next.year);
      t.setMonth(next.month - 1);
      t.setDate(next.day);
      t.subtractDay();
      t.setEndOfDay();
      times.reset(t);
    }
  };
}

/**
 * The first calendar day after `from` in one of `months` (1-12) whose day of the month is one of `days` and
 * whose weekday is one of `weekdays` (0 Sunday), up to the end of `lastYear`; undefined when there is none.
 * Calendar arithmetic on the proleptic Gregorian calendar (the one cron-parser's dates and Temporal use),
 * a month at a time: no time zone is involved, a day's date and weekday are the same in all of them.
 */
export function nextDayMatchingBoth(
  from: { year: number; month: number; day: number },
  months: ReadonlySet<number>,
  days: readonly number[],
  weekdays: ReadonlySet<number | string>,
  lastYear: number,
): { year: number; month: number; day: number } | undefined {
  const utc = new Date(0);
  let { year, month } = from;
  let after = from.day;
  while (year <= lastYear) {
    if (months.has(month)) {
      utc.setUTCFullYear(year, month, 0); // the last day of `month` (setUTCFullYear: years 0-99 are not 1900-1999)
      const length = utc.getUTCDate();
      utc.setUTCFullYear(year, month - 1, 1);
      const firstWeekday = utc.getUTCDay();
      for (const day of days) {
        if (day > after && day <= length && weekdays.has((firstWeekday + day - 1) % 7)) return { year, month, day };
      }
    }
    after = 0;
    if (month === 12) {
      year += 1;
      month = 1;
    } else month += 1;
  }
  return undefined;
}

/** Every date-and-weekday pair of the Gregorian calendar comes round within 28 years (1901–2099). */
const CALENDAR_CYCLE_YEARS = 28;

/** Whether a valid expression ever runs as Temporal reads it (both day fields must match, temporalTimes). */
function temporalNeverRuns(expression: string): boolean {
  const now = Date.now();
  const end = new Date(now + CALENDAR_CYCLE_YEARS * 366 * 86_400_000);
  return temporalTimes(CronExpressionParser.parse(expression, { tz: 'UTC', currentDate: new Date(now), endDate: end }))() === undefined;
}

// ---- cron -----------------------------------------------------------------------------------------
//
// Values, ranges, steps, names and impossible dates are cron-parser's to check. The library
// understands more than Temporal Schedules do: Quartz/Jenkins extensions (`?`, `L`, `W`, `#`, `H`)
// and a seconds field. Temporal's server refuses those, except `#`, after which it reads the rest as
// a comment ("5#2" runs every Friday). So one pattern per field first keeps an expression to the
// part of Temporal's dialect we accept: five fields of numbers (month and day-of-week also
// three-letter names), `*`, lists, ranges a-b and steps /n. What Temporal would refuse or misread is
// refused here, at save time (400), with the field named. test/integration/cron-dialect.test.ts
// checks both directions against a real Temporal server.

const CRON_FIELD_NAMES = ['minute', 'hour', 'day of month', 'month', 'day of week'] as const;
const CRON_SHORTHANDS = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']);

function cronFieldPattern(withNames: boolean): RegExp {
  const value = withNames ? String.raw`(?:\d+|[a-z]{3})` : String.raw`\d+`;
  const item = String.raw`(?:\*|${value}(?:-${value})?)(?:/\d+)?`;
  return new RegExp(`^${item}(?:,${item})*$`, 'i');
}
const CRON_FIELD_PATTERNS = CRON_FIELD_NAMES.map((_, i) => cronFieldPattern(i >= 3));

function cronSyntaxProblem(field: string, i: number): string | undefined {
  if (CRON_FIELD_PATTERNS[i]!.test(field)) return undefined;
  const foreign = (i >= 3 ? /[^0-9a-z*,/-]/i : /[^0-9*,/-]/).exec(field)?.[0];
  // Temporal reads the rest of an expression after "#" as a comment: "5#2" would run every Friday.
  if (foreign === '#') return `"#" starts a comment for Temporal: "${field}" would run as "${field.slice(0, field.indexOf('#'))}", not as an nth weekday`;
  if (foreign) return `"${foreign}" is not part of Temporal's cron dialect (no ?, L, W, # or H)`;
  if (/(^|,)(,|$)/.test(field)) return 'has an empty list item (stray ",")';
  return `is not a list of values${i >= 3 ? ' or three-letter names' : ''}, ranges a-b and steps */n or a-b/n`;
}

/** cron-parser's complaints, in the words the API has always used; any other is passed on as is. */
const CRON_PARSER_MESSAGES: [RegExp, (m: RegExpExecArray) => string][] = [
  [/got value (\d+) expected range (\d+-\d+)/, (m) => `${m[1]} is out of range ${m[2]}`],
  [/cannot resolve alias "(\w+)"/, (m) => `"${m[1]!.toUpperCase()}" is not a number or a name`],
  [/cannot repeat at every (\d+) time/, (m) => `step "${m[1]}" must be a positive whole number`],
  [/Invalid range: ([^,]+), min\((\d+)\) > max\((\d+)\)/, (m) => `range "${m[1]}" runs backwards (${m[2]} > ${m[3]})`],
];

function cronParserProblem(expression: string): string | undefined {
  try {
    CronExpressionParser.parse(expression, { tz: 'UTC' });
    return undefined;
  } catch (err) {
    const message = (err as Error).message;
    for (const [pattern, say] of CRON_PARSER_MESSAGES) {
      const m = pattern.exec(message);
      if (m) return say(m);
    }
    return message;
  }
}

/**
 * Validates a 5-field cron expression (minute hour day-of-month month day-of-week) with `*`, lists,
 * ranges, steps and month/day names, or a shorthand such as `@daily`, as Temporal Schedules read it.
 * Returns a message naming the offending field, or undefined when valid.
 */
export function validateCron(expression: string): string | undefined {
  const expr = expression.trim();
  if (expr.startsWith('@')) {
    // Temporal matches these exactly (lowercase).
    if (CRON_SHORTHANDS.has(expr)) return undefined;
    if (/^@every\b/i.test(expr)) return 'use "interval" for @every schedules';
    return `cron shorthand "${expr}" is not known (use @yearly, @monthly, @weekly, @daily or @hourly)`;
  }
  if (/^(CRON_)?TZ=/i.test(expr)) return 'put the time zone in "timezone", not in the cron expression';
  const fields = expr.split(/\s+/);
  if (fields.length !== 5) {
    return `cron expression "${expr}" has ${fields.length} field${fields.length === 1 ? '' : 's'}; expected 5: minute hour day-of-month month day-of-week`;
  }
  for (const [i, field] of fields.entries()) {
    // Each field alone (the others "*"), so the library's complaint is pinned to it.
    const problem = cronSyntaxProblem(field, i) ?? cronParserProblem(fields.map((f, j) => (j === i ? f : '*')).join(' '));
    if (problem) return `cron field ${i + 1} (${CRON_FIELD_NAMES[i]}) "${field}": ${problem}`;
  }
  // Fields that are fine alone but never meet, e.g. "0 0 31 2 *" (no 31 February), or "0 0 30 2 MON"
  // (Temporal needs both day fields to match).
  const whole = cronParserProblem(fields.join(' '));
  if (whole) return `cron expression "${expr}" never runs: ${whole}`;
  if (temporalNeverRuns(fields.join(' '))) return `cron expression "${expr}" never runs: no day matches both its day of month and its day of week (Temporal runs only on a day matching both)`;
  return undefined;
}

// ---- job definition -------------------------------------------------------------------------------

export const OVERLAP_POLICIES = ['skip', 'buffer_one', 'cancel_other', 'allow_all'] as const;
export type OverlapPolicy = (typeof OVERLAP_POLICIES)[number];

/** The longest job id (a slug): its schedule id and its runs' workflow ids are made from it. */
export const JOB_ID_MAX = 63;

const slug = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(SLUG_PATTERN, 'must be lowercase letters, digits, ".", "_" or "-", starting with a letter or digit');

const duration = (what: string, minMs: number) =>
  z
    .string()
    .max(32)
    .superRefine((v, ctx) => {
      const ms = parseDuration(v);
      if (ms === undefined) ctx.addIssue({ code: 'custom', message: `${what} "${v}" is not a duration: use a number with s, m, h or d, e.g. "10m"` });
      else if (ms < minMs) ctx.addIssue({ code: 'custom', message: `${what} must be at least ${minMs / 1000}s` });
    });

export const jobScheduleSchema = z
  .strictObject({
    interval: z
      .string()
      .max(64)
      .optional()
      .superRefine((v, ctx) => {
        if (v === undefined) return;
        const r = parseInterval(v);
        if (!r.ok) ctx.addIssue({ code: 'custom', message: r.message });
      })
      .describe(`Run every N, at least ${MIN_JOB_INTERVAL_SECONDS}s and at most ${MAX_JOB_INTERVAL_DAYS}d: "30m", "1h", "every 1h offset 15m".`),
    cron: z
      .string()
      .max(128)
      .optional()
      .superRefine((v, ctx) => {
        if (v === undefined) return;
        const problem = validateCron(v);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .describe('5-field cron expression, e.g. "0 6 * * MON-FRI", evaluated in `timezone`.'),
    timezone: z
      .string()
      .default('UTC')
      .refine(isValidTimeZone, 'must be an IANA time zone such as "Europe/Paris" or "UTC"')
      .describe('IANA time zone name, spelled as the time zone database does ("Europe/Paris", "UTC").'),
    overlap: z.enum(OVERLAP_POLICIES).default('skip').describe('What happens when a run is due while the previous one still runs.'),
    catchupWindow: duration('catchupWindow', 10_000).default('10m').describe(`Runs missed (Temporal down) by less than this are still taken; at most ${MAX_CATCHUP_WINDOW_DAYS}d.`),
  })
  .superRefine((s, ctx) => {
    const n = Number(s.interval !== undefined) + Number(s.cron !== undefined);
    if (n !== 1) ctx.addIssue({ code: 'custom', message: 'give exactly one of "interval" or "cron"' });
  });

/**
 * The most targets one run of a job may hold. A run is one Temporal workflow execution, and every target
 * adds to its history: 11 to 20 events (the check before it, for an agent its `agentPresent` wait and the
 * check again, the script's activity, the recording of its result, and the workflow tasks between them: 20
 * at concurrency 1) and 3.8 KB, about 18 KB when its output's end and its error are as long as an agent's
 * answer keeps them (4,096 and 2,048 bytes, each twice: the script's result and its recording). Temporal ends a
 * workflow whose history passes 51,200 events or 50 MB (the server's defaults, `limit.historyCount.error`
 * and `limit.historySize.error`), and warns at 10,240 events and 10 MiB: a run over a selector matching
 * thousands of environments was ended midway, its row left `running`, the rest of its targets never run
 * and no failure notice sent. 500 targets stay under both warning levels in the worst shapes measured
 * (about 10,030 events, 9.2 MB) and at least 4.7 times under the limits in every shape (an error at the
 * workflow's own 4,096-byte bound on every target: about 11 MB, past the size warning), and it is the most
 * a list of environments may name already: a lower bound for selectors would not make the largest run smaller. Measured on the dev server, in docs/capacity.md ("How many targets one job run
 * holds").
 */
export const MAX_JOB_RUN_TARGETS = 500;

/**
 * Why a run over `matched` targets may not be begun, or undefined when it fits MAX_JOB_RUN_TARGETS: checked
 * where a job is saved (the selector or `all` as it matches now) and at each run (what it matches then).
 */
export function runTargetCountProblem(matched: number): string | undefined {
  if (matched <= MAX_JOB_RUN_TARGETS) return undefined;
  return `the job's targets match ${matched} environments, more than the ${MAX_JOB_RUN_TARGETS} one run may hold (a run's targets share one Temporal workflow history, which Temporal ends past its limits): split the job into several jobs, each with a label selector matching at most ${MAX_JOB_RUN_TARGETS}`;
}

export const jobTargetsSchema = z.union([
  z.strictObject({ environments: z.array(slug(63)).min(1).max(MAX_JOB_RUN_TARGETS) }),
  z.strictObject({ selector: z.record(z.string().min(1).max(63), z.string().max(256)).refine((r) => Object.keys(r).length > 0, 'give at least one label') }),
  z.strictObject({ all: z.literal(true) }),
]);

export const SCRIPT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export const jobDefinitionSchema = z
  .strictObject({
    id: slug(JOB_ID_MAX).optional().describe('Stable id; defaults to the name turned into a slug.'),
    name: z.string().min(1).max(200),
    team: teamFieldSchema,
    description: z.string().max(2000).optional(),
    schedule: jobScheduleSchema,
    targets: jobTargetsSchema,
    via: z.enum(['agent', 'ssh']).default('agent').describe("Run on each environment's Doctor agent or over SSH on its management VM."),
    script: z.string().max(128).regex(SCRIPT_NAME_PATTERN, 'must be a script file name from the allow-listed scripts directory (no path)'),
    args: z.array(z.string().max(1024)).max(64).default([]),
    timeoutSecondsPerTarget: z.number().int().min(1).max(86_400).default(300),
    agentPickupTimeoutSeconds: z
      .number()
      .int()
      .min(1)
      .max(3600)
      .default(60)
      .describe('How long a target waits for its agent to pick the task up before it counts as failed (agent offline).'),
    concurrency: z.number().int().min(1).max(100).default(5),
    notifyOnFailure: z
      .strictObject({
        slack: z.strictObject({ webhookUrlRef: secretRefSchema }).optional(),
        email: z.array(z.email()).min(1).max(50).optional(),
      })
      .optional(),
    enabled: z.boolean().default(true),
    dryRun: z.boolean().default(false).describe('Pass --dry-run to the script as its first argument: report what would change, change nothing.'),
  });

/**
 * A job's replacement (PUT): as a definition, except that `enabled` left out keeps the job paused or
 * running as it stands, rather than resuming it, so a writer that read the job before someone paused it
 * (gitops apply during an incident) does not undo the pause.
 */
export const jobReplacementSchema = jobDefinitionSchema.extend({
  enabled: z.boolean().optional().describe('Left out: the job stays paused or running as it is now.'),
});

/**
 * The zone database's spelling of `zone` when it differs only in case, else undefined. The runtime's Intl
 * takes a zone name in any case ("europe/paris", "utc"); Temporal looks it up as written and refuses the
 * schedule. A save is checked (src/services/jobs.ts), not the schema: a job stored so (a Temporal on a
 * case-insensitive file system took it) still reads, and its runs, which do not use the zone, still run.
 */
export function timeZoneSpelling(zone: string): string | undefined {
  if (!isValidTimeZone(zone)) return undefined;
  const lower = zone.toLowerCase();
  const known = [new Intl.DateTimeFormat('en', { timeZone: zone }).resolvedOptions().timeZone, ...Intl.supportedValuesOf('timeZone')];
  const match = known.find((k) => k.toLowerCase() === lower);
  return match !== undefined && match !== zone ? match : undefined;
}

/** A job run's hard limit (its workflow run timeout): Temporal ends a run still going after it. */
export const JOB_RUN_TIMEOUT_SECONDS = 86_400;
/** Extra time a target's activity gets beyond the script's own timeout (connect, output, recording). */
export const JOB_TARGET_SLACK_SECONDS = 30;

/**
 * Why a run of this job could outlast JOB_RUN_TIMEOUT_SECONDS, where Temporal would end it with targets
 * not yet run, no failure notice and its run left "running"; undefined when it fits. Each lane takes its
 * targets one after another, each for at most its timeout (and, through an agent, its pickup wait). On a
 * save, named targets are counted; for a selector or `all`, one target must fit. A run counts what it
 * matched (`matched`): a selector that grew since the save can no longer fit (activities/jobs.ts).
 */
export function runTimeoutProblem(job: Pick<JobDefinition, 'targets' | 'via' | 'concurrency' | 'timeoutSecondsPerTarget' | 'agentPickupTimeoutSeconds'>, matched?: number): string | undefined {
  const perTarget = job.timeoutSecondsPerTarget + (job.via === 'agent' ? job.agentPickupTimeoutSeconds : 0) + JOB_TARGET_SLACK_SECONDS;
  const targets = matched ?? ('environments' in job.targets ? new Set(job.targets.environments).size : 1);
  if (targets === 0) return undefined;
  const lanes = Math.min(job.concurrency, targets);
  const worst = Math.ceil(targets / lanes) * perTarget;
  if (worst <= JOB_RUN_TIMEOUT_SECONDS) return undefined;
  return `a run of ${targets} target${targets === 1 ? '' : 's'}, ${lanes} at a time, may take ${worst} s, longer than a run's limit of ${JOB_RUN_TIMEOUT_SECONDS} s (24 h): raise concurrency or lower timeoutSecondsPerTarget${job.via === 'agent' ? ' or agentPickupTimeoutSeconds' : ''}`;
}

/**
 * What a save refuses in a job beyond its schema, from the definition alone (no database, no Temporal), in
 * the order the API checks them: a run that could outlast a day (timeoutSecondsPerTarget), an interval under
 * the minimum (schedule.interval), an interval or catchupWindow over its bound, a time zone not spelled as the zone database does (schedule.timezone).
 * The API answers the first with 400 (src/services/jobs.ts); `selfheal apply|diff` names them all before
 * anything is applied, as it does a schema error: before, an environment of the same folder was created,
 * then the job refused.
 */
export function jobSaveProblems(job: Pick<JobDefinition, 'schedule' | 'targets' | 'via' | 'concurrency' | 'timeoutSecondsPerTarget' | 'agentPickupTimeoutSeconds'>): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  const tooLong = runTimeoutProblem(job);
  if (tooLong) problems.push({ path: 'timeoutSecondsPerTarget', message: tooLong });
  const frequency = scheduleFrequencyProblem(job.schedule);
  if (frequency) problems.push(frequency);
  problems.push(...scheduleLengthProblems(job.schedule));
  const spelled = timeZoneSpelling(job.schedule.timezone);
  if (spelled) problems.push({ path: 'schedule.timezone', message: `must be written as the time zone database does: "${spelled}"` });
  return problems;
}

export type JobDefinitionInput = z.input<typeof jobDefinitionSchema>;
export type JobDefinition = z.output<typeof jobDefinitionSchema> & { id: string };
export type JobTargets = z.output<typeof jobTargetsSchema>;

/** Lowercase slug of a name, for a default job id. */
export function slugify(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .replace(/-+$/, '')
    .slice(0, JOB_ID_MAX);
}

/**
 * `base` with the suffix `-n`, cut so the whole stays within JOB_ID_MAX: `base` is already as long as an
 * id may be when the name was long, and `base-2` was then an id no run could use (its definition no longer
 * passed the job schema, so every run failed and the job could not be saved back as read).
 */
export function suffixedJobId(base: string, n: number): string {
  const suffix = `-${n}`;
  return `${base.slice(0, JOB_ID_MAX - suffix.length).replace(/[-._]+$/, '')}${suffix}`;
}

/**
 * The script arguments a run passes: a dry-run job's start with `--dry-run`, where every script reads
 * options (restart-service.sh takes it first only; after a `--` it is an operand every shipped script
 * refuses). It used to be appended, so a dry run of every shipped script failed with a usage error.
 */
export function jobScriptArgs(job: Pick<JobDefinition, 'args' | 'dryRun'>): string[] {
  return job.dryRun && job.args[0] !== '--dry-run' ? ['--dry-run', ...job.args] : [...job.args];
}

// ---- schedule spec --------------------------------------------------------------------------------

/** The plain shape of a Temporal ScheduleSpec we build (kept free of SDK types so this stays pure). */
export interface JobScheduleSpec {
  intervals?: { every: number; offset: number }[];
  cronExpressions?: string[];
  timezone: string;
}

export function scheduleSpecOf(schedule: z.output<typeof jobScheduleSchema>): JobScheduleSpec {
  if (schedule.interval !== undefined) {
    const r = parseInterval(schedule.interval);
    if (!r.ok) throw new Error(r.message);
    return { intervals: [{ every: r.spec.everyMs, offset: r.spec.offsetMs }], timezone: schedule.timezone };
  }
  return { cronExpressions: [schedule.cron!.trim()], timezone: schedule.timezone };
}

export const overlapToTemporal = {
  skip: 'SKIP',
  buffer_one: 'BUFFER_ONE',
  cancel_other: 'CANCEL_OTHER',
  allow_all: 'ALLOW_ALL',
} as const satisfies Record<OverlapPolicy, string>;

/**
 * Why a run of job `run.jobId` going must start no further target, from the job's row as it stands now
 * (`standing`, undefined when gone), or null when it may go on. See jobRunStopReason in activities/jobs.ts.
 */
export function jobRunStopReasonOf(
  run: { jobId: string; trigger: string; changedAt?: string | undefined },
  standing: { deleted: boolean; enabled: boolean; changedAt: string } | undefined,
): string | null {
  if (!standing || standing.deleted) return `job deleted: job ${run.jobId} was deleted while this run was going`;
  const pausedSince = run.changedAt === undefined ? run.trigger === 'schedule' : standing.changedAt !== run.changedAt;
  // Every save of the row counts as a change: a paused job edited during a run it did not stop yet (one
  // started by hand) is stopped too, and the reason says so rather than claim a pause.
  if (!standing.enabled && pausedSince) return `job paused: job ${run.jobId} is paused and was paused or changed while this run was going`;
  return null;
}
