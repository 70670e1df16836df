/**
 * The rule model: what SREs POST (`ruleInputSchema`) and what is stored (`ruleSchema`).
 *
 * These zod schemas validate request bodies and generate the OpenAPI document, so every field carries a
 * description. Validation is strict (unknown keys are errors: a typo like `stopOnMatches` must not be
 * silently ignored), regular expressions must compile on the linear-time engine (src/domain/regex.ts), and templates may only
 * reference known roots. Secrets are never values: only references (`env:NAME`, `file:/path`).
 *
 * Pure: no I/O, safe inside Temporal workflow code.
 */
import { z } from 'zod';
import { isValidPath, pathRoot } from '../json-path.js';
import { metadataAddressReason } from '../metadata-address.js';
import { deniedEnvName } from '../script-env.js';
import { validateTemplate } from '../template.js';
import { RegexBudget } from '../regex.js';
import { NOTIFY_ONLY_TYPES } from '../policies.js';
import { parseDuration } from '../guards.js';
import { WEEKDAYS, isTimeValue, isValidTimeZone, parseClock, type TimeWindow } from './time-window.js';

// ---- building blocks ------------------------------------------------------------------------------

export const SLUG_PATTERN = /^[a-z0-9][a-z0-9._-]*$/;
export const SECRET_REF_PATTERN = /^(?:env:[A-Za-z_][A-Za-z0-9_]*|file:\/[^\0\s]*[^\0\s/])$/;
const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SCRIPT_PATTERN = /^(?!.*(?:^|\/)\.\.(?:\/|$))[A-Za-z0-9_][A-Za-z0-9._/-]*$/;
const PAGERDUTY_ID_PATTERN = /^[A-Za-z0-9]{1,32}$/;

/** Roots a condition `field` may address. */
export const CONDITION_ROOTS = ['incident', 'environment', 'alert', 'alerts', 'event'] as const;

/** PagerDuty V3 webhook incident event types a rule can react to (`*` = any). */
export const EVENT_TYPES = [
  'incident.triggered',
  'incident.acknowledged',
  'incident.unacknowledged',
  'incident.resolved',
  'incident.reopened',
  'incident.escalated',
  'incident.reassigned',
  'incident.delegated',
  'incident.priority_updated',
  'incident.annotated',
  'incident.responder.added',
  'incident.responder.replied',
  'incident.status_update_published',
  'incident.service_updated',
  'incident.conference_bridge.updated',
  'incident.workflow.started',
  'incident.workflow.completed',
] as const;

const slug = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(SLUG_PATTERN, 'must be lowercase letters, digits, ".", "_" or "-", starting with a letter or digit');

export const secretRefSchema = z
  .string()
  .max(512)
  .regex(SECRET_REF_PATTERN, 'must be a secret reference: "env:NAME" or "file:/absolute/path" (never the secret itself)')
  .meta({
    id: 'SecretRef',
    description:
      'Reference to a secret resolved by the worker at run time: `env:NAME` or `file:/absolute/path`, inside the ' +
      'prefixes and directories the operator allows (SECRET_REF_ENV_PREFIXES, default SELFHEAL_SECRET_; SECRET_REF_DIRS, ' +
      'default /run/secrets and /etc/selfheal/secrets).',
    examples: ['env:SELFHEAL_SECRET_SLACK_WEBHOOK_OPS', 'file:/run/secrets/webhook-hmac'],
  });

/** A string that may contain `{{ path }}` placeholders (see src/domain/template.ts). */
const templated = (max: number, description: string, min = 0) =>
  z
    .string()
    .min(min)
    .max(max)
    .superRefine((value, ctx) => {
      for (const problem of validateTemplate(value)) ctx.addIssue({ code: 'custom', message: problem.message });
    })
    .describe(`${description} May contain {{ path }} placeholders (e.g. {{ incident.title }}), rendered as plain data.`);

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

