/**
 * Weekly time windows in an IANA time zone ("weekdays 22:00–06:00 Europe/Paris").
 *
 * Semantics: `start` is inclusive, `end` exclusive. When `end` <= `start` the window crosses midnight
 * and belongs to the day it *starts* on: `{ days: ['fri'], start: '22:00', end: '06:00' }` covers
 * Friday 22:00 to Saturday 06:00. `end: '24:00'` means end of day; `00:00–24:00` is the whole day.
 *
 * Pure: uses Intl only (available in the Temporal workflow sandbox); time is passed in.
 */

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export interface TimeWindow {
  days: Weekday[];
  /** `HH:MM`, 00:00–23:59 */
  start: string;
  /** `HH:MM`, 00:00–24:00 */
  end: string;
  /** IANA zone name, e.g. `Europe/Paris`, `UTC` */
  timezone: string;
}

export interface LocalTime {
  weekday: Weekday;
  /** minutes since local midnight */
  minutes: number;
  /** `ddd HH:MM` in the window's zone, for explanations */
  label: string;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
const SHORT_DAYS: Record<string, Weekday> = {
  Mon: 'mon',
  Tue: 'tue',
  Wed: 'wed',
  Thu: 'thu',
  Fri: 'fri',
  Sat: 'sat',
  Sun: 'sun',
};

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** True when `timeZone` is an IANA zone name this runtime knows. */
export function isValidTimeZone(timeZone: string): boolean {
  if (typeof timeZone !== 'string' || timeZone.length === 0 || timeZone.length > 64) return false;
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** Parses `HH:MM` into minutes since midnight; `undefined` when malformed. `24:00` is allowed. */
export function parseClock(clock: string): number | undefined {
  const match = /^([01]\d|2[0-4]):([0-5]\d)$/.exec(clock);
  if (!match) return undefined;
  const minutes = Number(match[1]) * 60 + Number(match[2]);
  return minutes > 24 * 60 ? undefined : minutes;
}

/** Weekday and wall-clock time of `now` in `timeZone`. Throws on an unknown zone. */
export function localTime(now: Date, timeZone: string): LocalTime {
  let weekday: Weekday | undefined;
  let hour = 0;
  let minute = 0;
  for (const part of formatterFor(timeZone).formatToParts(now)) {
    if (part.type === 'weekday') weekday = SHORT_DAYS[part.value];
    else if (part.type === 'hour') hour = Number(part.value) % 24;
    else if (part.type === 'minute') minute = Number(part.value);
  }
  if (!weekday) throw new Error(`cannot determine the weekday in time zone ${timeZone}`);
  const label = `${weekday} ${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}`;
  return { weekday, minutes: hour * 60 + minute, label };
}

function previousDay(day: Weekday): Weekday {
  const index = WEEKDAYS.indexOf(day);
  return WEEKDAYS[(index + 6) % 7] as Weekday;
}

/**
 * True when `now` falls inside `window`. An unknown time zone or malformed clock gives `false`
 * (schemas reject those up front, so this is only a guard).
 */
export function inTimeWindow(window: TimeWindow, now: Date): boolean {
  const start = parseClock(window.start);
  const end = parseClock(window.end);
  if (start === undefined || end === undefined || start >= 24 * 60) return false;
  let local: LocalTime;
  try {
    local = localTime(now, window.timezone);
  } catch {
    return false;
  }
  const days = new Set(window.days);
  if (start < end) return days.has(local.weekday) && local.minutes >= start && local.minutes < end;
  // Crosses midnight (or start === end, a full 24 hours starting at `start`).
  if (local.minutes >= start) return days.has(local.weekday);
  if (local.minutes < end) return days.has(previousDay(local.weekday));
  return false;
}

/** `mon,tue 22:00–06:00 Europe/Paris`, for explanations. */
export function describeTimeWindow(window: TimeWindow): string {
  return `${window.days.join(',')} ${window.start}–${window.end} ${window.timezone}`;
}

const ISO_INSTANT =
  /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;
const RELATIVE = /^now(?:\s*([+-])\s*(\d{1,6})\s*([smhd]))?$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** True for strings that {@link parseInstant} accepts: ISO 8601 instants or `now`, `now-15m`, `now+2h`. */
export function isTimeValue(value: string): boolean {
  return RELATIVE.test(value) || (ISO_INSTANT.test(value) && !Number.isNaN(Date.parse(value)));
}

/** True for ISO 8601 instants (date, or date-time with `Z`/offset). */
export function isIsoInstant(value: string): boolean {
  return ISO_INSTANT.test(value) && !Number.isNaN(Date.parse(value));
}

/**
 * Epoch milliseconds of an ISO 8601 instant, or of `now[±N(s|m|h|d)]` relative to `now`.
 * `undefined` for anything else (free-form dates are refused: Date.parse of those is engine-specific).
 */
export function parseInstant(value: unknown, now: Date): number | undefined {
  if (typeof value !== 'string') return undefined;
  const relative = RELATIVE.exec(value);
  if (relative) {
    if (relative[1] === undefined) return now.getTime();
    const amount = Number(relative[2]) * UNIT_MS[relative[3] as keyof typeof UNIT_MS];
    return now.getTime() + (relative[1] === '-' ? -amount : amount);
  }
  if (!ISO_INSTANT.test(value)) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}
