// Request and response schemas of the rule routes: the routes validate with them and the OpenAPI document
// is generated from them. The rule itself is the domain's schema (src/domain/rules/schema.ts).
import { z } from '../../domain/zod.js';
import type { RuleRow } from '../../db/database.js';
import { ruleInputSchema, type RuleInput } from '../../domain/rules/index.js';
import { anyObject, INT4_MAX, pageQuery, textParam } from './common.js';

const booleanQuery = z.enum(['true', 'false']).transform((v) => v === 'true');

export const ruleListQuerySchema = z.object({
  enabled: booleanQuery.optional().describe('Only enabled (true) or disabled (false) rules.'),
  service: textParam(64).optional().describe('Rules applying to this PagerDuty service id (including rules for every service).'),
  includeDeleted: booleanQuery.optional().describe('Include soft-deleted rules.'),
  ...pageQuery,
});

export const ruleGetQuerySchema = z.object({
  includeDeleted: booleanQuery.optional().describe('Answer soft-deleted rules too.'),
});

/** Fields a client may echo back from GET on PUT; they are accepted and ignored (version = If-Match). */
export const READ_ONLY_KEYS = ['id', 'version', 'createdAt', 'updatedAt', 'deletedAt', 'breaker', 'warnings'] as const;

export const ruleUpdateSchema = ruleInputSchema
  .extend({
    id: z.string().optional().describe('Ignored (the id is in the path).'),
    version: z.number().int().min(1).optional().describe('Version being replaced (optimistic concurrency), unless If-Match is sent.'),
    createdAt: z.string().optional().describe('Ignored.'),
    updatedAt: z.string().optional().describe('Ignored.'),
    deletedAt: z.string().nullable().optional().describe('Ignored.'),
    breaker: z.unknown().optional().describe('Ignored.'),
    warnings: z.unknown().optional().describe("Ignored (a save's answer carries it, so that answer can be sent back as it is)."),
  })
  .meta({ id: 'RuleUpdate', description: 'A full replacement of a rule; read-only fields returned by GET may be echoed back.' });

export const ruleDiffQuerySchema = z.object({
  from: z.coerce.number().int().min(1).max(INT4_MAX).describe('Older version.'),
  to: z.coerce.number().int().min(1).max(INT4_MAX).optional().describe('Newer version (default: the current one).'),
});

export const ruleRollbackSchema = z
  .strictObject({ version: z.number().int().min(1).max(INT4_MAX).describe('Version whose definition becomes the new current version.') })
  .meta({ id: 'RuleRollback' });

const testInputShape = {
  payload: z
    .unknown()
    .optional()
    .describe('A PagerDuty V3 webhook body ({event: {...}}) or its event object. Exactly one of payload or incidentId.'),
  incidentId: z.string().min(1).max(64).optional().describe('A stored incident (its latest event gives the event type).'),
  alerts: z.array(z.unknown()).max(100).optional().describe('PagerDuty alerts of the incident (GET /incidents/{id}/alerts → alerts).'),
  environment: z.record(z.string(), z.unknown()).optional().describe('Environment fields overriding the extracted ones (host, environment, region, ...).'),
  eventType: z.string().min(1).max(100).optional().describe('Event type to evaluate as (default: the payload or latest stored event type).'),
  now: z.iso.datetime({ offset: true }).optional().describe('Evaluation time (time windows, relative times); default now.'),
};

function exactlyOneSource(v: { payload?: unknown; incidentId?: string | undefined }, ctx: z.RefinementCtx): void {
  if ((v.payload === undefined) === (v.incidentId === undefined)) {
    ctx.addIssue({ code: 'custom', path: ['payload'], message: 'exactly one of payload or incidentId is required' });
  }
}

export const ruleTestSchema = z.strictObject(testInputShape).superRefine(exactlyOneSource).meta({ id: 'RuleTestRequest' });

export const unsavedRuleTestSchema = z
  .strictObject({ rule: ruleInputSchema, ...testInputShape })
  .superRefine(exactlyOneSource)
  .meta({ id: 'UnsavedRuleTestRequest' });


