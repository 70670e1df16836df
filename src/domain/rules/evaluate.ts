/**
 * Rule condition evaluation with explanations.
 *
 * `evaluateRule` returns whether a rule's conditions hold for an incident and a tree of reasons mirroring
 * the conditions, each predicate with its field, op, expected and (truncated) actual value and a
 * sentence such as `incident.urgency equals "high": actual "high" → true`. Every child of all/any is
 * evaluated (no short-circuit) so the explanation is complete.
 *
 * Missing fields never throw: `exists` is false and every other op is false (including notEquals and
 * notIn: a rule never fires on data that is not there).
 *
 * Pure: no I/O and no clock (the time is passed in); safe inside Temporal workflow code.
 */
import { getPath, parsePath } from '../json-path.js';
import { isPlainObject } from '../objects.js';
import { compileUserRegex, type UserRegex } from '../regex.js';
import { cutAt, jsonPrefix } from '../text.js';
import { withoutOmittedMarker } from '../stored-alerts.js';
import type { Condition, PredicateCondition, PredicateOp, Rule, Scalar } from './schema.js';
import { describeTimeWindow, inTimeWindow, isIsoInstant, localTime, parseInstant, type TimeWindow } from './time-window.js';

type Obj = Record<string, unknown>;

/** What conditions and templates see. Plain JSON, so it can travel in Temporal payloads. */
export interface EvaluationContext {
  incident: Obj;
  environment: Obj;
  /** the first (triggering) alert, with `details` = the alert body's custom details */
  alert: Obj;
  alerts: Obj[];
  event: Obj;
}

export interface BuildContextInput {
  /** parsed incident: the webhook's `event.data`, a REST incident, or an IncidentSnapshot */
  incident?: unknown;
  /** environment extracted from the incident (host, region, environment, ...) */
  environment?: unknown;
  /** PagerDuty alerts of the incident (GET /incidents/{id}/alerts) */
  alerts?: readonly unknown[] | null;
  /** the webhook event (`event_type`, `occurred_at`, ...) */
  event?: unknown;
}


function normaliseAlert(alert: unknown): Obj {
  if (!isPlainObject(alert)) return {};
  const body = isPlainObject(alert.body) ? alert.body : undefined;
  const cef = body && isPlainObject(body.cef_details) ? body.cef_details : undefined;
  const details = alert.details ?? body?.details ?? cef?.details;
  return details === undefined ? { ...alert } : { ...alert, details };
}

function normaliseIncident(incident: unknown): Obj {
  if (!isPlainObject(incident)) return {};
  const out: Obj = { ...incident };
  // IncidentSnapshot (camelCase) and PagerDuty payloads (service: {id, summary}) both address as
  // incident.service.id / incident.service.summary.
  if (!isPlainObject(out.service) && typeof out.serviceId === 'string') {
    out.service = { id: out.serviceId, summary: out.serviceName };
  } else if (isPlainObject(out.service) && out.serviceId === undefined && typeof out.service.id === 'string') {
    out.serviceId = out.service.id;
  }
  return out;
}

function normaliseEvent(event: unknown): Obj {
  if (!isPlainObject(event)) return {};
  const out: Obj = { ...event };
  if (out.type === undefined && typeof out.event_type === 'string') out.type = out.event_type;
  if (out.occurredAt === undefined && typeof out.occurred_at === 'string') out.occurredAt = out.occurred_at;
  return out;
}

/** Assembles the evaluation context; tolerant of missing parts (they become `{}` / `[]`). */
export function buildContext(input: BuildContextInput): EvaluationContext {
  const alerts = withoutOmittedMarker(input.alerts ?? []).map(normaliseAlert);
  return {
    incident: normaliseIncident(input.incident),
    environment: isPlainObject(input.environment) ? { ...input.environment } : {},
    alert: alerts[0] ?? {},
    alerts,
    event: normaliseEvent(input.event),
  };
}

