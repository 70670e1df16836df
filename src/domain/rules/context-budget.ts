// The bound on a rule run's template context. A plan carries what its templates see (incident,
// environment, alert, alerts, event) through Temporal: in the triage local activity's result (one marker in
// the incident workflow's history, refused past 2 MB) and in each rule run's start (all the starts of one
// workflow task go in one request, refused past 4 MB). Alerts are written by whoever sends events to the
// service (PagerDuty takes 512 KB per event) and their custom details appear up to three times over
// (`details`, `body.details`, `body.cef_details.details`), so a context is cut to a byte budget here.
//
// In order, each step only when the one before left the context over its budget:
// 1. always: a string longer than MAX_RENDERED_FIELD (what one rendered field can hold, src/domain/template.ts)
//    is cut there and ends with TRUNCATED: a template could never render more of it;
// 2. a subtree (object or array) of at least DEDUPE_MIN_CHARS of JSON repeated in the context is kept
//    once, at its shallowest place (`alert.details` before `alert.body.details`, `alert` before
//    `alerts[0]`); every other copy reads `…(same as alert.details)`;
// 3. strings are cut shorter, to as long as fits, down to MIN_STRING_CHARS;
// 4. arrays and objects keep their first entries, as many as fit, and say how many were left out;
// 5. only the essentials: incident id, number, status and title, event id and type.
// `incident.status` and `event.type` are always kept (a rule run reads them: activities/action-runs.ts).
//
// Pure: no I/O.
import { isPlainObject } from '../objects.js';
import { MAX_RENDERED_FIELD, TRUNCATED } from '../template.js';
import { cutAt, jsonBytes } from '../text.js';

type Obj = Record<string, unknown>;

/** UTF-8 bytes one rule run's context may take (its share of MAX_PLANS_CONTEXT_BYTES may be less). */
export const MAX_CONTEXT_BYTES = 256 * 1024;
/** UTF-8 bytes the contexts of all the plans of one triage may take together. */
export const MAX_PLANS_CONTEXT_BYTES = 512 * 1024;
/** Longest string a context holds before its budget cuts more (step 1). */
export const CONTEXT_STRING_MAX = MAX_RENDERED_FIELD;
/** Strings are never cut shorter than this by step 3. */
export const MIN_STRING_CHARS = 256;
/** Subtrees of at least this much JSON are kept once when the context is over budget (step 2). */
export const DEDUPE_MIN_CHARS = 1024;
/** How deep repeated subtrees are looked for, and how deep a context is copied (deeper: a marker). */
const DEDUPE_DEPTH = 8;
const MAX_DEPTH = 64;

/** The marker a repeated subtree's other copies read. */
export const sameAs = (path: string): string => `…(same as ${path})`;

export interface BoundedContext {
  context: Obj;
  /** UTF-8 bytes of the context's JSON. */
  bytes: number;
  /** Which steps past the first changed it ('' when none). */
  cut: '' | 'deduplicated' | 'strings' | 'entries' | 'essentials';
}

interface Limits {
  strings: number;
  entries: number;
  /** The markers of the repeated subtrees' other copies, by path (see repeatedSubtrees). */
  same: Map<string, string> | undefined;
}

function childPath(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return /^[A-Za-z_$][\w$]*$/.test(key) ? (path ? `${path}.${key}` : key) : `${path}[${JSON.stringify(key)}]`;
}

/** A JSON copy of `value` within `limits` (strings cut, entries kept, repeated subtrees replaced). */
function copy(value: unknown, limits: Limits, depth: number, path = ''): unknown {
  if (typeof value === 'string') return value.length > limits.strings ? cutAt(value, limits.strings) + TRUNCATED : value;
  if (value === null || typeof value !== 'object') return value;
  const same = limits.same?.get(path);
  if (same !== undefined) return same;
  if (depth >= MAX_DEPTH) return '…(nested too deep)';
  if (value instanceof Date) return value.toJSON();
  const at = (key: string | number) => (limits.same ? childPath(path, key) : '');
  if (Array.isArray(value)) {
    const kept = value.slice(0, limits.entries).map((v, i) => copy(v, limits, depth + 1, at(i)));
    if (value.length > limits.entries) kept.push(`…(${value.length - limits.entries} more items)`);
    return kept;
  }
  const out: Obj = {};
  const keys = Object.keys(value);
  for (const key of keys.slice(0, limits.entries)) {
    const v = (value as Obj)[key];
    if (v !== undefined) out[cutAt(key, limits.strings)] = copy(v, limits, depth + 1, at(key));
  }
  if (keys.length > limits.entries) out['…'] = `(${keys.length - limits.entries} more keys)`;
  return out;
}

/**
 * The repeated subtrees of `ctx` (objects and arrays of at least DEDUPE_MIN_CHARS of JSON, at most
 * DEDUPE_DEPTH deep, strings counted as `strings` cuts them): the path of each copy after the shallowest
 * (breadth first, in key order) to the marker naming the copy kept. The subtrees inside a copy are not
 * looked at (the copy is not written). The same object at two places (`alert` is `alerts[0]`) is a copy.
 */
