/**
 * Rule conditions: the predicate grammar (`{field, op, value}`), `all`/`any`/`not` combinators, weekly time
 * windows, and the checks a whole condition tree must pass (size, depth, one regex budget per rule).
 *
 * Pure: no I/O, safe inside Temporal workflow code.
 */
import { z } from '../zod.js';
import { isValidPath, pathRoot } from '../json-path.js';
import { RegexBudget } from '../regex.js';
import { CONDITION_ROOTS } from './fields.js';
import { WEEKDAYS, isTimeValue, isValidTimeZone, parseClock, type TimeWindow } from './time-window.js';

// ---- time windows -----------------------------------------------------------------------------------

export const timeWindowSchema = z
  .strictObject({
    days: z
      .array(z.enum(WEEKDAYS))
      .min(1)
      .max(7)
      .describe('Days the window starts on (a window crossing midnight belongs to the day it starts).'),
    start: z
      .string()
      .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM (00:00–23:59)')
      .describe('Start, inclusive, local wall-clock time HH:MM.'),
    end: z
      .string()
      .regex(/^(([01]\d|2[0-3]):[0-5]\d|24:00)$/, 'must be HH:MM (00:00–24:00)')
      .describe('End, exclusive, HH:MM; earlier than start means the window crosses midnight; 24:00 = end of day.'),
    timezone: z
      .string()
      .refine(isValidTimeZone, 'must be an IANA time zone such as "Europe/Paris" or "UTC"')
      .describe('IANA time zone name, e.g. `America/New_York`.'),
  })
  .superRefine((window, ctx) => {
    if (parseClock(window.start) === parseClock(window.end)) {
      ctx.addIssue({ code: 'custom', path: ['end'], message: 'end must differ from start (use 00:00–24:00 for a whole day)' });
    }
  })
  .meta({
    id: 'TimeWindow',
    description: 'A weekly window in a time zone, e.g. weekdays 22:00–06:00 Europe/Paris.',
    examples: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '22:00', end: '06:00', timezone: 'Europe/Paris' }],
  }) satisfies z.ZodType<TimeWindow>;

// ---- conditions --------------------------------------------------------------------------------------

export const PREDICATE_OPS = [
  'equals',
  'notEquals',
  'in',
  'notIn',
  'contains',
  'startsWith',
  'endsWith',
  'matches',
  'exists',
  'gt',
  'gte',
  'lt',
  'lte',
  'before',
  'after',
] as const;
export type PredicateOp = (typeof PREDICATE_OPS)[number];

export type Scalar = string | number | boolean | null;

export interface PredicateCondition {
  field: string;
  op: PredicateOp;
  value?: Scalar | Scalar[];
  /** regex flags for `matches` (subset of `imsu`) */
  flags?: string;
  /** case-insensitive string comparison (equals, notEquals, in, notIn, contains, startsWith, endsWith, matches) */
  ignoreCase?: boolean;
}
export interface AllCondition {
  all: Condition[];
}
export interface AnyCondition {
  any: Condition[];
}
export interface NotCondition {
  not: Condition;
}
export interface TimeWindowCondition {
  timeWindow: TimeWindow;
}
export type Condition = AllCondition | AnyCondition | NotCondition | TimeWindowCondition | PredicateCondition;

const scalarSchema = z.union([z.string().max(4096), z.number(), z.boolean(), z.null()]);

function checkPredicate(predicate: PredicateCondition, ctx: z.RefinementCtx): void {
  const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
  if (!isValidPath(predicate.field)) {
    issue('field', `"${predicate.field}" is not a valid field path (use dotted paths like alert.details.host or a[0].b)`);
  } else {
    const root = pathRoot(predicate.field);
    if (!root || !(CONDITION_ROOTS as readonly string[]).includes(root)) {
      issue('field', `field must start with one of ${CONDITION_ROOTS.join(', ')} (got "${root ?? predicate.field}")`);
    }
  }
  const { op, value } = predicate;
  if (predicate.flags !== undefined && op !== 'matches') issue('flags', 'flags are only allowed with op "matches"');
  switch (op) {
    case 'exists':
      if (value !== undefined && typeof value !== 'boolean') issue('value', 'op "exists" takes no value (or true/false)');
      return;
    case 'in':
    case 'notIn':
      if (!Array.isArray(value) || value.length === 0) issue('value', `op "${op}" needs a non-empty array value`);
      return;
    case 'equals':
    case 'notEquals':
      if (value === undefined || Array.isArray(value)) issue('value', `op "${op}" needs a single value (string, number, boolean or null)`);
      return;
    case 'contains':
      if (value === undefined || value === null || Array.isArray(value)) issue('value', 'op "contains" needs a string, number or boolean value');
      return;
    case 'startsWith':
    case 'endsWith':
      if (typeof value !== 'string' || value.length === 0) issue('value', `op "${op}" needs a non-empty string value`);
      return;
    case 'matches': {
      if (typeof value !== 'string') {
        issue('value', 'op "matches" needs a regular expression string value');
        return;
      }
      // The pattern and its flags are checked by checkConditionRegexes, under the rule's regex budget.
      return;
    }
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
      if (!(typeof value === 'number' && Number.isFinite(value)) && !(typeof value === 'string' && isTimeValue(value))) {
        issue('value', `op "${op}" needs a number or a time (ISO 8601 like 2024-05-01T12:00:00Z, or now-15m)`);
      }
      return;
    case 'before':
    case 'after':
      if (typeof value !== 'string' || !isTimeValue(value)) {
        issue('value', `op "${op}" needs a time: ISO 8601 (2024-05-01T12:00:00Z) or relative (now, now-15m, now+2h)`);
      }
      return;
  }
}