/** Whether `rule` targets this service and event type (the cheap filter before conditions). */
export function ruleApplies(
  rule: Pick<Rule, 'services' | 'eventTypes'>,
  target: { serviceId: string | undefined; eventType: string | undefined },
): boolean {
  const serviceOk = rule.services.includes('*') || (target.serviceId !== undefined && rule.services.includes(target.serviceId));
  const eventOk =
    (rule.eventTypes as readonly string[]).includes('*') ||
    (target.eventType !== undefined && (rule.eventTypes as readonly string[]).includes(target.eventType));
  return serviceOk && eventOk;
}

// ---- explanations -------------------------------------------------------------------------------------

export interface PredicateExplanation {
  kind: 'predicate';
  field: string;
  op: PredicateOp;
  expected?: Scalar | Scalar[];
  /** the actual value, truncated for display; absent when the field is missing */
  actual?: unknown;
  missing: boolean;
  result: boolean;
  text: string;
}
export interface GroupExplanation {
  kind: 'all' | 'any';
  result: boolean;
  text: string;
  children: Explanation[];
}
export interface NotExplanation {
  kind: 'not';
  result: boolean;
  text: string;
  child: Explanation;
}
export interface TimeWindowExplanation {
  kind: 'timeWindow';
  window: TimeWindow;
  /** `ddd HH:MM` in the window's zone */
  localTime?: string;
  result: boolean;
  text: string;
}
export interface AlwaysExplanation {
  kind: 'always';
  result: true;
  text: string;
}
export type Explanation = PredicateExplanation | GroupExplanation | NotExplanation | TimeWindowExplanation | AlwaysExplanation;

export interface RuleEvaluation {
  matched: boolean;
  reasons: Explanation;
}

const MAX_DISPLAY = 120;

function truncateString(text: string, max = MAX_DISPLAY): string {
  return text.length > max ? `${cutAt(text, max)}…` : text;
}

/**
 * The start of an object's JSON text for explanations, at most MAX_DISPLAY characters written (jsonPrefix),
 * once per object: every predicate reading `event` shows the same object, and a rule may hold hundreds.
 */
const shownObjects = new WeakMap<object, { text: string; cut: boolean }>();
function shownJson(value: object): { text: string; cut: boolean } {
  let shown = shownObjects.get(value);
  if (!shown) {
    try {
      shown = jsonPrefix(value, MAX_DISPLAY);
    } catch {
      shown = { text: '[unserialisable]', cut: false };
    }
    shownObjects.set(value, shown);
  }
  return shown;
}

/** A small copy of `value` for explanations (long strings cut, objects summarised as JSON text). */
function displayValue(value: unknown): unknown {
  if (typeof value === 'string') return truncateString(value);
  if (value === null || typeof value !== 'object') return value;
  const shown = shownJson(value);
  return shown.cut ? `${shown.text}…` : value;
}

function show(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return JSON.stringify(truncateString(value));
  if (value === null || typeof value !== 'object') {
    try {
      return truncateString(JSON.stringify(value) ?? String(value));
    } catch {
      return '[unserialisable]';
    }
  }
  const shown = shownJson(value);
  return shown.cut ? `${shown.text}…` : shown.text;
}

// ---- operators ----------------------------------------------------------------------------------------

type Compiled = UserRegex | { error: string };

/** Compiles (once: the one cache of src/domain/regex.ts) a user pattern; refused or invalid → `{ error }`. */
export function compileRegex(pattern: string, flags = ''): Compiled {
  const r = compileUserRegex(pattern, flags);
  return r.ok ? r.regex : { error: r.reason };
}

function lower(value: string, ignoreCase: boolean | undefined): string {
  return ignoreCase ? value.toLowerCase() : value;
}

function looseEquals(actual: unknown, expected: unknown, ignoreCase?: boolean): boolean {
  if (actual === expected) return true;
  if (typeof actual === 'string' && typeof expected === 'string') {
    return ignoreCase === true && actual.toLowerCase() === expected.toLowerCase();
  }
  // "42" and 42 are the same number: payload fields are often stringly typed.
  if (typeof actual === 'number' && typeof expected === 'string') return expected.trim() !== '' && Number(expected) === actual;
  if (typeof actual === 'string' && typeof expected === 'number') return actual.trim() !== '' && Number(actual) === expected;
  return false;
}

