/**
 * Rendering a rule's action: which parameters of each action type are templated, and a copy of the action
 * with those rendered against the incident (src/domain/template.ts renders one string).
 *
 * Pure: no I/O, safe inside Temporal workflow code.
 */
import { renderTemplate, type TemplateContext } from '../template.js';
import type { Action } from './actions.js';

/**
 * Parameters of each action type that are templated. Everything else (script names, commands, URLs,
 * recipients, ids, secret references, numeric settings) is used verbatim.
 */
export const TEMPLATED_FIELDS = {
  'script.agent': ['args', 'environment'],
  'script.ssh': ['args', 'environment'],
  workitem: ['title', 'description'],
  'notify.slack': ['text'],
  'notify.email': ['subject', 'body'],
  'notify.webhook': ['body'],
  'pagerduty.note': ['content'],
  'pagerduty.acknowledge': [],
  'pagerduty.resolve': ['resolution'],
  'pagerduty.priority': [],
  'pagerduty.escalate': [],
} as const satisfies Record<Action['type'], readonly string[]>;

function renderValue(value: unknown, ctx: TemplateContext): unknown {
  if (typeof value === 'string') return renderTemplate(value, ctx);
  if (Array.isArray(value)) return value.map((item) => (typeof item === 'string' ? renderTemplate(item, ctx) : item));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = typeof item === 'string' ? renderTemplate(item, ctx) : item;
    return out;
  }
  return value;
}

/** A copy of `action` with its templated parameters rendered against `ctx`. */
export function renderAction<A extends Action>(action: A, ctx: TemplateContext): A {
  const fields: readonly string[] = TEMPLATED_FIELDS[action.type];
  const out: Record<string, unknown> = { ...action };
  for (const field of fields) {
    if (out[field] !== undefined) out[field] = renderValue(out[field], ctx);
  }
  return out as A;
}
