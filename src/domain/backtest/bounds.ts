// How big a backtest summary may grow, and the bounds applied to one: as the engine writes it, and again to
// one read back from rule_backtests (a summary stored before a bound existed keeps whatever it had). Pure.
//
// - Groups (byService, byEnvironment): the MAX_GROUPS with the most matches, `…Omitted` counting the rest.
// - perHour: firings per bucket of `perHourBucketHours` hours, at most MAX_HOUR_BUCKETS buckets. A window of
//   up to 33 days (the default 30 included) keeps one bucket per hour; a longer one is counted in buckets of
//   2, 3, 4, 6, 8, 12 or 24 hours (whichever is the smallest that fits: 90 days in 3 hours, 366 days in
//   12), aligned on UTC midnight. `peakPerHour` stays the busiest single hour whatever the buckets.
// - A group's key and name (an incident's service id and name, an extracted environment): at most
//   MAX_GROUP_KEY_BYTES bytes of UTF-8, a longer one cut and ending with `…(truncated #<hash>)`. They
//   came from the incident as they were, so one hostile value of megabytes was kept, stored and answered
//   whole. The hash is GROUP_KEY_HASH_HEX hex digits (128 bits): with 8 (32 bits) two crafted values that
//   start alike and share the tag were found in 1.4 s, and the engine counted their incidents as one group.
//   A key stored with the 8-digit tag fits the bytes and is answered as stored.
import { sha256Hex } from '../sha256.js';
import { cutUtf8, jsonBytes } from '../text.js';
import { MAX_GROUPS, type GroupCount, type HourCount } from './types.js';

/**
 * Bytes (UTF-8) of a group's key, and of its name, at most, the mark of a cut included: an extracted
 * environment (at most 256 characters, extract.ts) always fits whole; a PagerDuty service id or name of
 * more is cut, and ends with the hash of the whole value, so groups whose values start alike over that
 * length stay apart (they were counted as one, and stored groups cut alike answered with one key).
 */
export const MAX_GROUP_KEY_BYTES = 1024;

/**
 * Hex digits of the SHA-256 a cut group key or name ends with: 128 bits, so no one finds two values that
 * start alike and end with the same tag (a 32-bit tag was matched by a search of 1.4 s; 64 bits are a few
 * days of a laptop's search, as the birthday bound goes).
 */
export const GROUP_KEY_HASH_HEX = 32;

/**
 * A group key or name within MAX_GROUP_KEY_BYTES: as it is when it fits (a key stored with the former
 * 8-digit tag included), else cut and ending with
 * `…(truncated #<the first GROUP_KEY_HASH_HEX hex digits of the SHA-256 of the whole value>)`.
 */
export function groupText(text: string): string {
  if (cutUtf8(text, MAX_GROUP_KEY_BYTES) === text) return text;
  return cutUtf8(text, MAX_GROUP_KEY_BYTES, `…(truncated #${sha256Hex(text).slice(0, GROUP_KEY_HASH_HEX)})`);
}

/** The group of events whose incident carries no value (no service, no environment extracted). */
export const NO_VALUE_GROUP = '(none)';

/**
 * The group key or name of a value an incident carries (engine.ts), as groupText says, except for a value
 * that reads as a group of another: `(none)`, or one ending like a cut value (`…(truncated #<hex>)`,
 * any length of hex). Those are cut at once, so they end with their own tag: before, an incident whose
 * service was sent as the cut form of another, longer one (a reviewer) counted in that one's group, and a
 * service named `(none)` in the group of events with none.
 */
export function groupKeyOf(value: string): string {
  if (value !== NO_VALUE_GROUP && !(value.endsWith(')') && value.includes('…(truncated #'))) return groupText(value);
  const mark = `…(truncated #${sha256Hex(value).slice(0, GROUP_KEY_HASH_HEX)})`;
  const room = Math.max(0, MAX_GROUP_KEY_BYTES - new TextEncoder().encode(mark).length);
  return cutUtf8(value, room) + mark;
}

/** Buckets of perHour at most: a bucket per hour for windows of up to 33 days. */
export const MAX_HOUR_BUCKETS = 800;

