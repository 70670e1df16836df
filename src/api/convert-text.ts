/**
 * The rule editor's YAML ⇄ JSON conversion, as plain functions: run in a worker thread of its own
 * (src/api/convert.ts), never on the API's event loop. No YAML library bounds how deep it nests or how long
 * it takes: the `yaml` package recurses once per level (about 800 flow levels ran the API's stack out, and
 * the allocation that failed next took the process down) and some 60 KB documents take seconds. So the
 * text is first scanned for its nesting, in one pass, its brackets are counted, and the parse runs under
 * the worker's time limit.
 */
import { isScalar, parseDocument, stringify, visit } from 'yaml';
import { DEFAULT_BODY_LIMITS, MAX_JSON_DEPTH, nestsDeeper } from './body.js';

/** The longest converted text answered: no rule that large could be sent back (a body is at most 1 MiB). */
export const MAX_CONVERTED = DEFAULT_BODY_LIMITS.maxBytes;

/** Block content may start this far right at most: each block level sits further right than its parent. */
export const MAX_YAML_COLUMN = 4 * MAX_JSON_DEPTH;

/**
 * The most flow-collection openers (`[`, `{`) a YAML document may hold, counted in its whole text (quoted
 * scalars, comments and block scalars included): the nesting scan follows YAML as written, but broken YAML
 * the parser recovers from (`- 'x' [a:`, `a: "x" [`) makes it read on into brackets the scan took for
 * text, and tens of thousands of them held it until its time limit. Ten thousand parse in a fraction of
 * that, and no rule holds as many.
 */
export const MAX_YAML_FLOW_OPENERS = 10_000;

/** Whether `text` holds more than `max` of `[` and `{`, stopping as soon as it does. */
export function flowOpenersPast(text: string, max = MAX_YAML_FLOW_OPENERS): boolean {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if ((ch === 0x5b || ch === 0x7b) && ++count > max) return true;
  }
  return false;
}

export interface ConvertRequest {
  text: string;
  from: 'json' | 'yaml';
  to: 'json' | 'yaml' | 'object';
}

export type Converted = { ok: true; text?: string; value: unknown } | { ok: false; detail: string; message: string };

const refused = (detail: string, message: string): Converted => ({ ok: false, detail, message });

/**
 * Whether YAML text nests past what the parser is asked to take, in one pass and without parsing: flow
 * collections (`[`, `{`) deeper than `maxFlow`, or block content (a key, a value, an item, after any
 * `- `, `? `, `: ` indicators) starting right of `maxColumn`, which bounds block nesting, compact
 * `- - -` sequences included. Quoted scalars, comments and block scalars' lines are skipped; a bracket
 * inside a plain scalar in block context (`title: a[1]`) is not an opener.
 */
export function yamlNestsPast(text: string, maxFlow = MAX_JSON_DEPTH, maxColumn = MAX_YAML_COLUMN): 'flow' | 'column' | undefined {
  let flow = 0;
  let quote = 0; // 0x22 ", 0x27 ', or 0 outside a quoted scalar
  let lineStart = 0;
  let indent = -1; // this line's indentation, once its first non-space character is seen
  let tokenStart = true; // where a scalar, a quote, an indicator or a flow collection may begin
  let blockScalarIndent = -1; // inside a block scalar (| or >): lines indented past this are its text
  let propertyColumn = -1; // where the properties (tag, anchor) of the node to come began, in block context
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x0a) {
      lineStart = i + 1;
      indent = -1;
      propertyColumn = -1;
      if (quote === 0) tokenStart = true;
      continue;
    }
    if (quote !== 0) {
      if (quote === 0x22 && ch === 0x5c) i++;
      else if (ch === quote) {
        if (quote === 0x27 && text.charCodeAt(i + 1) === 0x27) i++;
        else {
          quote = 0;
          tokenStart = false;
        }
      }
      continue;
    }
    // A byte order mark (the parser skips one anywhere a document may start) is not a token either.
    const space = ch === 0x20 || ch === 0x09 || ch === 0xfeff;
    if (indent < 0) {
      if (space) continue;
      indent = i - lineStart;
      if (blockScalarIndent >= 0) {
        if (ch === 0x0d || indent > blockScalarIndent) {
          // A line of the block scalar's text: nothing on it is YAML.
          const end = text.indexOf('\n', i);
          i = (end < 0 ? text.length : end) - 1;
          continue;
        }
        blockScalarIndent = -1;
      }
    }
    if (space) continue;
    const next = text.charCodeAt(i + 1);
    const endsToken = Number.isNaN(next) || next === 0x20 || next === 0x09 || next === 0x0a || next === 0x0d;
    if (ch === 0x23 && (i === lineStart || text.charCodeAt(i - 1) === 0x20 || text.charCodeAt(i - 1) === 0x09)) {
      // A comment, to the end of the line.
      const end = text.indexOf('\n', i);
      i = (end < 0 ? text.length : end) - 1;
      continue;
    }
    if (flow > 0) {
      if (ch === 0x5b || ch === 0x7b) {
        if (++flow > maxFlow) return 'flow';
        tokenStart = true;
      } else if (ch === 0x5d || ch === 0x7d) {
        flow--;
        tokenStart = false;
      } else if (ch === 0x2c) tokenStart = true;
      else if ((ch === 0x22 || ch === 0x27) && tokenStart) quote = ch;
      else if ((ch === 0x21 || ch === 0x26 || ch === 0x2a) && tokenStart) i = afterProperty(text, i) - 1;
      else if (!(ch === 0x3a && endsToken)) tokenStart = false;
      continue;
    }
    if (!tokenStart) {
      if (ch === 0x3a && endsToken) tokenStart = true; // `key: value`: the value starts a token
      continue;
    }
    // Block context, where a token may begin: it begins here, at this column; a node behind its properties
    // (a tag, an anchor) at the column where they begin, which they do not move deeper.
    // An alias (`*a`, refused later) is read the same way: the parser reads on behind one as well.
    if (ch === 0x21 || ch === 0x26 || ch === 0x2a) {
      if (propertyColumn < 0) {
        if (i - lineStart > maxColumn) return 'column';
        propertyColumn = i - lineStart;
      }
      i = afterProperty(text, i) - 1;
      continue;
    }
    const column = propertyColumn < 0 ? i - lineStart : propertyColumn;
    propertyColumn = -1;
    if (column > maxColumn) return 'column';
    if ((ch === 0x2d || ch === 0x3f || ch === 0x3a) && endsToken) continue; // `- `, `? `, `: `: block indicators
    // `---` and `...`, the document markers, start a line (after any byte order mark): the parser reads a
    // node after either on it.
    if ((ch === 0x2d || ch === 0x2e) && /^\uFEFF*$/.test(text.slice(lineStart, i)) && /^(?:---|\.\.\.)(?:[ \t\r\n]|$)/.test(text.slice(i, i + 4))) {
      i += 2;
      continue;
    }
    if (ch === 0x5b || ch === 0x7b) {
      if (++flow > maxFlow) return 'flow';
      continue;
    }
    if (ch === 0x22 || ch === 0x27) {
      quote = ch;
      continue;
    }
    if ((ch === 0x7c || ch === 0x3e) && blockScalarIndent < 0) blockScalarIndent = indent;
    tokenStart = false;
  }
  return undefined;
}