function asText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

function asNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && value.trim() !== '') {
    const number = Number(value);
    return Number.isFinite(number) ? number : undefined;
  }
  return undefined;
}

/** Instant of an actual value: only ISO 8601 strings (data never gets `now-15m` semantics). */
function actualInstant(value: unknown): number | undefined {
  return typeof value === 'string' && isIsoInstant(value) ? Date.parse(value) : undefined;
}

function isIn(actual: unknown, expected: unknown, ignoreCase?: boolean): boolean {
  if (!Array.isArray(expected)) return false;
  const candidates = Array.isArray(actual) ? actual : [actual];
  return candidates.some((item) => expected.some((value) => looseEquals(item, value, ignoreCase)));
}

function compare(op: 'gt' | 'gte' | 'lt' | 'lte', actual: unknown, expected: unknown, now: Date): boolean {
  let a: number | undefined;
  let b: number | undefined;
  if (typeof expected === 'number') {
    a = asNumber(actual);
    b = expected;
  } else {
    a = actualInstant(actual);
    b = parseInstant(expected, now);
  }
  if (a === undefined || b === undefined) return false;
  switch (op) {
    case 'gt':
      return a > b;
    case 'gte':
      return a >= b;
    case 'lt':
      return a < b;
    case 'lte':
      return a <= b;
  }
}

interface OpOutcome {
  result: boolean;
  note?: string;
}

function applyOp(predicate: PredicateCondition, actual: unknown, now: Date): OpOutcome {
  const { op, value: expected, ignoreCase } = predicate;
  const missing = actual === undefined || actual === null;
  if (op === 'exists') return { result: expected === false ? missing : !missing };
  if (missing) return { result: expected === null && op === 'equals' };
  switch (op) {
    case 'equals':
      return { result: looseEquals(actual, expected, ignoreCase) };
    case 'notEquals':
      return { result: !looseEquals(actual, expected, ignoreCase) };
    case 'in':
      return { result: isIn(actual, expected, ignoreCase) };
    case 'notIn':
      return { result: !isIn(actual, expected, ignoreCase) };
    case 'contains': {
      if (Array.isArray(actual)) return { result: actual.some((item) => looseEquals(item, expected, ignoreCase)) };
      const text = asText(actual);
      const needle = asText(expected);
      return { result: text !== undefined && needle !== undefined && lower(text, ignoreCase).includes(lower(needle, ignoreCase)) };
    }
    case 'startsWith':
    case 'endsWith': {
      const text = asText(actual);
      if (text === undefined || typeof expected !== 'string') return { result: false };
      const a = lower(text, ignoreCase);
      const b = lower(expected, ignoreCase);
      return { result: op === 'startsWith' ? a.startsWith(b) : a.endsWith(b) };
    }
    case 'matches': {
      const text = asText(actual);
      if (text === undefined || typeof expected !== 'string') return { result: false };
      let flags = predicate.flags ?? '';
      if (ignoreCase && !flags.includes('i')) flags += 'i';
      const regex = compileRegex(expected, flags);
      if ('error' in regex) return { result: false, note: regex.error };
      // The subject is cut to MAX_SUBJECT_LENGTH inside test(): one call's cost is bounded.
      return { result: regex.test(text) };
    }
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
      return { result: compare(op, actual, expected, now) };
    case 'before':
    case 'after': {
      const a = actualInstant(actual);
      const b = parseInstant(expected, now);
      if (a === undefined) return { result: false, note: 'actual is not an ISO 8601 time' };
      if (b === undefined) return { result: false };
      return { result: op === 'before' ? a < b : a > b };
    }
  }
}