const HOUR = 3_600_000;
/** Bucket widths tried in turn, in hours: each divides a day, so buckets line up on UTC midnight. */
const WIDTHS = [1, 2, 3, 4, 6, 8, 12, 24];

/** Buckets of `hours` hours (aligned on UTC) that [fromMs, toMs) meets. */
function bucketsMet(fromMs: number, toMs: number, hours: number): number {
  const size = hours * HOUR;
  return Math.max(1, Math.ceil(toMs / size) - Math.floor(fromMs / size));
}

/** The bucket width (hours) perHour uses for the window: the smallest of WIDTHS, or whole days beyond, giving at most MAX_HOUR_BUCKETS buckets. */
export function bucketHoursFor(fromMs: number, toMs: number): number {
  for (const w of WIDTHS) if (bucketsMet(fromMs, toMs, w) <= MAX_HOUR_BUCKETS) return w;
  let days = 2;
  while (bucketsMet(fromMs, toMs, days * 24) > MAX_HOUR_BUCKETS) days *= 2;
  return days * 24;
}

/** Hour counts summed into buckets of `width` hours, each named by its start, in time order; entries that are not hour counts are dropped. */
export function bucketPerHour(hours: readonly unknown[], width: number): HourCount[] {
  const size = width * HOUR;
  const buckets = new Map<number, HourCount>();
  for (const h of hours) {
    if (!isHourCount(h)) continue;
    const at = Math.floor(Date.parse(h.hour) / size) * size;
    const b = buckets.get(at) ?? { hour: new Date(at).toISOString(), firings: 0, actions: 0 };
    b.firings += h.firings;
    b.actions += h.actions;
    buckets.set(at, b);
  }
  return [...buckets.entries()].sort((a, b) => a[0] - b[0]).map(([, b]) => b);
}

/**
 * perHour for the window, bucketed as {@link bucketHoursFor} says, wider still should the counts lie
 * outside the window (only a summary written by something else could): never more than MAX_HOUR_BUCKETS.
 */
export function boundPerHour(hours: readonly unknown[], fromMs: number, toMs: number, width = 1): { perHour: HourCount[]; perHourBucketHours: number } {
  let w = Math.max(width, Number.isFinite(fromMs) && Number.isFinite(toMs) && toMs > fromMs ? bucketHoursFor(fromMs, toMs) : 1);
  let perHour = bucketPerHour(hours, w);
  while (perHour.length > MAX_HOUR_BUCKETS) {
    w = WIDTHS.find((x) => x > w) ?? w * 2;
    perHour = bucketPerHour(hours, w);
  }
  return { perHour, perHourBucketHours: w };
}

/**
 * The first MAX_GROUPS groups (most matches first, as stored), each key and name within
 * MAX_GROUP_KEY_BYTES, and how many are left out, added to those already counted out.
 */
export function boundGroups(groups: readonly GroupCount[], omitted: unknown): { groups: GroupCount[]; omitted: number } {
  const before = typeof omitted === 'number' && Number.isSafeInteger(omitted) && omitted > 0 ? omitted : 0;
  return { groups: groups.slice(0, MAX_GROUPS).map(boundGroup), omitted: before + Math.max(0, groups.length - MAX_GROUPS) };
}

function boundGroup(g: GroupCount): GroupCount {
  // Read back from the table: whatever was stored.
  const stored: unknown = g;
  if (!isObject(stored)) return g;
  return { ...g, ...(typeof stored.key === 'string' ? { key: groupText(stored.key) } : {}), ...(typeof stored.name === 'string' ? { name: groupText(stored.name) } : {}) };
}

/**
 * A summary read back from rule_backtests with the bounds of today applied to each lane (candidate,
 * baseline): a summary stored before them (every group, an entry per hour of a year) is answered as one
 * written today would be. `window` is the backtest's, as stored with it. Anything that is not a lane
 * summary's field is left as it is.
 */