export const predicateConditionSchema = z
  .strictObject({
    field: z
      .string()
      .min(1)
      .max(256)
      .describe(
        'Path into the evaluation context: incident.title, incident.urgency, incident.priority.summary, ' +
          'incident.service.id, environment.host, environment.region, alert.details.<path>, event.type, ...',
      ),
    op: z.enum(PREDICATE_OPS).describe(
      'Comparison. gt/gte/lt/lte compare numbers, or times when the value is a time; before/after compare times. ' +
        'A missing field makes every op false (exists: false).',
    ),
    value: z
      .union([scalarSchema, z.array(scalarSchema).max(1000)])
      .optional()
      .describe('Expected value: array for in/notIn, regex for matches, ISO 8601 or now±N[smhd] for times; absent for exists.'),
    flags: z.string().max(4).optional().describe('Regex flags for op "matches" (subset of i, m, s, u).'),
    ignoreCase: z.boolean().optional().describe('Compare strings case-insensitively.'),
  })
  .superRefine(checkPredicate)
  .meta({
    id: 'PredicateCondition',
    description: 'Compares one field of the evaluation context with a value.',
    examples: [{ field: 'incident.urgency', op: 'equals', value: 'high' }],
  });

export const conditionSchema: z.ZodType<Condition> = z
  .union([
    z.strictObject({
      get all(): z.ZodArray<z.ZodType<Condition>> {
        return z.array(conditionSchema).min(1).max(100).describe('Every sub-condition must hold.');
      },
    }),
    z.strictObject({
      get any(): z.ZodArray<z.ZodType<Condition>> {
        return z.array(conditionSchema).min(1).max(100).describe('At least one sub-condition must hold.');
      },
    }),
    z.strictObject({
      get not(): z.ZodType<Condition> {
        return conditionSchema;
      },
    }),
    z.strictObject({ timeWindow: timeWindowSchema }),
    predicateConditionSchema,
  ])
  .meta({
    id: 'Condition',
    description:
      'Exactly one of: {all:[...]}, {any:[...]}, {not: condition}, {timeWindow: {...}} or a predicate {field, op, value}.',
  });

const MAX_CONDITION_DEPTH = 12;
const MAX_CONDITION_NODES = 500;

export function checkConditionSize(condition: Condition | undefined, ctx: z.RefinementCtx): void {
  if (condition === undefined) return;
  let nodes = 0;
  let deepest = 0;
  const walk = (node: Condition, depth: number): void => {
    nodes++;
    deepest = Math.max(deepest, depth);
    if ('all' in node) node.all.forEach((child) => walk(child, depth + 1));
    else if ('any' in node) node.any.forEach((child) => walk(child, depth + 1));
    else if ('not' in node) walk(node.not, depth + 1);
  };
  walk(condition, 1);
  if (deepest > MAX_CONDITION_DEPTH) {
    ctx.addIssue({ code: 'custom', message: `conditions are nested ${deepest} deep; the limit is ${MAX_CONDITION_DEPTH}` });
  }
  if (nodes > MAX_CONDITION_NODES) {
    ctx.addIssue({ code: 'custom', message: `conditions have ${nodes} nodes; the limit is ${MAX_CONDITION_NODES}` });
  }
}

/**
 * Every `matches` pattern must compile on the linear-time engine (src/domain/regex.ts), within one
 * budget for the whole rule: compiling stops once it is spent, so a rule of many large patterns costs one
 * budget, not one per pattern. Runs on the raw input too (when other fields are wrong), so a 400 lists
 * every offending path at once; hence the defensive walk.
 */
export function checkConditionRegexes(condition: unknown, ctx: z.RefinementCtx): void {
  const budget = new RegexBudget();
  let visited = 0;
  const walk = (node: unknown, depth: number, path: (string | number)[]): void => {
    if (typeof node !== 'object' || node === null || depth > MAX_CONDITION_DEPTH || ++visited > MAX_CONDITION_NODES) return;
    const n = node as Record<string, unknown>;
    for (const key of ['all', 'any'] as const) {
      const children = n[key];
      if (Array.isArray(children)) children.forEach((child, i) => walk(child, depth + 1, [...path, key, i]));
    }
    if ('not' in n) walk(n.not, depth + 1, [...path, 'not']);
    if (n.op === 'matches' && typeof n.value === 'string') {
      const flags = (typeof n.flags === 'string' ? n.flags : '') + (n.ignoreCase === true && !(typeof n.flags === 'string' && n.flags.includes('i')) ? 'i' : '');
      const check = budget.check(n.value, flags);
      if (!check.ok) ctx.addIssue({ code: 'custom', path: [...path, check.reason.startsWith('flag') || check.reason.startsWith('duplicate flags') ? 'flags' : 'value'], message: check.reason });
    }
  };
  walk(condition, 1, []);
}

