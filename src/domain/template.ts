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
 *   A value that would start an argument with `-` (an option) is refused before the script runs
 *   (src/domain/script-args.ts);
 *   `script`/`command`, URLs, recipients, ids and secret references are never templated;
 * - a `notify.webhook` body that starts with `{` or `[` is JSON: values are escaped for a JSON string, so
 *   they cannot add fields or end the document ({@link renderJsonTemplate});
 * - in a Slack text, values have `&`, `<`, `>` escaped, so they cannot mention or link ({@link slackEscape});
 *   in a GitHub work item's description, values cannot mention, show an image or open HTML ({@link githubEscape});
 * - the output is bounded: the values of one rendered field add at most {@link MAX_RENDERED_FIELD} characters
 *   (less the template's own text), and all the fields of one render share {@link MAX_RENDERED_TOTAL}. A
 *   value that does not fit is cut and followed by {@link TRUNCATED}; later values of that field are left
 *   out. Each distinct placeholder is looked up and serialised once per render. Before, a title of 64 KiB
 *   repeated by thousands of placeholders rendered gigabytes (a rule test could take the API down).
 *
 * Pure: no I/O, safe inside Temporal workflow code.
 */
import { getPath, parsePath } from './json-path.js';
import { cutAt } from './text.js';

/** Roots a template (and a condition field) may reference. */
export const TEMPLATE_ROOTS = ['incident', 'environment', 'alert', 'alerts', 'event', 'rule', 'results'] as const;
export type TemplateRoot = (typeof TEMPLATE_ROOTS)[number];

/** What templates are rendered against: the evaluation context plus the rule and earlier results. */
export type TemplateContext = Partial<Record<TemplateRoot, unknown>> & Record<string, unknown>;

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;

/** Longest rendered field (a string, one argv element), its template's own text included, before the marker. */
export const MAX_RENDERED_FIELD = 64 * 1024;
/** Characters the values of one render (one action; one rule test) may add over all its fields. */
export const MAX_RENDERED_TOTAL = 256 * 1024;
/** Ends a field whose values were cut. */
export const TRUNCATED = '…(truncated)';

/** What the values of one render may still add; share one between renders to bound them together. */
export interface RenderBudget {
  left: number;
}

export function renderBudget(total = MAX_RENDERED_TOTAL): RenderBudget {
  return { left: total };
}

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
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return '';
  }
}

interface Looked {
  value: unknown;
  text: string;
}

/** One render: its context, its budget and the values it looked up, so `{{ alerts }}` × N serialises once. */
class Render {
  private readonly looked = new Map<string, Looked | null>();

  constructor(
    readonly ctx: TemplateContext,
    readonly budget: RenderBudget,
  ) {}

  /** The value at `path` and its text; null when `path` is not a plain path. */
  lookup(path: string): Looked | null {
    let found = this.looked.get(path);
    if (found === undefined) {
      const segments = parsePath(path);
      const value = segments === null ? undefined : getPath(this.ctx, segments);
      found = segments === null ? null : { value, text: stringify(value) };
      this.looked.set(path, found);
    }
    return found;
  }
}

/** The room the values of one field have: its own cap less the template, and what the render has left. */
class Field {
  private room: number;
  /** A value was cut (and marked): the field takes no more. */
  full = false;

  constructor(
    private readonly budget: RenderBudget,
    templateLength: number,
  ) {
    this.room = Math.max(0, MAX_RENDERED_FIELD - templateLength);
  }

  private spend(n: number): void {
    this.room -= n;
    this.budget.left -= n;
  }

  /** Whether `n` more characters fit; spends them if so. */
  take(n: number): boolean {
    if (n > Math.min(this.room, this.budget.left)) return false;
    this.spend(n);
    return true;
  }

  /** `encode(text)`, or the encoding of as much of `text` as fits (then `cut` and the field is full). */
  fit(text: string, encode: (value: string) => string): { out: string; cut: boolean } {
    const room = Math.max(0, Math.min(this.room, this.budget.left));
    // An encoding is never shorter than its text; when escapes make it longer, keep the share that fits.
    let kept = cutAt(text, room);
    let out = encode(kept);
    while (out.length > room) {
      kept = cutAt(kept, Math.floor((kept.length * room) / out.length));
      out = encode(kept);
    }
    this.spend(out.length);
    const cut = kept.length < text.length;
    if (cut) this.full = true;
    return { out, cut };
  }
}

const asIs = (value: string): string => value;
const jsonEscape = (value: string): string => JSON.stringify(value).slice(1, -1);

function renderText(tpl: string, render: Render, escape: (value: string) => string = asIs): string {
  if (!tpl.includes('{{')) return tpl;
  const field = new Field(render.budget, tpl.length);
  let out = '';
  let last = 0;
  for (const m of tpl.matchAll(new RegExp(PLACEHOLDER.source, 'g'))) {
    out += tpl.slice(last, m.index);
    last = m.index + m[0].length;
    const found = render.lookup(m[1]!);
    if (found === null) out += m[0];
    else if (!field.full) {
      const { out: text, cut } = field.fit(found.text, escape);
      out += cut ? text + TRUNCATED : text;
    }
  }
  return out + tpl.slice(last);
}

/**
 * Replaces every `{{ path }}` with the value at `path` in `ctx`. Missing values render as ''. A
 * placeholder that is not a plain path is left untouched (validation rejects those up front).
 * `escape` applies to values only; the output is bounded as the module comment says.
 */
