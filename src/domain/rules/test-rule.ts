// Testing a rule against a PagerDuty payload or a stored incident, exactly as the worker would evaluate
// it, with no side effects. Pure: the API's test endpoints and the offline `selfheal rules test` share it.
import { extractEnvironment, type ExtractorsConfig } from '../extract.js';
import { isPlainObject } from '../json-diff.js';
import { refusedArgsOf, type ArgsRefusal } from '../script-args.js';
import { renderAction, renderBudget } from '../template.js';
import { toIncidentSnapshot, type PagerDutyEvent } from '../../pagerduty/parse.js';
import { activeMaintenanceWindow, evaluateRule, formatExplanation, ruleApplies, type Explanation } from './evaluate.js';
import { incidentContext, type IncidentFacts } from './incident-context.js';
import type { Rule } from './schema.js';

/** A payload that is not a PagerDuty V3 event; `errors` name the offending paths (the API answers 400). */
export class PayloadError extends Error {
  constructor(
    message: string,
    readonly errors: { path: string; message: string }[],
  ) {
    super(message);
    this.name = 'PayloadError';
  }
}

export interface RuleTestResult {
  matched: boolean;
  conditionsMatched: boolean;
  appliesTo: { service: { id: string | null; matches: boolean }; eventType: { type: string | null; matches: boolean } };
  explanation: Explanation;
  explanationText: string;
  dryRun: boolean;
  maintenanceWindow: unknown;
  context: { incident: Record<string, unknown>; environment: Record<string, unknown> };
  renderedActions: unknown[];
  /**
   * The script actions (and the verify check) whose rendered `args` the rule run would refuse (an element
   * whose leading `-` came from the incident: src/domain/script-args.ts); empty when none. Such an action
   * fails without running, after any approval.
   */
  refusedArgs: ArgsRefusal[];
}

export interface PayloadTestInput {
  payload: unknown;
  /** The worker's extractors (SELFHEAL_EXTRACTORS_FILE), so the test sees the environment the worker would. */
  extractors?: ExtractorsConfig | undefined;
  alerts?: unknown[] | undefined;
  environment?: Record<string, unknown> | undefined;
  eventType?: string | undefined;
  now?: Date | undefined;
}

/** The event of a V3 webhook body, or the event itself; throws a {@link PayloadError} when it is neither. */
export function eventOfPayload(payload: unknown): PagerDutyEvent {
  const event = isPlainObject(payload) && isPlainObject(payload.event) ? payload.event : payload;
  const errors: { path: string; message: string }[] = [];
  if (!isPlainObject(event)) throw new PayloadError('payload is not a PagerDuty webhook body or event', [{ path: 'payload', message: 'must be an object' }]);
  if (typeof event.event_type !== 'string') errors.push({ path: 'payload.event.event_type', message: 'must be a string' });
  if (!isPlainObject(event.data)) errors.push({ path: 'payload.event.data', message: 'must be an object' });
  if (errors.length > 0) throw new PayloadError('payload is not a PagerDuty V3 webhook event', errors);
  return { id: '', resource_type: 'incident', occurred_at: '', ...event } as PagerDutyEvent;
}

/** Evaluates `rule` against a webhook payload exactly as the worker would, without running anything. */
export function testRuleWithPayload(rule: Rule, input: PayloadTestInput): RuleTestResult {
  const event = eventOfPayload(input.payload);
  const snap = toIncidentSnapshot(event);
  if (!snap) throw new PayloadError('the payload names no incident', [{ path: 'payload.event.data', message: 'no incident id found' }]);
  const alerts = input.alerts ?? [];
  const extracted = extractEnvironment({ title: snap.title, description: snap.description, serviceId: snap.serviceId, alerts }, input.extractors ?? {});
  const incident: IncidentFacts = {
    id: snap.id,
    number: snap.number ?? null,
    title: snap.title ?? null,
    description: snap.description ?? null,
    status: snap.status ?? 'triggered',
    urgency: snap.urgency ?? null,
    priority: snap.priority?.summary ?? null,
    service_id: snap.serviceId ?? null,
    service_name: snap.serviceName ?? null,
    escalation_policy_id: snap.escalationPolicyId ?? null,
    escalation_policy_name: snap.escalationPolicyName ?? null,
    assignees: snap.assignees,
    html_url: snap.htmlUrl ?? null,
    incident_key: snap.incidentKey ?? null,
    environment: { ...extracted, ...(input.environment ?? {}) },
    alerts,
  };
  return testRuleWithIncident(rule, incident, event, input.eventType ?? event.event_type, input.now ?? new Date());
}

export function testRuleWithIncident(rule: Rule, incident: IncidentFacts, event: Record<string, unknown>, eventType: string, now: Date): RuleTestResult {
  const ctx = incidentContext(incident, event, eventType);
  const serviceId = incident.service_id ?? undefined;
  const service = { id: serviceId ?? null, matches: ruleApplies({ services: rule.services, eventTypes: ['*'] }, { serviceId, eventType }) };
  const eventMatches = ruleApplies({ services: ['*'], eventTypes: rule.eventTypes }, { serviceId, eventType });
  const evaluation = evaluateRule(rule, ctx, now);
  const tctx = { ...ctx, rule: { id: rule.id, name: rule.name, version: rule.version } };
  // Rendered whether or not the rule matches (a preview while writing it); the actions share one budget,
  // so the answer holds at most MAX_RENDERED_TOTAL characters of values however the rule repeats them.
  const budget = renderBudget();
  return {
    matched: service.matches && eventMatches && evaluation.matched,
    conditionsMatched: evaluation.matched,
    appliesTo: { service, eventType: { type: eventType, matches: eventMatches } },
    explanation: evaluation.reasons,
    explanationText: formatExplanation(evaluation.reasons),
    dryRun: rule.dryRun,
    maintenanceWindow: activeMaintenanceWindow(rule, now) ?? null,
    context: { incident: ctx.incident, environment: ctx.environment },
    renderedActions: rule.actions.map((a) => renderAction(a, tctx, budget)),
    // Asked of each action as the run renders it (a budget of its own), whether or not the rule matches.
    refusedArgs: refusedArgsOf(rule, tctx),
  };
}
