// Output helpers shared by the commands: tab-separated tables for people and scripts, JSON for --json,
// and the one place where what the CLI writes is made safe for a terminal.
//
// Terminal safety: incident titles, custom details, script output, error texts and names come from
// people and machines the SRE does not control. main() wraps every Io in `terminalSafe`, so each line
// a command writes passes through `neutralise` and no command can forget it: C0 controls but tab and
// newline (ESC starts CSI/OSC sequences: cursor moves, erases, window titles, OSC 52 clipboard writes,
// OSC 8 links; CR and BS overwrite), DEL, C1 (U+0080–U+009F; U+009B is a one-byte CSI), bidi
// controls (U+061C, U+200E/U+200F, U+202A–U+202E, U+2066–U+2069) and U+2028/U+2029 are written as
// visible JSON-style escapes (`\u001b`, `\r`, `\u202e`). A CRLF line end becomes a plain newline.
// Those escapes are valid inside JSON and YAML double-quoted strings, so --json output and the YAML
// the CLI prints (`yamlText`) still parse to exactly the server's values: JSON.stringify already
// escapes C0 but leaves DEL, C1, bidi controls and U+2028/U+2029 raw; here they become \uXXXX.
// The CLI itself prints no colour or other escape sequences, so nothing of its own is lost.
// Hand-written (a regular expression and a switch) because the libraries do something else: strip-ansi
// and util.stripVTControlCharacters delete escape sequences (hiding that they were there) and keep
// bare C0, C1 and bidi controls; jsesc either escapes every non-ASCII character (mangling names,
// accents, the ✓/✗ marks) or, with `minimal`, leaves ESC, C1 and bidi controls raw.
import { Document, visit, type ToStringOptions } from 'yaml';
import type { Io } from './context.js';

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /\r\n|[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;
const UNSAFE_ONE = new RegExp(UNSAFE.source.replace(/^\\r\\n\|/, ''));
const SHORT: Record<string, string> = { '\r\n': '\n', '\b': '\\b', '\f': '\\f', '\r': '\\r' };

/** `text` with every character a terminal would act on (see the header) written as a visible escape. */
export function neutralise(text: string): string {
  return text.replace(UNSAFE, (c) => SHORT[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `io` whose out and err write `neutralise`d text. main() applies it to every Io. */
export function terminalSafe(io: Io): Io {
  return { out: (t) => io.out(neutralise(t)), err: (t) => io.err(neutralise(t)), env: io.env };
}

/** A value as one line: newlines and tabs in it shown as `\n` and `\t` (a table cell, a title). */
export function oneLine(v: unknown): string {
  return (v === null || v === undefined ? '' : String(v)).replace(/\r?\n/g, '\\n').replace(/\t/g, '\\t');
}

/** A header line and one line per row, cells separated by tabs (empty for null and undefined); a cell never breaks its row. */
export function table(io: Io, header: string[], rows: unknown[][]): void {
  io.out(header.join('\t'));
  for (const r of rows) io.out(r.map(oneLine).join('\t'));
}

export function printJson(io: Io, value: unknown): void {
  io.out(JSON.stringify(value, null, 2));
}

/**
 * `value` as YAML in which every string holding a character `neutralise` escapes is double-quoted, so
 * the escapes written on the terminal are YAML escapes of the same characters (a plain scalar would
 * show them but change the value when the output is saved and applied).
 */
export function yamlText(value: unknown, options?: ToStringOptions): string {
  const doc = new Document(value);
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value === 'string' && UNSAFE_ONE.test(node.value)) node.type = 'QUOTE_DOUBLE';
    },
  });
  return doc.toString(options);
}

/** A value as short JSON for one line of a diff. */
export function short(v: unknown): string {
  const s = v === undefined ? '(none)' : JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