export function renderTemplate(tpl: string, ctx: TemplateContext, escape?: (value: string) => string, budget = renderBudget()): string {
  return renderText(tpl, new Render(ctx, budget), escape);
}

/**
 * A value made inert for Slack's message formatting: Slack reads `<!channel>`, `<@U123>` and
 * `<https://x|label>` as mentions and links and asks for `&`, `<` and `>` to be escaped. Only the
 * values are escaped: the rule's own text may still mention or link on purpose.
 */
export function slackEscape(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/** U+200B (zero width space): splits a GitHub mention, image or HTML tag apart without showing. */
const ZWSP = '\u200B';

/**
 * A value made inert for GitHub-flavoured Markdown, keeping how it reads: an `@` not preceded by a letter or
 * digit (a mention of a user or `@org/team`, also spelled `&#64;`, `&#x40;` or `&commat;`) gets a U+200B
 * after it, as does the `<` of an HTML tag or comment (`<img>`, `<!--`) and the `!` of an image
 * (`![](https://tracker.example/p.png)`), and a `<` or `!` that ends the value (the next value or the
 * rule's own text may carry the rest of a tag or an image). An e-mail address (`ops@example.com`) stays as it is; links and
 * bare URLs are left too. Inside code, where GitHub mentions and renders nothing, the U+200B is invisible.
 * Only the values: the rule's own text may still mention a team on purpose.
 */
export function githubEscape(text: string): string {
  return text
    .replace(/&(?:#0*64|#x0*40|commat);/gi, '@')
    .replace(/(?<![A-Za-z0-9])@/g, `@${ZWSP}`)
    .replace(/<(?=[A-Za-z/!?]|$)/g, `<${ZWSP}`)
    .replace(/!(?=\[|$)/g, `!${ZWSP}`);
}

/**
 * Renders a JSON template (a webhook body starting with `{` or `[`) so that values stay values: inside a
 * JSON string (`"t": "{{ incident.title }}"`) a value is escaped for a string (`"`, `\`, controls);
 * outside one (`"n": {{ incident.number }}`) it is inserted as a JSON value (strings quoted, objects as
 * JSON, missing as null). An incident title such as `x", "approved": true, "y": "` therefore stays one
 * string instead of adding fields to what the receiver parses.
 */
export function renderJsonTemplate(tpl: string, ctx: TemplateContext, budget = renderBudget()): string {
  return renderJson(tpl, new Render(ctx, budget));
}

/** See {@link renderJsonTemplate}. A value cut for the bound stays valid JSON: a string, or the marker as one. */
function renderJson(tpl: string, render: Render): string {
  if (!tpl.includes('{{')) return tpl;
  const field = new Field(render.budget, tpl.length);
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
  /** In place of a value that does not fit: the marker as a string the first time, then null. */
  const markOnce = (): string => {
    const first = !field.full;
    field.full = true;
    return first ? JSON.stringify(TRUNCATED) : 'null';
  };
  for (const m of tpl.matchAll(new RegExp(PLACEHOLDER.source, 'g'))) {
    const literal = tpl.slice(last, m.index);
    scan(literal);
    out += literal;
    last = m.index + m[0].length;
    const found = render.lookup(m[1]!);
    if (found === null) {
      out += m[0];
      continue;
    }
    const { value, text } = found;
    if (inString || typeof value === 'string') {
      if (field.full) {
        if (!inString) out += 'null';
        continue;
      }
      const fitted = field.fit(text, jsonEscape);
      const inner = fitted.cut ? fitted.out + TRUNCATED : fitted.out;
      out += inString ? inner : `"${inner}"`;
    } else {
      const json = value === undefined || value === null || text.length === 0 ? 'null' : text;
      out += !field.full && field.take(json.length) ? json : markOnce();
    }
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

function renderValue(value: unknown, render: Render): unknown {
  if (typeof value === 'string') return renderText(value, render);
  if (Array.isArray(value)) return value.map((item) => (typeof item === 'string' ? renderText(item, render) : item));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = typeof item === 'string' ? renderText(item, render) : item;
    return out;
  }
  return value;
}

/**
 * A copy of `action` with its templated parameters rendered against `ctx`. Its fields share `budget`;
 * pass one budget to several actions (a rule test) to bound them together.
 */
export function renderAction<A extends { type: TemplatedActionType }>(action: A, ctx: TemplateContext, budget = renderBudget()): A {
  const render = new Render(ctx, budget);
  const fields: readonly string[] = TEMPLATED_FIELDS[action.type];
  const out: Record<string, unknown> = { ...action };
  for (const field of fields) {
    if (out[field] === undefined) continue;
    const body = action.type === 'notify.webhook' && field === 'body' && typeof out[field] === 'string' ? (out[field] as string) : undefined;
    if (body !== undefined && looksLikeJson(body)) out[field] = renderJson(body, render);
    else if (action.type === 'notify.slack' && typeof out[field] === 'string') out[field] = renderText(out[field] as string, render, slackEscape);
    else if (action.type === 'workitem' && field === 'description' && (action as { provider?: unknown }).provider === 'github' && typeof out[field] === 'string') {
      out[field] = renderText(out[field] as string, render, githubEscape);
    }
    else out[field] = renderValue(out[field], render);
  }
  return out as A;
}
