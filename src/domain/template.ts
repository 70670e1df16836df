/**
 * Mustache-like placeholders for action parameters: `Disk full on {{ environment.host }}`.
 *
 * Deliberately tiny:
 * - a placeholder is `{{ path }}` where `path` is a {@link getPath} path (`a.b[0]["c.d"]`); nothing
 *   else — no expressions, filters, helpers, partials or code evaluation;
 * - the value is inserted as data: strings as is, numbers/booleans via String(), objects as JSON,
 *   missing/null as the empty string. Rendering is a single pass, so a value that itself contains
 *   `{{ ... }}` (an incident title written by an attacker) stays literal;
 * - rendered strings are never parsed as shell by this service: script `args` become the argv of the
 *   script (one element each, no word splitting, no `$(...)` expansion) and `environment` values become
 *   environment variables. A title like `$(rm -rf /)` therefore reaches the script as that literal text.
 *   A `script.ssh` `command` is the exception that needs care: its args are `$1`, `$2`… of its `sh -c`, which
 *   splits and globs them where the command leaves them unquoted, and runs them where it hands them to
 *   `eval` or `sh -c`; such a command with templated values is refused (src/domain/shell-words.ts).
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
 *   out. Each distinct path is looked up and serialised once per render, however its placeholders spell
 *   it, an object only as far as a field can hold, and nothing for a field already full. Before, a title
 *   of 64 KiB repeated by thousands of placeholders rendered gigabytes (a rule test could take the API down).
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

// `{{`, anything but braces, `}}`; the path is the inside trimmed (String#trim takes what \s matches).
// Linear: the old /\{\{\s*([^{}]*?)\s*\}\}/ let its lazy group and both \s* share a run of spaces, so
// `{{` and 3,000 spaces without `}}` took V8 a minute (cubic) on the API's event loop, from a read token's
// rule validation (test/unit/template-redos.test.ts).
const PLACEHOLDER = /\{\{([^{}]*)\}\}/g;

/** The field path of a PLACEHOLDER match. */
const pathOf = (m: RegExpMatchArray): string => (m[1] ?? '').trim();

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
    const path = pathOf(match);
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
    const path = pathOf(match);
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

/**
 * How much of a value's text a render ever reads: no field holds more than MAX_RENDERED_FIELD, so a text
 * longer than this is only ever cut, and its first LOOKED_CHARS characters say all there is to say.
 */
const LOOKED_CHARS = MAX_RENDERED_FIELD + 1;

/** Thrown where JSON.stringify would throw (a cycle, a bigint): the value renders as ''. */
class Unserialisable extends Error {}

/**
 * JSON.stringify(value), exactly, when it is at most `limit` characters; otherwise a text longer than
 * `limit` whose first `limit` characters are its. Work stops past the limit: before, each lookup
 * serialised the whole value (a 3 MB environment 1,000 times over in one rule test, some 1.2 GB held).
 * No library serialises to a bound (safe-stable-stringify bounds depth and breadth, not length), and the
 * values here are JSON data (parsed bodies, jsonb rows, Dates), so the walk is small.
 */
function boundedJson(value: unknown, limit: number): string | undefined {
  const parts: string[] = [];
  let length = 0;
  const seen = new Set<object>();
  const push = (s: string) => {
    parts.push(s);
    length += s.length;
  };
  // Whether `v` is written at all (as an object member) / as what (as an array element: null).
  const skipped = (v: unknown) => v === undefined || typeof v === 'function' || typeof v === 'symbol';
  // What JSON.stringify writes for `raw` under `key`: its toJSON's answer first (which may itself be skipped).
  const prepared = (raw: unknown, key: string): unknown =>
    raw !== null && typeof raw === 'object' && typeof (raw as { toJSON?: unknown }).toJSON === 'function' ? (raw as { toJSON: (k: string) => unknown }).toJSON(key) : raw;
  const write = (v: unknown): void => {
    if (length > limit) return;
    if (v === null || skipped(v)) return push('null');
    if (typeof v === 'string') return push(JSON.stringify(v.length > limit ? v.slice(0, limit + 1) : v));
    if (typeof v === 'number') return push(Number.isFinite(v) ? String(v) : 'null');
    if (typeof v === 'boolean') return push(String(v));
    if (typeof v === 'bigint') throw new Unserialisable();
    const obj = v as object;
    if (seen.has(obj)) throw new Unserialisable();
    seen.add(obj);
    if (Array.isArray(obj)) {
      push('[');
      for (let i = 0; i < obj.length && length <= limit; i++) {
        if (i > 0) push(',');
        write(prepared(obj[i], String(i)));
      }
      push(']');
    } else {
      push('{');
      let first = true;
      for (const k of Object.keys(obj)) {
        if (length > limit) break;
        const item = prepared((obj as Record<string, unknown>)[k], k);
        if (skipped(item)) continue;
        if (!first) push(',');
        first = false;
        push(`${JSON.stringify(k)}:`);
        write(item);
      }
      push('}');
    }
    seen.delete(obj);
  };
  const top = prepared(value, '');
  if (skipped(top)) return undefined;
  write(top);
  return parts.join('');
}

/** A value's text in a template: strings as they are, other scalars via String(), objects as JSON (up to `limit`, see boundedJson). */
function stringify(value: unknown, limit = LOOKED_CHARS): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  try {
    return boundedJson(value, limit) ?? '';
  } catch {
    return '';
  }
}

interface Looked {
  value: unknown;
  text: string;
}