function checkConditionSize(condition: Condition | undefined, ctx: z.RefinementCtx): void {
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
function checkConditionRegexes(condition: unknown, ctx: z.RefinementCtx): void {
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

// ---- actions -----------------------------------------------------------------------------------------

export const retrySchema = z
  .strictObject({
    maximumAttempts: z.number().int().min(1).max(100).describe('Attempts in total, including the first (1 = no retry).'),
    initialIntervalSeconds: z.number().min(0.1).max(3600).default(1).describe('Delay before the first retry.'),
    backoffCoefficient: z.number().min(1).max(10).default(2).describe('Multiplier applied to the delay after each retry.'),
  })
  .meta({ id: 'RetryPolicy', description: 'Retry policy of the action (Temporal activity retry).' });

export const approvalSchema = z
  .strictObject({
    required: z.literal(true).describe('The action waits for a human approval before it runs.'),
    timeoutMinutes: z.number().int().min(1).max(10080).default(60).describe('How long to wait for a decision.'),
    onTimeout: z.enum(['approve', 'reject']).default('reject').describe('Decision taken when nobody answered in time.'),
  })
  .meta({ id: 'Approval', description: 'Human approval gate before the action runs.' });

const actionCommon = {
  id: slug(64)
    .optional()
    .describe('Identifier of the action within the rule (used in results.<id>); defaults to a<index>, e.g. a0.'),
  when: z
    .enum(['success', 'failure', 'always'])
    .default('success')
    .describe('Run when every earlier action succeeded (success), when one failed (failure), or always.'),
  timeoutSeconds: z.number().int().min(1).max(86400).optional().describe('Timeout of one attempt.'),
  retry: retrySchema.optional(),
  approval: approvalSchema.optional(),
};

const scriptArgs = z
  .array(templated(4096, 'One argv element.'))
  .max(64)
  .default([])
  .describe('Arguments passed as argv (one element each, never through a shell, no word splitting).');
const scriptEnvironment = z
  .record(z.string().regex(ENV_NAME_PATTERN, 'must be an environment variable name').max(128), templated(4096, 'Value.'))
  // trust-runs (issue 19): names that change how code is loaded are refused (src/domain/script-env.ts).
  .superRefine((env, ctx) => {
    for (const name of Object.keys(env)) {
      const denied = deniedEnvName(name);
      if (denied) ctx.addIssue({ code: 'custom', path: [name], message: denied });
    }
  })
  .optional()
  .describe('Extra environment variables for the script, on the Doctor agent and over SSH (values are data; use secret references for secrets). PATH, LD_*, BASH_ENV, ENV, NODE_OPTIONS and the like are refused.');
const scriptName = z
  .string()
  .min(1)
  .max(256)
  .regex(SCRIPT_PATTERN, 'must be a relative script path without ".." (letters, digits, ".", "_", "-", "/")');
const idempotent = z
  .boolean()
  .default(false)
  .describe('The script is safe to run twice; only idempotent scripts may be retried (retry.maximumAttempts > 1).');

function checkScriptRetry(action: { idempotent: boolean; retry?: { maximumAttempts: number } }, ctx: z.RefinementCtx): void {
  if (!action.idempotent && action.retry && action.retry.maximumAttempts > 1) {
    ctx.addIssue({
      code: 'custom',
      path: ['retry', 'maximumAttempts'],
      message: 'a script that is not idempotent must not be retried: set idempotent: true or maximumAttempts: 1',
    });
  }
}

export const scriptAgentActionSchema = z
  .strictObject({
    type: z.literal('script.agent'),
    ...actionCommon,
    script: scriptName.describe('Script from the Doctor agent script library of the target environment.'),
    args: scriptArgs,
    environment: scriptEnvironment,
    idempotent,
  })
  .superRefine(checkScriptRetry)
  .meta({ id: 'ScriptAgentAction', description: 'Runs a script on the Doctor agent of the incident environment.' });

export const scriptSshActionSchema = z
  .strictObject({
    type: z.literal('script.ssh'),
    ...actionCommon,
    script: scriptName.optional().describe('Script from the management VM script library (exactly one of script, command).'),
    command: z
      .string()
      .min(1)
      .max(4096)
      .optional()
      .describe(
        'Fixed command line run by sh -c on the management VM (never templated; exactly one of script, command). ' +
          'Arbitrary shell: only an admin token may save a rule with one, and it must carry approval ' +
          '{required: true, onTimeout: reject}, so a human other than the author approves every run.',
      ),
    args: scriptArgs,
    environment: scriptEnvironment,
    idempotent,
  })
  .superRefine((action, ctx) => {
    if ((action.script === undefined) === (action.command === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['script'], message: 'exactly one of script or command is required' });
    }
    if (action.command !== undefined) {
      if (action.approval === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['approval'],
          message: 'a command action runs arbitrary shell: it must carry approval: {required: true, onTimeout: reject}',
        });
      } else if (action.approval.onTimeout !== 'reject') {
        ctx.addIssue({ code: 'custom', path: ['approval', 'onTimeout'], message: 'a command action must be rejected when nobody approves in time: onTimeout must be "reject"' });
      }
    }
    checkScriptRetry(action, ctx);
  })
  .meta({ id: 'ScriptSshAction', description: "Runs a script over SSH on the environment's management VM." });