export function boundStoredSummary(summary: unknown, window: { from: Date; to: Date }): unknown {
  if (!isObject(summary)) return summary;
  const out: Record<string, unknown> = { ...summary };
  for (const lane of ['candidate', 'baseline'] as const) {
    const s = summary[lane];
    if (!isObject(s)) continue;
    const bounded: Record<string, unknown> = { ...s };
    for (const [list, count] of [['byService', 'byServiceOmitted'], ['byEnvironment', 'byEnvironmentOmitted']] as const) {
      const groups = s[list];
      if (!Array.isArray(groups)) continue;
      const b = boundGroups(groups as GroupCount[], s[count]);
      bounded[list] = b.groups;
      bounded[count] = b.omitted;
    }
    if (Array.isArray(s.perHour)) {
      const stored = typeof s.perHourBucketHours === 'number' && Number.isSafeInteger(s.perHourBucketHours) && s.perHourBucketHours > 0 ? s.perHourBucketHours : 1;
      Object.assign(bounded, boundPerHour(s.perHour, window.from.getTime(), window.to.getTime(), stored));
    }
    out[lane] = bounded;
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isHourCount(v: unknown): v is HourCount {
  return isObject(v) && typeof v.hour === 'string' && Number.isFinite(Date.parse(v.hour)) && typeof v.firings === 'number' && typeof v.actions === 'number';
}

/**
 * Bytes of a stored summary (its summary_bytes) GET /api/rules/{id}/backtests reads whole at most: a
 * summary within today's bounds is a few hundred KB at most. One stored before them is whatever it was
 * (tens or hundreds of MB: a group per distinct value, every value whole), and a page takes one row at
 * least, so one such row was read whole into the API, then answered; it is now answered as its recap.
 */
export const MAX_LISTED_SUMMARY_BYTES = 4 * 1024 * 1024;

/** Bytes (Postgres's pg_column_size) of one value a recap keeps; a larger one is left out. */
export const RECAP_VALUE_BYTES = 4096;

const LANE_COUNTS = ['evaluated', 'matched', 'decisions', 'suppressedBy', 'firings', 'actions', 'peakPerHour', 'perHourBucketHours', 'byServiceOmitted', 'byEnvironmentOmitted', 'assumptions', 'argsRefused'];

/** What the recap of a summary too big to list keeps: its window, the counts of each lane, the diffs' counts (no list: no group, hour or incident). */
export const RECAP_PATHS: readonly (readonly string[])[] = [
  ['window'],
  ['requestedWindow'],
  ['events'],
  ['assumedRunSeconds'],
  ['retention'],
  ['limits'],
  ...['candidate', 'baseline'].flatMap((lane) => LANE_COUNTS.map((count) => [lane, count])),
  ['vsCurrent', 'counts'],
  ['vsRecorded', 'counts'],
  ['vsRecorded', 'agreement'],
];

/**
 * The recap of a summary too big to list: `values` are those of RECAP_PATHS in order, as Postgres read
 * them (null: absent, or over RECAP_VALUE_BYTES), nested as in the summary (`candidate` always there);
 * `truncated` says that the rest was left out, and how big the summary is as stored (its summary_bytes).
 */
export function recapSummary(values: readonly unknown[], storedBytes: number): Record<string, unknown> {
  const out: Record<string, unknown> = { truncated: { bytes: storedBytes, maxBytes: MAX_LISTED_SUMMARY_BYTES }, candidate: {} };
  RECAP_PATHS.forEach((path, i) => {
    const value = values[i];
    if (value === null || value === undefined) return;
    let at = out;
    for (const step of path.slice(0, -1)) {
      if (!isObject(at[step])) at[step] = {};
      at = at[step] as Record<string, unknown>;
    }
    at[path[path.length - 1]!] = value;
  });
  return out;
}

/**
 * Bytes (UTF-8) of the JSON of a summary attached to a rule version (rule_backtests) at most. Within the
 * bounds above a summary is a few KB as a rule is usually written, but its lists may still add up past a
 * MB (100 groups of 1,024-byte keys and names, each character of which JSON may write as six, in each
 * lane; 800 buckets; 100 ids in each of eight diff lists): a summary over it is stored cut, as
 * {@link storableSummary} says. Postgres's text of it (summary_bytes: a space after each `,` and `:`) is
 * at most twice as long, within MAX_LISTED_SUMMARY_BYTES: a stored summary is always listed whole.
 */
export const MAX_STORED_SUMMARY_BYTES = 1024 * 1024;

/** The lists a summary over MAX_STORED_SUMMARY_BYTES leaves out, in turn until it fits; `rest`: all but its recap's values. */
export const STORED_SUMMARY_CUTS = ['incidents', 'groups', 'perHour', 'rest'] as const;
export type StoredSummaryCut = (typeof STORED_SUMMARY_CUTS)[number];

/**
 * The summary as rule_backtests stores it: as it is when its JSON is within MAX_STORED_SUMMARY_BYTES; else
 * with lists left out in the order of STORED_SUMMARY_CUTS until it fits, and
 * `truncated: { bytes, maxBytes, dropped }` (its bytes whole, the bound, the lists left out). Counts stay
 * exact: the diffs' `incidentsOmitted` and the lanes' `byServiceOmitted`, `byEnvironmentOmitted` count
 * what was listed too; `firings` and `peakPerHour` stay with perHour gone. `rest` (only a summary made
 * by something else than the engine could need it) keeps the values of RECAP_PATHS of at most
 * RECAP_VALUE_BYTES each.
 */
export function storableSummary(summary: Record<string, unknown>): Record<string, unknown> {
  const bytes = jsonBytes(summary);
  if (bytes <= MAX_STORED_SUMMARY_BYTES) return summary;
  const dropped: StoredSummaryCut[] = [];
  let out: Record<string, unknown> = { ...summary };
  const lanes = (f: (lane: Record<string, unknown>) => Record<string, unknown>) => {
    for (const name of ['candidate', 'baseline']) if (isObject(out[name])) out[name] = f({ ...(out[name] as Record<string, unknown>) });
  };
  const count = (v: unknown) => (typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : 0);
  for (const cut of STORED_SUMMARY_CUTS) {
    dropped.push(cut);
    if (cut === 'incidents') {
      for (const name of ['vsCurrent', 'vsRecorded']) {
        const diff = out[name];
        if (!isObject(diff) || !isObject(diff.incidents)) continue;
        const listed = diff.incidents;
        const omitted = isObject(diff.incidentsOmitted) ? diff.incidentsOmitted : {};
        const kinds = new Set([...Object.keys(listed), ...Object.keys(omitted)]);
        const sum = Object.fromEntries([...kinds].map((k) => [k, count(omitted[k]) + (Array.isArray(listed[k]) ? listed[k].length : 0)]));
        out[name] = { ...diff, incidents: Object.fromEntries(Object.keys(listed).map((k) => [k, []])), incidentsOmitted: sum };
      }
    } else if (cut === 'groups') {
      lanes((lane) => {
        for (const [list, omitted] of [['byService', 'byServiceOmitted'], ['byEnvironment', 'byEnvironmentOmitted']] as const) {
          if (!Array.isArray(lane[list])) continue;
          lane[omitted] = count(lane[omitted]) + lane[list].length;
          lane[list] = [];
        }
        return lane;
      });
    } else if (cut === 'perHour') {
      lanes((lane) => (Array.isArray(lane.perHour) ? { ...lane, perHour: [] } : lane));
    } else {
      const values = RECAP_PATHS.map((path) => {
        let at: unknown = out;
        for (const step of path) at = isObject(at) ? at[step] : undefined;
        return at === undefined || jsonBytes(at) > RECAP_VALUE_BYTES ? null : at;
      });
      const { truncated: _t, ...recap } = recapSummary(values, bytes);
      out = recap;
    }
    if (jsonBytes({ ...out, truncated: { bytes, maxBytes: MAX_STORED_SUMMARY_BYTES, dropped } }) <= MAX_STORED_SUMMARY_BYTES) break;
  }
  return { ...out, truncated: { bytes, maxBytes: MAX_STORED_SUMMARY_BYTES, dropped } };
}