/**
 * One render: its context, its budget and the values it looked up, so `{{ alerts }}` × N serialises once.
 * Looked-up values are kept by the path they name, not by how the placeholder spells it: `environment`,
 * `["environment"]` and `['e\nvironment']`-style spellings are one lookup (before, 4,096 spellings of one
 * path were each serialised and kept).
 */
class Render {
  /** By the placeholder's text: its path's key, or null when it is not a plain path. */
  private readonly keys = new Map<string, string | null>();
  private readonly looked = new Map<string, Looked>();

  constructor(
    readonly ctx: TemplateContext,
    readonly budget: RenderBudget,
  ) {}

  private keyOf(path: string): { key: string; segments: ReturnType<typeof parsePath> } | null {
    const known = this.keys.get(path);
    if (known === null) return null;
    if (known !== undefined) return { key: known, segments: null };
    const segments = parsePath(path);
    const key = segments === null ? null : JSON.stringify(segments);
    this.keys.set(path, key);
    return key === null ? null : { key, segments };
  }

  /** Whether `path` is a plain path (a placeholder that is not one stays as written). */
  isPath(path: string): boolean {
    return this.keyOf(path) !== null;
  }

  /** The value at `path` and its text; null when `path` is not a plain path. */
  lookup(path: string): Looked | null {
    const k = this.keyOf(path);
    if (k === null) return null;
    let found = this.looked.get(k.key);
    if (found === undefined) {
      const value = getPath(this.ctx, k.segments ?? parsePath(path)!);
      found = { value, text: stringify(value) };
      this.looked.set(k.key, found);
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
    // A full field takes no value: nothing is looked up for it.
    if (field.full) {
      if (!render.isPath(pathOf(m))) out += m[0];
      continue;
    }
    const found = render.lookup(pathOf(m));
    if (found === null) out += m[0];
    else {
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
  const scan = new JsonScan();
  let last = 0;
  /** In place of a value that does not fit: the marker as a string the first time, then null. */
  const markOnce = (): string => {
    const first = !field.full;
    field.full = true;
    return first ? JSON.stringify(TRUNCATED) : 'null';
  };
  for (const m of tpl.matchAll(new RegExp(PLACEHOLDER.source, 'g'))) {
    const literal = tpl.slice(last, m.index);
    scan.feed(literal);
    out += literal;
    last = m.index + m[0].length;
    const inString = scan.inString;
    // A `\` of the rule's right before the value would escape the value's first character: a value
    // starting with `"` then ended the string (`"\{{ incident.title }}"`), and one inside `\u` gave its hex
    // digits. Rules are refused so ({@link jsonTemplateProblems}); one stored before is rendered with the
    // escape completed (the `\` doubled, the missing digits `0`), and the value stays inside the string.
    out += scan.takeOpenEscape();
    // A full field takes no value: inside a string nothing, outside one null, and nothing is looked up.
    if (field.full && render.isPath(pathOf(m))) {
      if (!inString) out += 'null';
      continue;
    }
    const found = render.lookup(pathOf(m));
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

/** Reads a JSON template's literal text, between its placeholders, for where a placeholder stands. */
class JsonScan {
  /** Whether the text read so far ends inside a JSON string. */
  inString = false;
  /** Whether it ends with a `\` inside a string whose escaped character is still to come. */
  private escaping = false;
  /** Hex digits a `\u` escape it ends inside still needs (0: none open). */
  private hexLeft = 0;

  feed(literal: string): void {
    for (const ch of literal) {
      if (this.hexLeft > 0) this.hexLeft = /[0-9a-fA-F]/.test(ch) ? this.hexLeft - 1 : 0;
      else if (this.escaping) {
        this.escaping = false;
        if (ch === 'u') this.hexLeft = 4;
      } else if (this.inString && ch === '\\') this.escaping = true;
      else if (ch === '"') this.inString = !this.inString;
    }
  }

  /**
   * What completes an escape a placeholder here would otherwise finish: `\` after an unpaired `\` (a
   * backslash of its own), the missing hex digits as `0` inside a `\u` escape; '' when none is open. The
   * escape is closed either way.
   */
  takeOpenEscape(): string {
    const open = this.escaping ? '\\' : '0'.repeat(this.hexLeft);
    this.escaping = false;
    this.hexLeft = 0;
    return open;
  }
}

/**
 * Problems of a webhook body meant as JSON (starting with `{` or `[`): a placeholder that would finish an
 * escape the rule opened inside a string, right after an unpaired `\` (the value's first character
 * escaped: a value starting with `"` would end the string) or inside `\u` and its four hex digits (the
 * value's characters taken for them). Empty for any other body.
 */
export function jsonTemplateProblems(tpl: string): TemplateProblem[] {
  if (!looksLikeJson(tpl)) return [];
  const problems: TemplateProblem[] = [];
  const scan = new JsonScan();
  let last = 0;
  for (const m of tpl.matchAll(new RegExp(PLACEHOLDER.source, 'g'))) {
    scan.feed(tpl.slice(last, m.index));
    last = m.index + m[0].length;
    const open = scan.takeOpenEscape();
    if (open === '\\') {
      problems.push({ placeholder: m[0], message: `${m[0]} follows a \\ inside a JSON string, which would escape the value's first character: write \\\\ for a backslash before it, or drop the \\` });
    } else if (open !== '') {
      problems.push({ placeholder: m[0], message: `${m[0]} stands inside a \\u escape of a JSON string, whose four hex digits the value's characters would finish: write the escape whole before it` });
    }
  }
  return problems;
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