export const workItemActionSchema = z
  .strictObject({
    type: z.literal('workitem'),
    ...actionCommon,
    provider: z.enum(['ewm', 'jira', 'github']).describe('Tracker: IBM EWM/RTC, Jira or GitHub issues.'),
    project: z.string().min(1).max(200).optional().describe('EWM project area or Jira project key (ewm, jira).'),
    repo: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, 'must be owner/name')
      .optional()
      .describe('GitHub repository owner/name (github).'),
    title: templated(500, 'Work item title.', 1),
    description: templated(20000, 'Work item description.').default(''),
    itemType: z
      .string()
      .min(1)
      .max(100)
      .optional()
      .describe('Work item type (e.g. Defect, Task, Bug); named itemType because `type` selects the action.'),
    filedAgainst: z.string().min(1).max(300).optional().describe('EWM category (Filed Against).'),
  })
  .superRefine((action, ctx) => {
    if (action.provider === 'github') {
      if (action.repo === undefined) ctx.addIssue({ code: 'custom', path: ['repo'], message: 'repo is required for github' });
      if (action.project !== undefined) ctx.addIssue({ code: 'custom', path: ['project'], message: 'use repo, not project, for github' });
    } else if (action.project === undefined) {
      ctx.addIssue({ code: 'custom', path: ['project'], message: `project is required for ${action.provider}` });
    }
    if (action.filedAgainst !== undefined && action.provider !== 'ewm') {
      ctx.addIssue({ code: 'custom', path: ['filedAgainst'], message: 'filedAgainst applies to ewm only' });
    }
  })
  .meta({ id: 'WorkItemAction', description: 'Opens a work item (IBM EWM/RTC, Jira or GitHub).' });

export const slackActionSchema = z
  .strictObject({
    type: z.literal('notify.slack'),
    ...actionCommon,
    webhookUrlRef: secretRefSchema.describe('Secret reference holding the Slack incoming-webhook URL.'),
    text: templated(4000, 'Message text.', 1),
  })
  .meta({ id: 'SlackAction', description: 'Posts a message to Slack through an incoming webhook.' });

export const emailActionSchema = z
  .strictObject({
    type: z.literal('notify.email'),
    ...actionCommon,
    to: z.array(z.email()).min(1).max(50).describe('Recipients.'),
    subject: templated(500, 'Subject.', 1),
    body: templated(50000, 'Plain-text body.'),
  })
  .meta({ id: 'EmailAction', description: 'Sends an email.' });

export const webhookActionSchema = z
  .strictObject({
    type: z.literal('notify.webhook'),
    ...actionCommon,
    url: z
      .url({ protocol: /^https?$/ })
      .max(2048)
      .superRefine((value, ctx) => {
        if (!URL.canParse(value)) return; // z.url() has said so already
        const reason = metadataAddressReason(new URL(value).hostname);
        if (reason) ctx.addIssue({ code: 'custom', message: `must not point at ${reason}: the worker never connects there` });
      })
      .describe('Target URL (http or https; not templated). Cloud metadata and unspecified addresses are refused when saved; the worker refuses every non-public address unless ACTION_EGRESS_ALLOW names it.'),
    secretRef: secretRefSchema.optional().describe('Secret reference for the HMAC-SHA256 signature header.'),
    body: templated(50000, 'Request body; defaults to a JSON summary of the incident and rule.').optional(),
  })
  .meta({ id: 'WebhookAction', description: 'POSTs to an HTTP endpoint.' });

