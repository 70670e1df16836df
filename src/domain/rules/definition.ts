/**
 * The rule itself: its safety policies, the submitted (`ruleInputSchema`) and stored (`ruleSchema`) shapes,
 * parsing with issues at precise dotted paths, and what a rule asks for that needs authority (shell
 * commands, secret references).
 *
 * Pure: no I/O, safe inside Temporal workflow code.
 */
import { z } from '../zod.js';
import { MAX_VERIFY_PASSES } from '../../contracts/plan.js';
import { parseDuration } from '../guards.js';
import { actionSchema, actionsSchema, scriptAgentActionSchema, scriptSshActionSchema } from './actions.js';
import { NOTIFY_ONLY_TYPES } from './action-kinds.js';
import { checkConditionRegexes, checkConditionSize, conditionSchema, timeWindowSchema } from './conditions.js';
import { TEAM_NAME_PATTERN, TEAM_NAME_RULE } from '../teams.js';
import { EVENT_TYPES, slug } from './fields.js';

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

export { MAX_VERIFY_PASSES };

export const verifySchema = z
  .strictObject({
    within: duration(1, 86400, 'How long after the actions succeed the incident has to resolve (or the check pass), e.g. 10m; 1 s to 24 h.'),
    settle: duration(1, 3600, `Delay before each run of the check (and between runs); default a tenth of within, 1 s to 60 s; at least within / ${MAX_VERIFY_PASSES} (at most ${MAX_VERIFY_PASSES} checks).`).optional(),
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
    if (within !== undefined && settle !== undefined && settle > 0 && Math.ceil(within / settle) > MAX_VERIFY_PASSES) {
      ctx.addIssue({
        code: 'custom',
        path: ['settle'],
        message: `at most ${MAX_VERIFY_PASSES} checks per verification: settle must be at least within / ${MAX_VERIFY_PASSES} (${Math.ceil(within / MAX_VERIFY_PASSES)} s for ${verify.within})`,
      });
    }
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

/** The owning team of a rule, environment or job (issue 24); left out → `default` on create, unchanged on update. */
export const teamFieldSchema = z
  .string()
  .regex(TEAM_NAME_PATTERN, TEAM_NAME_RULE)
  .optional()
  .describe('The owning team (default: "default" when created, unchanged when replaced). Moving to another team needs the admin role in both.');

export const ruleInputSchema = z
  .strictObject({
    name: slug(200).describe('Unique rule name (slug).'),
    team: teamFieldSchema,
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
    stopOnMatch: z.boolean().default(false).describe("When this rule matches, lower-priority rules of its team are not evaluated (other teams' rules still are)."),
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
  if (!result.success) return { ok: false, issues: ruleIssues(result.error, input) };
  const across = ruleCrossFieldIssues(result.data);
  return across.length === 0 ? { ok: true, value: result.data } : { ok: false, issues: across };
}

/**
 * What no single field's schema can see (kept out of the schema itself, so the stored-rule schema can
 * still extend it). A rule that resolves the incident itself cannot verify by the incident resolving:
 * that resolve is its own doing (the run treats it so too, workflows/verify.ts), so only a check can.
 * Request schemas that take a rule whole (a test, a backtest) ask it too: they must refuse what a save does.
 */
export function ruleCrossFieldIssues(rule: RuleInput): RuleIssue[] {
  const issues: RuleIssue[] = [];
  // The verification's runs are keyed beside the actions' (`<incident>:<rule>:<id>:<event>`): its check's as
  // `verify-check-<n>`, its onUnverified actions' as `unverified-<id>`. A main action holding one of those ids
  // took that run's key, and the page sent when a remediation is unverified found the main action's finished
  // run as its own and was never sent.
  rule.actions.forEach((a, index) => {
    const id = a.id ?? `a${index}`;
    if (id.startsWith('unverified-') || /^verify-check-\d+$/.test(id)) {
      issues.push({ path: `actions.${index}.id`, message: `"${id}" is kept for the verification's own runs (unverified-…, verify-check-<n>): name the action otherwise` });
    }
  });
  // onUnverified actions all run, once each, when the remediation is unverified (workflows/verify.ts reads no
  // `when` of theirs): `when: failure` there was taken and ignored, so a fallback meant for a failed page ran
  // every time. `success` (the default every action is given) and `always` say what happens, and stay.
  rule.verify?.onUnverified.forEach((a, index) => {
    if (a.when === 'failure') {
      issues.push({ path: `verify.onUnverified.${index}.when`, message: 'onUnverified actions take no when: failure: each runs once when the remediation is unverified, whatever the others did' });
    }
  });
  const resolves = rule.actions.findIndex((a) => a.type === 'pagerduty.resolve');
  if (rule.verify && !rule.verify.check && resolves >= 0) {
    issues.push({ path: 'verify.check', message: `required: the rule resolves the incident itself (actions.${resolves}), so incident.resolved proves nothing; give a check that tells whether the remediation worked` });
  }
  return issues;
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

type ActionLists = { actions: readonly unknown[]; verify?: { onUnverified?: readonly unknown[] | undefined } | undefined };

/**
 * What `pick` finds in every action of a rule, its main actions and `verify.onUnverified` alike (which
 * notifies too: what it names was once checked only at the worst moment, when the page failed), with
 * the dotted path of the action (`actions.1`, `verify.onUnverified.0`) prefixed to each path it returns.
 */
function inEveryAction<T extends { path: string }>(rule: ActionLists, pick: (action: Record<string, unknown>) => T[]): T[] {
  const lists: [string, readonly unknown[]][] = [
    ['actions', rule.actions],
    ['verify.onUnverified', rule.verify?.onUnverified ?? []],
  ];
  return lists.flatMap(([where, actions]) =>
    actions.flatMap((action, index) => pick(action as Record<string, unknown>).map((found) => ({ ...found, path: `${where}.${index}.${found.path}` }))),
  );
}

/** Every email recipient a rule names, with its dotted path (checked against NOTIFY_EMAIL_ALLOW on save). */
export function ruleEmailRecipients(rule: ActionLists): { path: string; address: string }[] {
  return inEveryAction(rule, (a) => (a.type === 'notify.email' && Array.isArray(a.to) ? a.to.flatMap((address, i) => (typeof address === 'string' ? [{ path: `to.${i}`, address }] : [])) : []));
}

/** Every URL a rule's webhooks post to, with its dotted path (checked against NOTIFY_WEBHOOK_ALLOW on save). */
export function ruleWebhookUrls(rule: ActionLists): { path: string; url: string }[] {
  return inEveryAction(rule, (a) => (a.type === 'notify.webhook' && typeof a.url === 'string' ? [{ path: 'url', url: a.url }] : []));
}

/** Every GitHub repository a rule files work items in, with its dotted path (checked against GITHUB_REPOS_ALLOW on save). */
export function ruleGitHubRepos(rule: ActionLists): { path: string; repo: string }[] {
  return inEveryAction(rule, (a) => (a.type === 'workitem' && a.provider === 'github' && typeof a.repo === 'string' ? [{ path: 'repo', repo: a.repo }] : []));
}

/** Every secret reference a rule carries, with its dotted path (checked against the operator's policy on save). */
export function ruleSecretRefs(rule: ActionLists): { path: string; ref: string }[] {
  return inEveryAction(rule, (a) => (['secretRef', 'webhookUrlRef'] as const).flatMap((key) => (typeof a[key] === 'string' ? [{ path: key, ref: a[key] }] : [])));
}
