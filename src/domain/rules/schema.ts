/**
 * The rule model: what SREs POST (`ruleInputSchema`) and what is stored (`ruleSchema`).
 *
 * These zod schemas validate request bodies and generate the OpenAPI document, so every field carries a
 * description. Validation is strict (unknown keys are errors: a typo like `stopOnMatches` must not be
 * silently ignored), regular expressions must compile on the linear-time engine (src/domain/regex.ts), and templates may only
 * reference known roots. Secrets are never values: only references (`env:NAME`, `file:/path`).
 *
 * The model is split by concern: fields.ts (shared building blocks), conditions.ts, actions.ts and
 * definition.ts (policies, the rule, parsing, authority); this module is their one public face.
 *
 * Pure: no I/O, safe inside Temporal workflow code.
 */
export { CONDITION_ROOTS, EVENT_TYPES, SECRET_REF_PATTERN, SLUG_PATTERN, secretRefSchema } from './fields.js';
export {
  PREDICATE_OPS,
  conditionSchema,
  predicateConditionSchema,
  timeWindowSchema,
  type AllCondition,
  type AnyCondition,
  type Condition,
  type NotCondition,
  type PredicateCondition,
  type PredicateOp,
  type Scalar,
  type TimeWindowCondition,
} from './conditions.js';
export * from './actions.js';
export * from './definition.js';