export const pagerDutyNoteActionSchema = z
  .strictObject({
    type: z.literal('pagerduty.note'),
    ...actionCommon,
    content: templated(25000, 'Note content.', 1),
  })
  .meta({ id: 'PagerDutyNoteAction', description: 'Adds a note to the PagerDuty incident.' });

export const pagerDutyAcknowledgeActionSchema = z
  .strictObject({ type: z.literal('pagerduty.acknowledge'), ...actionCommon })
  .meta({ id: 'PagerDutyAcknowledgeAction', description: 'Acknowledges the PagerDuty incident.' });

export const pagerDutyResolveActionSchema = z
  .strictObject({
    type: z.literal('pagerduty.resolve'),
    ...actionCommon,
    resolution: templated(25000, 'Resolution note.').optional(),
  })
  .meta({ id: 'PagerDutyResolveAction', description: 'Resolves the PagerDuty incident.' });

export const pagerDutyPriorityActionSchema = z
  .strictObject({
    type: z.literal('pagerduty.priority'),
    ...actionCommon,
    priorityId: z.string().regex(PAGERDUTY_ID_PATTERN, 'must be a PagerDuty priority id').describe('PagerDuty priority id.'),
  })
  .meta({ id: 'PagerDutyPriorityAction', description: 'Sets the priority of the PagerDuty incident.' });

export const pagerDutyEscalateActionSchema = z
  .strictObject({
    type: z.literal('pagerduty.escalate'),
    ...actionCommon,
    level: z.number().int().min(1).max(20).describe('Escalation level of the escalation policy.'),
  })
  .meta({ id: 'PagerDutyEscalateAction', description: 'Escalates the PagerDuty incident to a level.' });

export const actionSchema = z
  .discriminatedUnion('type', [
    scriptAgentActionSchema,
    scriptSshActionSchema,
    workItemActionSchema,
    slackActionSchema,
    emailActionSchema,
    webhookActionSchema,
    pagerDutyNoteActionSchema,
    pagerDutyAcknowledgeActionSchema,
    pagerDutyResolveActionSchema,
    pagerDutyPriorityActionSchema,
    pagerDutyEscalateActionSchema,
  ])
  .meta({ id: 'Action', description: 'One step of a rule, chosen by type.' });

/** A parsed action; `id` is always set after parsing a rule (defaults to `a<index>`). */
export type Action = z.output<typeof actionSchema> & { id: string };
export type ActionInput = z.input<typeof actionSchema>;
export type ActionType = Action['type'];

const actionsSchema = z
  .array(actionSchema)
  .min(1)
  .max(20)
  .overwrite((actions) => actions.map((action, index) => ({ ...action, id: action.id ?? `a${index}` })))
  .superRefine((actions, ctx) => {
    const seen = new Set<string>();
    actions.forEach((action, index) => {
      const id = action.id ?? `a${index}`;
      if (seen.has(id)) ctx.addIssue({ code: 'custom', path: [index, 'id'], message: `duplicate action id "${id}"` });
      seen.add(id);
    });
  })
  .describe('Actions run in order (1 to 20).') as unknown as z.ZodType<Action[], ActionInput[]>;

// ---- policies ----------------------------------------------------------------------------------------

