/**
 * Rule actions: one zod schema per action type (scripts, work items, notifications, PagerDuty updates), their
 * common fields (id, when, retry, approval) and the ordered list a rule runs. Secrets are references only.
 *
 * Pure: no I/O, safe inside Temporal workflow code.
 */
import { z } from '../zod.js';
import { metadataAddressReason } from '../metadata-address.js';
import { refusedEnvName, SCRIPT_PARAM_PREFIX } from '../script-env.js';
import { jsonTemplateProblems, TEMPLATED_FIELDS } from '../template.js';
import { ENV_NAME_PATTERN, PAGERDUTY_ID_PATTERN, SCRIPT_PATTERN, secretRefSchema, slug, templated } from './fields.js';

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
  .describe(
    'Arguments, one element each. A script gets them as its argv (no shell between). A command gets them as $1, $2… of its sh -c: ' +
      'the shell splits and globs an unquoted $1, so write "$1"; while they are templated, a command expanding any variable outside double quotes, ' +
      'or passing one to eval, sh -c or ssh, is refused.',
  );
const scriptEnvironment = z
  .record(z.string().regex(ENV_NAME_PATTERN, 'must be an environment variable name').max(128), templated(4096, 'Value.'))
  // An allow list (src/domain/script-env.ts): only SELFHEAL_PARAM_* names, which no program but the script reads.
  .superRefine((env, ctx) => {
    for (const name of Object.keys(env)) {
      const refused = refusedEnvName(name);
      if (refused) ctx.addIssue({ code: 'custom', path: [name], message: refused });
    }
  })
  .optional()
  .describe(
    `Parameters for the script as environment variables, on the Doctor agent and over SSH (values are data; use secret references for secrets). ` +
      `Names must start with ${SCRIPT_PARAM_PREFIX} (e.g. ${SCRIPT_PARAM_PREFIX}DRY_RUN); any other name is refused.`,
  );
const scriptName = z
  .string()
  .min(1)
  .max(256)
  .regex(SCRIPT_PATTERN, 'must be a relative script path without empty, "." or ".." segments (letters, digits, ".", "_", "-", "/")');
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
      // `..` would be normalised away in the API URL (repos/../user/issues → /user/issues).
      .refine((repo) => !repo.split('/').some((part) => part === '.' || part === '..'), 'owner and name may not be "." or ".."')
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
    body: templated(50000, 'Request body; defaults to a JSON summary of the incident and rule. One starting with `{` or `[` is JSON: its values are escaped for where they stand, and a placeholder may not follow an unpaired `\\` inside a string.')
      .superRefine((value, ctx) => {
        for (const problem of jsonTemplateProblems(value)) ctx.addIssue({ code: 'custom', message: problem.message });
      })
      .optional(),
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

/** Rendering (src/domain/template.ts) names the templated parameters of every action type: a new type must be added there. */
const _everyActionTypeRenders: Record<ActionType, readonly string[]> = TEMPLATED_FIELDS;

export const actionsSchema = z
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