function repeatedSubtrees(ctx: Obj, strings: number): Map<string, string> {
  const same = new Map<string, string>();
  const kept = new Map<string, string>();
  const byIdentity = new Map<object, string>();
  let level: { value: unknown; path: string }[] = Object.keys(ctx).map((k) => ({ value: ctx[k], path: childPath('', k) }));
  for (let depth = 1; depth <= DEDUPE_DEPTH && level.length > 0; depth++) {
    const next: typeof level = [];
    for (const { value, path } of level) {
      if (value === null || typeof value !== 'object') continue;
      const seen = byIdentity.get(value);
      if (seen !== undefined) {
        same.set(path, sameAs(seen));
        continue;
      }
      const json = JSON.stringify(copy(value, { strings, entries: Number.MAX_SAFE_INTEGER, same: undefined }, depth));
      if (json !== undefined && json.length >= DEDUPE_MIN_CHARS) {
        const first = kept.get(json);
        if (first !== undefined) {
          same.set(path, sameAs(first));
          continue;
        }
        kept.set(json, path);
      }
      byIdentity.set(value, path);
      if (Array.isArray(value)) value.forEach((v, i) => next.push({ value: v, path: childPath(path, i) }));
      else for (const k of Object.keys(value)) next.push({ value: (value as Obj)[k], path: childPath(path, k) });
    }
    level = next;
  }
  return same;
}

/** What a rule run cannot go without, whatever the budget (step 5): incident id, number, status, title; event id, type, time. */
export function contextEssentials(ctx: Obj): { incident: Obj; event: Obj } {
  const pick = (from: unknown, keys: string[]): Obj => {
    const out: Obj = {};
    if (!isPlainObject(from)) return out;
    for (const k of keys) {
      const v = from[k];
      if (typeof v === 'string') out[k] = v.length > MIN_STRING_CHARS ? cutAt(v, MIN_STRING_CHARS) + TRUNCATED : v;
      else if (typeof v === 'number' || typeof v === 'boolean' || v === null) out[k] = v;
    }
    return out;
  };
  return { incident: pick(ctx.incident, ['id', 'number', 'status', 'title']), event: pick(ctx.event, ['id', 'type', 'occurredAt']) };
}

/** `bounded` with `incident.status` and `event.type` as in `ctx` (step 4 may have left them out). */
function withEssentials(bounded: Obj, ctx: Obj): Obj {
  const must = contextEssentials(ctx);
  const incident = isPlainObject(bounded.incident) ? bounded.incident : {};
  const event = isPlainObject(bounded.event) ? bounded.event : {};
  return { ...bounded, incident: { ...must.incident, ...incident }, event: { ...must.event, ...event } };
}

/** The largest n in [lo, hi] for which fits(n), or undefined when not even lo fits. `fits` is monotone. */
function largest(lo: number, hi: number, fits: (n: number) => boolean): number | undefined {
  if (!fits(lo)) return undefined;
  while (lo < hi) {
    const mid = Math.floor((lo + hi + 1) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * `ctx` within `maxBytes` of JSON (UTF-8), by the steps above. The context's top-level keys are kept;
 * a context that fits after step 1 is a copy of `ctx` with no other change.
 */
export function boundContext(ctx: Obj, maxBytes: number): BoundedContext {
  const least = contextEssentials(ctx);
  const leastBytes = jsonBytes(least);
  const full: Limits = { strings: CONTEXT_STRING_MAX, entries: Number.MAX_SAFE_INTEGER, same: undefined };
  const first = copy(ctx, full, 0) as Obj;
  const firstBytes = jsonBytes(first);
  if (firstBytes <= maxBytes) return { context: first, bytes: firstBytes, cut: '' };
  if (maxBytes <= leastBytes) return { context: least, bytes: leastBytes, cut: 'essentials' };

  const same = repeatedSubtrees(ctx, CONTEXT_STRING_MAX);
  const attempt = (strings: number, entries: number): { context: Obj; bytes: number } => {
    const out = withEssentials(copy(ctx, { strings, entries, same }, 0) as Obj, ctx);
    return { context: out, bytes: jsonBytes(out) };
  };
  const deduplicated = attempt(CONTEXT_STRING_MAX, Number.MAX_SAFE_INTEGER);
  if (deduplicated.bytes <= maxBytes) return { ...deduplicated, cut: 'deduplicated' };

  const strings = largest(MIN_STRING_CHARS, CONTEXT_STRING_MAX, (n) => attempt(n, Number.MAX_SAFE_INTEGER).bytes <= maxBytes);
  if (strings !== undefined) return { ...attempt(strings, Number.MAX_SAFE_INTEGER), cut: 'strings' };

  const entries = largest(1, 1000, (n) => attempt(MIN_STRING_CHARS, n).bytes <= maxBytes);
  if (entries !== undefined) return { ...attempt(MIN_STRING_CHARS, entries), cut: 'entries' };

  return { context: least, bytes: leastBytes, cut: 'essentials' };
}