export function ruleView(row: RuleRow) {
  const definition = row.definition as RuleInput;
  return {
    id: row.id,
    version: row.version,
    ...definition,
    team: row.team,
    enabled: row.enabled,
    breaker: { state: row.breaker_state, consecutiveFailures: row.consecutive_failures, openedAt: row.breaker_opened_at },
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    deletedAt: row.deleted_at,
  };
}

export const ruleViewSchema = ruleInputSchema
  .extend({
    id: z.string(),
    version: z.number().int(),
    team: z.string().describe('The owning team.'),
    breaker: z.object({ state: z.enum(['closed', 'open']), consecutiveFailures: z.number().int(), openedAt: z.string().nullable() }),
    createdAt: z.string(),
    updatedAt: z.string(),
    deletedAt: z.string().nullable(),
  })
  .meta({ id: 'RuleView', description: 'A stored rule with defaults applied, its version and circuit-breaker state.' });

/** Hints about script arguments a run may still refuse (src/domain/script-args.ts); a rule saves with them. */
export const argWarningsSchema = z
  .array(z.object({ path: z.string(), message: z.string() }))
  .describe('Script arguments that begin with a value: a run refuses the action when that value starts with "-" (docs/security.md).');

/** A rule as a save answers it: the stored rule, and the hints about its script arguments. */
export const ruleSavedSchema = ruleViewSchema
  .extend({ warnings: argWarningsSchema })
  .meta({ id: 'RuleSaved', description: 'A saved rule (as RuleView), with hints about script arguments a run may still refuse.' });

/** A script action (or verify check) whose rendered arguments the rule run would refuse (src/domain/script-args.ts). */
export const argsRefusalSchema = z
  .object({
    actionId: z.string().describe('The action as the run names it: its id (a<index> without one), or check for the verify check.'),
    path: z.string().describe('Where it is in the rule: actions.<index> or verify.check.'),
    argIndex: z.number().int().describe('The refused element of its args (0-based).'),
    reason: z.string().describe('What the run records when it refuses the action: it fails without running, after any approval.'),
  })
  .meta({
    id: 'ArgsRefusal',
    description:
      "A script action or verify check whose args element would start with a '-' that came from the incident (its template does not start with one): the rule run refuses it, so incident data never becomes a script option.",
  });

export const ruleTestResultSchema = z
  .object({
    matched: z.boolean().describe('The rule applies to the service and event type and its conditions hold.'),
    conditionsMatched: z.boolean(),
    appliesTo: z.object({
      service: z.object({ id: z.string().nullable(), matches: z.boolean() }),
      eventType: z.object({ type: z.string().nullable(), matches: z.boolean() }),
    }),
    explanation: anyObject.describe('Tree of reasons mirroring the conditions.'),
    explanationText: z.string(),
    dryRun: z.boolean(),
    maintenanceWindow: anyObject.nullable(),
    context: z.object({ incident: anyObject, environment: anyObject }),
    renderedActions: z.array(anyObject).describe('The actions with their templates rendered; nothing is run.'),
    refusedArgs: z
      .array(argsRefusalSchema)
      .describe('Script actions (and the verify check) whose args, rendered for this incident, the rule run would refuse; empty when none. Asked whether or not the rule matches; results.* are known only at run time.'),
  })
  .meta({ id: 'RuleTestResult' });

const ruleVersionSchema = z.object({ version: z.number().int(), change: z.enum(['create', 'update', 'delete', 'rollback']), actor: z.string(), createdAt: z.string(), definition: ruleInputSchema });

export const ruleDiffSchema = z.object({
  ruleId: z.string(),
  from: z.number().int(),
  to: z.number().int(),
  changes: z.array(z.object({ path: z.string(), kind: z.enum(['added', 'removed', 'changed']), before: z.unknown().optional(), after: z.unknown().optional() })),
});

export const ruleVersionsSchema = z.object({
  ruleId: z.string(),
  currentVersion: z.number().int(),
  items: z.array(ruleVersionSchema),
  nextCursor: z.string().nullable().describe('The cursor of the next page; null on the last.'),
});