export const policiesSchema = z
  .strictObject({
    rateLimit: z
      .strictObject({
        max: z.number().int().min(1).max(10000).describe('Runs allowed per window.'),
        windowSeconds: z.number().int().min(1).max(604800).describe('Window length.'),
      })
      .optional()
      .describe('At most `max` runs of this rule per sliding window.'),
    cooldownSeconds: z.number().int().min(0).max(604800).optional().describe('Minimum delay between runs on the same target host.'),
    concurrencyPerTarget: z.number().int().min(1).max(100).optional().describe('Concurrent runs allowed per target host.'),
    circuitBreaker: z
      .strictObject({
        failureThreshold: z.number().int().min(1).max(100).describe('Consecutive failed runs that open the breaker.'),
        resetSeconds: z.number().int().min(1).max(604800).default(3600).describe('Time before a half-open retry.'),
      })
      .optional()
      .describe('Stops running the rule after consecutive failures.'),
    maintenanceWindows: z.array(timeWindowSchema).max(20).optional().describe('The rule does not run inside these windows.'),
    cancelOnResolve: z.boolean().default(true).describe('Cancel pending actions when the incident resolves.'),
    // trust-runs (issue 19): what cooldown and concurrency do when no host or environment was extracted.
    unknownTarget: z
      .enum(['skip', 'run'])
      .optional()
      .describe('With cooldownSeconds or concurrencyPerTarget set and no host or environment extracted: skip the run and say why (default), or run it without those limits.'),
  })
  .meta({ id: 'Policies', description: 'Safety policies applied when the rule runs.' });

export type Policies = z.output<typeof policiesSchema>;

// ---- verification and guards (issue 22) ----------------------------------------------------------------

/** A duration such as `30s`, `10m`, `2h` between `min` and `max` seconds. */
const duration = (min: number, max: number, description: string) =>
  z
    .string()
    .max(16)
    .superRefine((value, ctx) => {
      const seconds = parseDuration(value);
      if (seconds === undefined) ctx.addIssue({ code: 'custom', message: 'must be a duration such as 30s, 10m or 2h' });
      else if (seconds < min || seconds > max) ctx.addIssue({ code: 'custom', message: `must be between ${min} s and ${max} s` });
    })
    .describe(description);

const onUnverifiedTypes = [...NOTIFY_ONLY_TYPES].sort();

export const verifySchema = z
  .strictObject({
    within: duration(1, 86400, 'How long after the actions succeed the incident has to resolve (or the check pass), e.g. 10m; 1 s to 24 h.'),
    settle: duration(1, 3600, 'Delay before each run of the check (and between runs); default a tenth of within, 1 s to 60 s.').optional(),
    check: z
      .discriminatedUnion('type', [scriptAgentActionSchema, scriptSshActionSchema])
      .optional()
      .describe('A script.agent or script.ssh script whose exit code 0 means healthy; run after each settle delay until within passes.'),
    onUnverified: z
      .array(actionSchema)
      .max(10)
      .default([])
      .describe(`Run once when the remediation is unverified: only ${onUnverifiedTypes.join(', ')} (no remediation loops).`),
  })
  .superRefine((verify, ctx) => {
    const within = parseDuration(verify.within);
    const settle = verify.settle !== undefined ? parseDuration(verify.settle) : undefined;
    if (within !== undefined && settle !== undefined && settle > within) ctx.addIssue({ code: 'custom', path: ['settle'], message: 'settle must not be longer than within' });
    if (verify.check) {
      if (verify.check.type === 'script.ssh' && verify.check.command !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['check', 'command'], message: 'a check runs a script from the library, never a command' });
      }
      if (verify.check.approval) ctx.addIssue({ code: 'custom', path: ['check', 'approval'], message: 'a check runs unattended: it takes no approval' });
    }
    const seen = new Set<string>();
    verify.onUnverified.forEach((action, index) => {
      if (!NOTIFY_ONLY_TYPES.has(action.type)) {
        ctx.addIssue({ code: 'custom', path: ['onUnverified', index, 'type'], message: `onUnverified may only notify, page or open a work item (${onUnverifiedTypes.join(', ')}), not ${action.type}` });
      }
      if (action.approval) ctx.addIssue({ code: 'custom', path: ['onUnverified', index, 'approval'], message: 'onUnverified actions take no approval' });
      const id = action.id ?? `u${index}`;
      if (seen.has(id)) ctx.addIssue({ code: 'custom', path: ['onUnverified', index, 'id'], message: `duplicate action id "${id}"` });
      seen.add(id);
    });
  })
  .meta({
    id: 'Verify',
    description: 'Prove the remediation worked: after the actions succeed, wait for the incident to resolve or a check to pass; otherwise run onUnverified once and count a failure for the circuit breaker.',
    examples: [{ within: '10m', settle: '1m', check: { type: 'script.agent', script: 'disk/check.sh' }, onUnverified: [{ type: 'pagerduty.escalate', level: 2 }] }],
  });

