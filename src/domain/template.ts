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
