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
 *   `script`/`command`, URLs, recipients, ids and secret references are never templated;
 * - a `notify.webhook` body that starts with `{` or `[` is JSON: values are escaped for a JSON string, so
 *   they cannot add fields or end the document ({@link renderJsonTemplate});
 * - in a Slack text, values have `&`, `<`, `>` escaped, so they cannot mention or link ({@link slackEscape}).
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
export function renderTemplate(tpl: string, ctx: TemplateContext, escape?: (value: string) => string): string {
  if (!tpl.includes('{{')) return tpl;
  return tpl.replace(PLACEHOLDER, (whole: string, path: string) => {
    const segments = parsePath(path);
    if (segments === null) return whole;
    const text = stringify(getPath(ctx, segments));
    return escape ? escape(text) : text;
  });
}

/**
 * A value made inert for Slack's message formatting: Slack reads `<!channel>`, `<@U123>` and
 * `<https://x|label>` as mentions and links and asks for `&`, `<` and `>` to be escaped. Only the
 * values are escaped: the rule's own text may still mention or link on purpose.
 */
export function slackEscape(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/**
 * Renders a JSON template (a webhook body starting with `{` or `[`) so that values stay values: inside a
 * JSON string (`"t": "{{ incident.title }}"`) a value is escaped for a string (`"`, `\`, controls);
 * outside one (`"n": {{ incident.number }}`) it is inserted as a JSON value (strings quoted, objects as
 * JSON, missing as null). An incident title such as `x", "approved": true, "y": "` therefore stays one
 * string instead of adding fields to what the receiver parses.
 */
export function renderJsonTemplate(tpl: string, ctx: TemplateContext): string {
  if (!tpl.includes('{{')) return tpl;
  let out = '';
  let inString = false;
  let last = 0;
  const scan = (literal: string) => {
    for (let i = 0; i < literal.length; i++) {
      const ch = literal[i];
      if (inString && ch === '\\') i++;
      else if (ch === '"') inString = !inString;
    }
  };
  for (const m of tpl.matchAll(new RegExp(PLACEHOLDER.source, 'g'))) {
    const literal = tpl.slice(last, m.index);
    scan(literal);
    out += literal;
    last = m.index + m[0].length;
    const segments = parsePath(m[1]!);
    if (segments === null) {
      out += m[0];
      continue;
    }
    const value = getPath(ctx, segments);
    const text = stringify(value);
    if (inString) out += JSON.stringify(text).slice(1, -1);
    else if (value === undefined || value === null) out += 'null';
    else if (typeof value === 'number' || typeof value === 'boolean') out += String(value);
    else if (typeof value === 'string') out += JSON.stringify(text);
    else out += text.length === 0 ? 'null' : text;
  }
  return out + tpl.slice(last);
}

/** Whether a webhook body template is meant as JSON (then its values are JSON-escaped). */
function looksLikeJson(tpl: string): boolean {
  const t = tpl.trimStart();
  return t.startsWith('{') || t.startsWith('[');
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
    if (out[field] === undefined) continue;
    const body = action.type === 'notify.webhook' && field === 'body' && typeof out[field] === 'string' ? (out[field] as string) : undefined;
    if (body !== undefined && looksLikeJson(body)) out[field] = renderJsonTemplate(body, ctx);
    else if (action.type === 'notify.slack' && typeof out[field] === 'string') out[field] = renderTemplate(out[field] as string, ctx, slackEscape);
    else out[field] = renderValue(out[field], ctx);
  }
  return out as A;
}