export type Verify = z.output<typeof verifySchema>;

export const ruleGuardsSchema = z
  .strictObject({
    maxTargets: z.number().int().min(1).max(100000).optional().describe('At most this many distinct targets remediated by this rule within window; crossing it pauses automation fleet-wide.'),
    maxTargetPercent: z.number().min(0.1).max(100).optional().describe("At most this share (%) of an environment's known hosts remediated by this rule within window; crossing it pauses the environment."),
    window: duration(1, 604800, 'Sliding window of maxTargets and maxTargetPercent (default SELFHEAL_GUARD_WINDOW).').optional(),
    flapping: z
      .strictObject({
        max: z.number().int().min(1).max(1000).describe('Remediations of one target by any rule within window that make it flapping.'),
        window: duration(1, 604800, 'Window of the flapping count.'),
      })
      .optional()
      .describe('Overrides SELFHEAL_FLAPPING_MAX / SELFHEAL_FLAPPING_WINDOW for this rule.'),
  })
  .meta({ id: 'RuleGuards', description: "This rule's own blast-radius limits, on top of the operator's (SELFHEAL_GUARD_*)." });

// ---- rules -------------------------------------------------------------------------------------------

const serviceIdSchema = z
  .string()
  .regex(/^(\*|[A-Za-z0-9]{1,32})$/, 'must be a PagerDuty service id (e.g. PA2P440) or "*"');

function starAlone(list: readonly string[], ctx: z.RefinementCtx): void {
  if (list.includes('*') && list.length > 1) ctx.addIssue({ code: 'custom', message: '"*" must be the only entry' });
  if (new Set(list).size !== list.length) ctx.addIssue({ code: 'custom', message: 'entries must be unique' });
}

export const ruleInputSchema = z
  .strictObject({
    name: slug(200).describe('Unique rule name (slug).'),
    description: z.string().max(4000).default('').describe('What the rule is for.'),
    enabled: z.boolean().default(true).describe('Disabled rules are never matched.'),
    services: z
      .array(serviceIdSchema)
      .min(1)
      .max(1000)
      .superRefine(starAlone)
      .default(['*'])
      .describe('PagerDuty service ids the rule applies to, or ["*"] for all services.'),
    eventTypes: z
      .array(z.enum(['*', ...EVENT_TYPES] as const))
      .min(1)
      .max(EVENT_TYPES.length)
      .superRefine(starAlone)
      .default(['incident.triggered'])
      .describe('PagerDuty webhook event types the rule reacts to, or ["*"].'),
    priority: z.number().int().min(0).max(1_000_000).default(100).describe('Lower runs first.'),
    stopOnMatch: z.boolean().default(false).describe('When this rule matches, lower-priority rules are not evaluated.'),
    conditions: conditionSchema
      .optional()
      .superRefine(checkConditionSize)
      .superRefine(checkConditionRegexes, { when: () => true })
      .describe('Absent = always matches.'),
    actions: actionsSchema,
    policies: policiesSchema.prefault({}),
    verify: verifySchema.optional(),
    guards: ruleGuardsSchema.optional(),
    dryRun: z.boolean().default(false).describe('Match and record what would run, without running actions.'),
  })
  .meta({
    id: 'RuleInput',
    description: 'A remediation rule as submitted by an SRE.',
    examples: [
      {
        name: 'disk-full-cleanup',
        services: ['PA2P440'],
        conditions: {
          all: [
            { field: 'incident.urgency', op: 'equals', value: 'high' },
            { field: 'incident.title', op: 'matches', value: '^Disk (full|usage above \\d+%)', flags: 'i' },
          ],
        },
        actions: [
          { type: 'script.agent', script: 'disk/cleanup.sh', args: ['{{ environment.host }}'], idempotent: true },
          { type: 'pagerduty.note', content: 'Cleanup ran on {{ environment.host }}' },
        ],
      },
    ],
  });

export const ruleSchema = ruleInputSchema
  .extend({
    id: z.string().min(1).max(64).describe('Rule id.'),
    version: z.number().int().min(1).describe('Version, incremented on every update; matches record the version used.'),
  })
  .meta({ id: 'Rule', description: 'A stored rule: the submitted rule plus id and version.' });

