/**
 * Mustache-like placeholders for action parameters: `Disk full on {{ environment.host }}`.
 *
 * Deliberately tiny:
 * - a placeholder is `{{ path }}` where `path` is a {@link getPath} path (`a.b[0]["c.d"]`); nothing
 *   else — no expressions, filters, helpers, partials or code evaluation;
 * - the value is inserted as data: strings as is, numbers/booleans via String(), objects as JSON,
 *   missing/null as the empty string. Rendering is a single pass, so a value that itself contains
 *   `{{ ... }}` (an incident title written by an attacker) stays literal;
 * - rendered strings are never handed to a shell by this service: script `args` become the argv of the
 *   script (one element each, no word splitting, no `$(...)` expansion) and `environment` values become
 *   environment variables. A title like `$(rm -rf /)` therefore reaches the script as that literal text.
 *   `script`/`command`, URLs, recipients, ids and secret references are never templated.
 *
 * Pure: no I/O, safe inside Temporal workflow code.
 */
import { getPath, parsePath } from './json-path.js';

/** Roots a template (and a condition field) may reference. */
export const TEMPLATE_ROOTS = ['incident', 'environment', 'alert', 'alerts', 'event', 'rule', 'results'] as const;
export type TemplateRoot = (typeof TEMPLATE_ROOTS)[number];

/** What templates are rendered against: the evaluation context plus the rule and earlier results. */
export type TemplateContext = Partial<Record<TemplateRoot, unknown>> & Record<string, unknown>;

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
const MAX_VALUE_LENGTH = 64 * 1024;

export interface TemplateProblem {
  /** the placeholder as written, e.g. `{{ foo.bar }}` */
  placeholder: string;
  message: string;
}

/** Paths referenced by `tpl`, in order of first appearance (invalid placeholders are skipped). */
export function templateFields(tpl: string): string[] {
  const fields: string[] = [];
  for (const match of tpl.matchAll(PLACEHOLDER)) {
    const path = match[1] ?? '';
    if (parsePath(path) !== null && !fields.includes(path)) fields.push(path);
  }
  return fields;
}

/**
 * Problems with the placeholders of `tpl`: invalid syntax (anything that is not a plain path) or an
 * unknown root. Empty when the template is fine.
 */
export function validateTemplate(tpl: string, roots: readonly string[] = TEMPLATE_ROOTS): TemplateProblem[] {
  const problems: TemplateProblem[] = [];
  for (const match of tpl.matchAll(PLACEHOLDER)) {
    const placeholder = match[0];
    const path = match[1] ?? '';
    const segments = parsePath(path);
    if (segments === null) {
      problems.push({
        placeholder,
        message: `${placeholder} is not a plain field path (expressions are not supported)`,
      });
      continue;
    }
    const root = segments[0];
    if (typeof root !== 'string' || !roots.includes(root)) {
      problems.push({
        placeholder,
        message: `${placeholder} refers to unknown root "${String(root)}" (allowed: ${roots.join(', ')})`,
      });
    }
  }
  return problems;
}

function stringify(value: unknown): string {
  if (value === undefined || value === null) return '';
  let text: string;
  if (typeof value === 'string') text = value;
  else if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') text = String(value);
  else {
    try {
      text = JSON.stringify(value) ?? '';
    } catch {
      text = '';
    }
  }
  return text.length > MAX_VALUE_LENGTH ? text.slice(0, MAX_VALUE_LENGTH) : text;
}

/**
 * Replaces every `{{ path }}` with the value at `path` in `ctx`. Missing values render as ''. A
 * placeholder that is not a plain path is left untouched (validation rejects those up front).
 */
export function renderTemplate(tpl: string, ctx: TemplateContext): string {
  if (!tpl.includes('{{')) return tpl;
  return tpl.replace(PLACEHOLDER, (whole: string, path: string) => {
    const segments = parsePath(path);
    if (segments === null) return whole;
    return stringify(getPath(ctx, segments));
  });
}

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
} as const;

/** An action type, as far as rendering is concerned (src/domain/rules/actions.ts checks every type is listed). */
export type TemplatedActionType = keyof typeof TEMPLATED_FIELDS;

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
export function renderAction<A extends { type: TemplatedActionType }>(action: A, ctx: TemplateContext): A {
  const fields: readonly string[] = TEMPLATED_FIELDS[action.type];
  const out: Record<string, unknown> = { ...action };
  for (const field of fields) {
    if (out[field] !== undefined) out[field] = renderValue(out[field], ctx);
  }
  return out as A;
}