function evaluatePredicate(predicate: PredicateCondition, ctx: EvaluationContext, now: Date): PredicateExplanation {
  const segments = parsePath(predicate.field);
  const actual = segments === null ? undefined : getPath(ctx, segments);
  const missing = actual === undefined || actual === null;
  let outcome: OpOutcome;
  try {
    outcome = applyOp(predicate, actual, now);
  } catch (error) {
    outcome = { result: false, note: error instanceof Error ? error.message : String(error) };
  }
  const expectedText = predicate.op === 'exists' ? (predicate.value === false ? ' (false)' : '') : ` ${show(predicate.value)}`;
  const flags = predicate.op === 'matches' && predicate.flags ? ` /${predicate.flags}` : '';
  const actualText = missing ? `field missing${actual === null ? ' (null)' : ''}` : `actual ${show(actual)}`;
  const note = outcome.note ? ` (${outcome.note})` : '';
  const explanation: PredicateExplanation = {
    kind: 'predicate',
    field: predicate.field,
    op: predicate.op,
    missing,
    result: outcome.result,
    text: `${predicate.field} ${predicate.op}${expectedText}${flags}${predicate.ignoreCase ? ' (ignoring case)' : ''}: ${actualText}${note} → ${outcome.result}`,
  };
  if (predicate.value !== undefined) explanation.expected = predicate.value;
  if (!missing) explanation.actual = displayValue(actual);
  return explanation;
}

function evaluateTimeWindow(window: TimeWindow, now: Date): TimeWindowExplanation {
  const result = inTimeWindow(window, now);
  let label: string | undefined;
  try {
    label = localTime(now, window.timezone).label;
  } catch {
    label = undefined;
  }
  const explanation: TimeWindowExplanation = {
    kind: 'timeWindow',
    window,
    result,
    text: `time window ${describeTimeWindow(window)}: local time ${label ?? 'unknown (bad time zone)'} → ${result}`,
  };
  if (label !== undefined) explanation.localTime = label;
  return explanation;
}

/** Evaluates one condition tree into an explanation (its `result` is the outcome). */
export function evaluateCondition(condition: Condition, ctx: EvaluationContext, now: Date): Explanation {
  if ('all' in condition) {
    const children = condition.all.map((child) => evaluateCondition(child, ctx, now));
    const held = children.filter((child) => child.result).length;
    const result = held === children.length;
    return { kind: 'all', result, children, text: `all of ${children.length} conditions: ${held} held → ${result}` };
  }
  if ('any' in condition) {
    const children = condition.any.map((child) => evaluateCondition(child, ctx, now));
    const held = children.filter((child) => child.result).length;
    const result = held > 0;
    return { kind: 'any', result, children, text: `any of ${children.length} conditions: ${held} held → ${result}` };
  }
  if ('not' in condition) {
    const child = evaluateCondition(condition.not, ctx, now);
    const result = !child.result;
    return { kind: 'not', result, child, text: `not (inner condition ${child.result}) → ${result}` };
  }
  if ('timeWindow' in condition) return evaluateTimeWindow(condition.timeWindow, now);
  return evaluatePredicate(condition, ctx, now);
}

/** Whether `rule`'s conditions hold for `ctx` at `now`, with the reasons. No conditions = always. */
export function evaluateRule(rule: Pick<Rule, 'conditions'>, ctx: EvaluationContext, now: Date): RuleEvaluation {
  if (rule.conditions === undefined) {
    return { matched: true, reasons: { kind: 'always', result: true, text: 'no conditions → always matches' } };
  }
  const reasons = evaluateCondition(rule.conditions, ctx, now);
  return { matched: reasons.result, reasons };
}

/** The first maintenance window of `rule` that contains `now` (the rule must not run), if any. */
export function activeMaintenanceWindow(rule: Pick<Rule, 'policies'>, now: Date): TimeWindow | undefined {
  return rule.policies.maintenanceWindows?.find((window) => inTimeWindow(window, now));
}

/** Indented multi-line rendering of an explanation, for PagerDuty notes and logs. */
export function formatExplanation(explanation: Explanation, indent = ''): string {
  const line = `${indent}${explanation.result ? '✓' : '✗'} ${explanation.text}`;
  if (explanation.kind === 'all' || explanation.kind === 'any') {
    return [line, ...explanation.children.map((child) => formatExplanation(child, `${indent}  `))].join('\n');
  }
  if (explanation.kind === 'not') return [line, formatExplanation(explanation.child, `${indent}  `)].join('\n');
  return line;
}