/** The body SREs send (defaults not yet applied). */
export type RuleInputDocument = z.input<typeof ruleInputSchema>;
/** A validated rule body, defaults applied. */
export type RuleInput = z.output<typeof ruleInputSchema>;
/** A stored rule. */
export type Rule = z.output<typeof ruleSchema>;

// ---- friendlier issues -------------------------------------------------------------------------------

export interface RuleIssue {
  /** dotted path, e.g. `conditions.all.1.value`, `actions.0.script` ('' for the root) */
  path: string;
  message: string;
}

const CONDITION_KEYS = ['all', 'any', 'not', 'timeWindow', 'field'] as const;

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let current = input;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

function flatten(issues: readonly z.core.$ZodIssue[], input: unknown, prefix: PropertyKey[], out: RuleIssue[]): void {
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'invalid_union' && issue.errors.length === CONDITION_KEYS.length) {
      // The condition union: pick the branch named by the key the object carries, so the caller sees
      // `conditions.all.1.value` rather than "invalid input" at `conditions`.
      const node = valueAt(input, path);
      if (node !== null && typeof node === 'object' && !Array.isArray(node)) {
        const present = CONDITION_KEYS.filter((key) => key in node);
        const branch = present.length === 1 ? issue.errors[CONDITION_KEYS.indexOf(present[0] as (typeof CONDITION_KEYS)[number])] : undefined;
        if (branch) {
          flatten(branch, input, path, out);
        } else {
          out.push({ path: path.map(String).join('.'), message: 'a condition needs exactly one of: all, any, not, timeWindow, field' });
        }
        continue;
      }
      out.push({ path: path.map(String).join('.'), message: 'a condition must be an object' });
      continue;
    }
    if (issue.code === 'unrecognized_keys') {
      // One issue per unknown field, at the field's own path (`actions.0.agentTaskQueue`), so a typo or a
      // field a rule may not set is named where it is.
      for (const key of issue.keys) out.push({ path: [...path, key].map(String).join('.'), message: `unknown field "${key}"` });
      continue;
    }
    out.push({ path: path.map(String).join('.'), message: issue.message });
  }
}

/**
 * Issues of a failed parse as `{ path, message }`, resolving the condition union to the branch the
 * object selects (zod alone reports only "invalid input" at the union). `input` is the parsed value.
 */
export function ruleIssues(error: z.ZodError, input: unknown): RuleIssue[] {
  const out: RuleIssue[] = [];
  flatten(error.issues, input, [], out);
  return out;
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; issues: RuleIssue[] };

/** Validates a rule body; issues carry precise dotted paths. */
export function parseRuleInput(input: unknown): ParseResult<RuleInput> {
  const result = ruleInputSchema.safeParse(input);
  return result.success ? { ok: true, value: result.data } : { ok: false, issues: ruleIssues(result.error, input) };
}

/** Validates a stored rule (e.g. a row read back from the database). */
export function parseRule(input: unknown): ParseResult<Rule> {
  const result = ruleSchema.safeParse(input);
  return result.success ? { ok: true, value: result.data } : { ok: false, issues: ruleIssues(result.error, input) };
}

// ---- authority -----------------------------------------------------------------------------------------

/** Dotted paths of the actions that run arbitrary shell (`script.ssh` with `command`): admin-only. */
export function commandActionPaths(rule: { actions: readonly unknown[] }): string[] {
  return rule.actions.flatMap((action, index) => {
    const a = action as { type?: unknown; command?: unknown };
    return a.type === 'script.ssh' && a.command !== undefined ? [`actions.${index}.command`] : [];
  });
}

/** Every secret reference a rule carries, with its dotted path (checked against the operator's policy on save). */
export function ruleSecretRefs(rule: { actions: readonly unknown[] }): { path: string; ref: string }[] {
  return rule.actions.flatMap((action, index) => {
    const a = action as Record<string, unknown>;
    return (['secretRef', 'webhookUrlRef'] as const).flatMap((key) => (typeof a[key] === 'string' ? [{ path: `actions.${index}.${key}`, ref: a[key] }] : []));
  });
}