/**
 * Where a node's property that starts at `i` ends: a tag (`!!seq`, `!local`, `!<verbatim>`), an anchor
 * (`&name`), or an alias (`*name`). The node itself may follow, so the scan goes on there as at the start of a token. A property
 * ends at white space or at a flow indicator (neither anchors nor tag shorthands may hold one): a bracket
 * right after it is counted, never taken for the property's text.
 */
function afterProperty(text: string, i: number): number {
  if (text.startsWith('!<', i)) {
    const end = text.indexOf('>', i);
    return end < 0 ? text.length : end + 1;
  }
  let j = i + 1;
  while (j < text.length && !/[ \t\r\n,[\]{}]/.test(text.charAt(j))) j++;
  return j;
}

/**
 * YAML to a value: no aliases (a rule needs none, and each one may repeat an anchored node as large as the
 * document), keys unique. The `yaml` library's own duplicate-key check compares every key of a mapping
 * with every other (a 64 KiB mapping of short keys held the event loop about 0.5 s here), so it is off
 * and keys are checked once each, through a set, instead.
 */
function parseYaml(text: string): unknown {
  const doc = parseDocument(text, { uniqueKeys: false });
  if (doc.errors.length > 0) throw doc.errors[0]!;
  let duplicate: string | undefined;
  visit(doc, {
    Map(_, map) {
      const seen = new Set<string>();
      for (const pair of map.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        if (seen.has(key)) {
          duplicate = key;
          return visit.BREAK;
        }
        seen.add(key);
      }
      return undefined;
    },
  });
  if (duplicate !== undefined) throw new Error(`the key ${JSON.stringify(duplicate.slice(0, 100))} appears twice in one mapping`);
  return doc.toJS({ maxAliasCount: 0 });
}

/** The conversion, or why not (a problem's detail, and the message for `text`). */
export function convertText(body: ConvertRequest): Converted {
  const format = body.from.toUpperCase();
  const tooDeep = refused(`the ${format} document nests deeper than ${MAX_JSON_DEPTH} levels`, `nested deeper than ${MAX_JSON_DEPTH} levels`);
  let value: unknown;
  if (body.from === 'yaml') {
    const past = yamlNestsPast(body.text);
    if (past === 'flow') return tooDeep;
    if (past === 'column') return refused(`the YAML document has content starting past column ${MAX_YAML_COLUMN}`, `indented past column ${MAX_YAML_COLUMN}`);
    if (flowOpenersPast(body.text)) return refused(`the YAML document holds more than ${MAX_YAML_FLOW_OPENERS} "[" or "{"`, `holds more than ${MAX_YAML_FLOW_OPENERS} "[" or "{"`);
  }
  try {
    value = body.from === 'json' ? JSON.parse(body.text) : parseYaml(body.text);
  } catch (err) {
    const message = err instanceof ReferenceError ? 'YAML aliases (*name) are not supported: a rule needs none' : (err as Error).message.split('\n')[0]!;
    return refused(`not valid ${format}: ${message}`, message);
  }
  // The same depth limit as a JSON body: whatever walks the value next (the answer's encoder) may not cope with more.
  if (nestsDeeper(value)) return tooDeep;
  if (body.to === 'object') return { ok: true, value };
  const text = body.to === 'json' ? JSON.stringify(value, null, 2) : stringify(value, { lineWidth: 0 });
  if (text.length > MAX_CONVERTED) return refused(`the converted document is ${text.length} characters; the limit is ${MAX_CONVERTED}`, `converts to more than ${MAX_CONVERTED} characters`);
  return { ok: true, text, value };
}
