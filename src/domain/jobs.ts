// Scheduled jobs: the definition an SRE submits, and the pure parts of turning it into a Temporal
// Schedule spec (interval and cron parsing with clear messages). No I/O; usable from API and workflows.
import { z } from 'zod';
import { secretRefSchema, SLUG_PATTERN } from './rules/schema.js';
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

// ---- cron -----------------------------------------------------------------------------------------

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

interface CronField {
  name: string;
  min: number;
  max: number;
  names?: string[];
  /** Value of names[0] (1 for months, 0 for days). */
  nameBase?: number;
}

const CRON_FIELDS: CronField[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS, nameBase: 1 },
  // 7 is Sunday too, as in most crons.
  { name: 'day of week', min: 0, max: 7, names: DAYS, nameBase: 0 },
];

const CRON_SHORTHANDS = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']);

function cronValue(raw: string, f: CronField): number | string {
  const lower = raw.toLowerCase();
  if (f.names) {
    const i = f.names.indexOf(lower);
    if (i >= 0) return i + (f.nameBase ?? 0);
  }
  if (!/^\d+$/.test(raw)) {
    return f.names
      ? `"${raw}" is not a number or a name (${f.names.map((n) => n.toUpperCase()).join(', ')})`
      : `"${raw}" is not a number`;
  }
  const n = Number(raw);
  if (n < f.min || n > f.max) return `${n} is out of range ${f.min}-${f.max}`;
  return n;
}

function checkCronField(text: string, f: CronField): string | undefined {
  if (text === '') return 'is empty';
  for (const item of text.split(',')) {
    if (item === '') return 'has an empty list item (stray ",")';
    const [range, step, extra] = item.split('/');
    if (extra !== undefined) return `"${item}" has more than one "/"`;
    if (step !== undefined) {
      if (!/^\d+$/.test(step) || Number(step) === 0) return `step "${step}" in "${item}" must be a positive whole number`;
      if (Number(step) > f.max - f.min + 1) return `step ${step} in "${item}" is larger than the range ${f.min}-${f.max}`;
    }
    if (range === '*' || range === '?') continue;
    const bounds = range!.split('-');
    if (bounds.length > 2) return `"${range}" is not a value or a range a-b`;
    const values: number[] = [];
    for (const b of bounds) {
      const v = cronValue(b, f);
      if (typeof v === 'string') return v;
      values.push(v);
    }
    if (values.length === 2 && values[0]! > values[1]!) return `range "${range}" runs backwards (${values[0]} > ${values[1]})`;
  }
  return undefined;
}

/**
 * Validates a 5-field cron expression (minute hour day-of-month month day-of-week) with `*`, lists,
 * ranges, steps and month/day names, or a shorthand such as `@daily`. Returns a message naming the
 * offending field, or undefined when valid. Temporal's own parser re-checks it on schedule creation.
 */
export function validateCron(expression: string): string | undefined {
  const expr = expression.trim();
  if (expr.startsWith('@')) {
    if (CRON_SHORTHANDS.has(expr.toLowerCase())) return undefined;
    if (/^@every\b/i.test(expr)) return 'use "interval" for @every schedules';
    return `cron shorthand "${expr}" is not known (use @yearly, @monthly, @weekly, @daily or @hourly)`;
  }
  if (/^(CRON_)?TZ=/i.test(expr)) return 'put the time zone in "timezone", not in the cron expression';
  const fields = expr.split(/\s+/);
  if (fields.length !== 5) {
    return `cron expression "${expr}" has ${fields.length} field${fields.length === 1 ? '' : 's'}; expected 5: minute hour day-of-month month day-of-week`;
  }
  for (let i = 0; i < 5; i++) {
    const f = CRON_FIELDS[i]!;
    const problem = checkCronField(fields[i]!, f);
    if (problem) return `cron field ${i + 1} (${f.name}) "${fields[i]}": ${problem}`;
  }
  return undefined;
}

// ---- job definition -------------------------------------------------------------------------------

export const OVERLAP_POLICIES = ['skip', 'buffer_one', 'cancel_other', 'allow_all'] as const;
export type OverlapPolicy = (typeof OVERLAP_POLICIES)[number];

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
      .describe('Run every N: "30m", "1h", "every 1h offset 15m".'),
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
      .refine(isValidTimeZone, 'must be an IANA time zone such as "Europe/Paris" or "UTC"'),
    overlap: z.enum(OVERLAP_POLICIES).default('skip').describe('What happens when a run is due while the previous one still runs.'),
    catchupWindow: duration('catchupWindow', 10_000).default('10m').describe('Runs missed (Temporal down) by less than this are still taken.'),
  })
  .superRefine((s, ctx) => {
    const n = Number(s.interval !== undefined) + Number(s.cron !== undefined);
    if (n !== 1) ctx.addIssue({ code: 'custom', message: 'give exactly one of "interval" or "cron"' });
  });

export const jobTargetsSchema = z.union([
  z.strictObject({ environments: z.array(slug(63)).min(1).max(500) }),
  z.strictObject({ selector: z.record(z.string().min(1).max(63), z.string().max(256)).refine((r) => Object.keys(r).length > 0, 'give at least one label') }),
  z.strictObject({ all: z.literal(true) }),
]);

export const SCRIPT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export const jobDefinitionSchema = z
  .strictObject({
    id: slug(63).optional().describe('Stable id; defaults to the name turned into a slug.'),
    name: z.string().min(1).max(200),
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
    dryRun: z.boolean().default(false).describe('Pass --dry-run to the script: report what would change, change nothing.'),
  });

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
    .slice(0, 63);
}

/** The script arguments a run passes, `--dry-run` appended for dry-run jobs. */
export function jobScriptArgs(job: Pick<JobDefinition, 'args' | 'dryRun'>): string[] {
  return job.dryRun && !job.args.includes('--dry-run') ? [...job.args, '--dry-run'] : [...job.args];
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
