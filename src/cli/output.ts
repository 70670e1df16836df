// Output helpers shared by the commands: tab-separated tables for people and scripts, JSON for --json,
// and the one place where what the CLI writes is made safe for a terminal.
//
// Terminal safety: incident titles, custom details, script output, error texts and names come from
// people and machines the SRE does not control. main() wraps every Io in `terminalSafe`, so all the CLI
// writes passes through one of the escapes below and no command can forget it. Characters a terminal
// would act on are written as visible JSON-style escapes: C0 controls but tab and newline (ESC starts
// CSI/OSC sequences: cursor moves, erases, window titles, OSC 52 clipboard writes, OSC 8 links; CR and
// BS overwrite), DEL, C1 (U+0080–U+009F; U+009B is a one-byte CSI), bidi controls (U+061C,
// U+200E/U+200F, U+202A–U+202E, U+2066–U+2069) and U+2028/U+2029 become `\u001b`, `\r`, `\b`, `\f`,
// `\u202e`. Three forms:
// - text (`neutralise`; what main() and commander write: help, error messages): those escapes, and a
//   backslash is written as `\\`, so a title holding the six characters `\u001b` shows as `\\u001b`
//   and never looks like an escaped ESC. A CRLF line end becomes a plain newline. In the message of a
//   failed command (`printError`) only the CLI's own text keeps its line breaks: the parts it quotes
//   from a server (`Quoted`: a problem's title, detail and field errors) are written as one line.
// - one line (`oneLine`; every io.out / io.err of a command, as each command module takes its Io
//   through `linePerWrite`): the same, and a newline is `\n` (a CR `\r`), so one write is exactly one
//   line and a value can never fake a line of its own (`status: succeeded`); table cells also show a
//   tab as `\t`. A command that means several lines writes them one by one.
// - data (`printJson`, `printData`: --json and the YAML the CLI prints): JSON and YAML escape their
//   backslashes themselves, so only the characters above are escaped, as \uXXXX, which is valid inside
//   JSON and YAML double-quoted strings: the output still parses to exactly the server's values
//   (JSON.stringify already escapes C0 but leaves DEL, C1, bidi controls and U+2028/U+2029 raw).
//   `yamlText` double-quotes every string holding such a character, so there an escape is a YAML
//   escape; a backslash of a plain or single-quoted YAML string is, by YAML's rules, the backslash itself.
// The CLI itself prints no colour or other escape sequences, so nothing of its own is lost.
// Hand-written (a regular expression and a table) because the libraries do something else: strip-ansi
// and util.stripVTControlCharacters delete escape sequences (hiding that they were there) and keep
// bare C0, C1 and bidi controls; jsesc either escapes every non-ASCII character (mangling names,
// accents, the ✓/✗ marks) or, with `minimal`, leaves ESC, C1 and bidi controls raw.
import { Document, visit, type ToStringOptions } from 'yaml';
import type { Io } from './context.js';
import { Quoted, type MessagePart } from './errors.js';

/** What a terminal acts on (but tab and newline): the class body shared by the forms below. */
const CONTROLS = '\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f\\u061c\\u200e\\u200f\\u2028-\\u202e\\u2066-\\u2069';
const DATA = new RegExp(`\\r\\n|[${CONTROLS}]`, 'g');
const TEXT = new RegExp(`\\r\\n|[\\\\${CONTROLS}]`, 'g');
const LINE = new RegExp(`[\\\\\\n${CONTROLS}]`, 'g');
const CELL = new RegExp(`[\\\\\\t\\n${CONTROLS}]`, 'g');
const ESCAPED = new RegExp(`[${CONTROLS}]`);
const SHORT: Record<string, string> = { '\r\n': '\n', '\\': '\\\\', '\n': '\\n', '\t': '\\t', '\b': '\\b', '\f': '\\f', '\r': '\\r' };

const escape = (re: RegExp, text: string) => text.replace(re, (c) => SHORT[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** `text` with every character a terminal would act on (see the header) and every backslash written as a visible escape; newlines stay. */
export function neutralise(text: string): string {
  return escape(TEXT, text);
}

/** `value` as one line: as `neutralise`, and newlines, CRs and tabs shown as `\n`, `\r`, `\t` (a table cell). */
export function oneLine(value: unknown): string {
  return escape(CELL, value === null || value === undefined ? '' : String(value));
}

/** Where an Io made by `terminalSafe` or `linePerWrite` writes text that is already safe. */
const sinks = new WeakMap<Io, Pick<Io, 'out' | 'err'>>();
const sinkOf = (io: Io): Pick<Io, 'out' | 'err'> => sinks.get(io) ?? io;

/** `io` whose out and err write `neutralise`d text. main() applies it to every Io. */
export function terminalSafe(io: Io): Io {
  const safe: Io = { out: (t) => io.out(neutralise(t)), err: (t) => io.err(neutralise(t)), env: io.env };
  sinks.set(safe, { out: (t) => io.out(t), err: (t) => io.err(t) });
  return safe;
}

/**
 * `rt` whose io writes exactly one line per out / err: the text escaped as `oneLine` but tabs kept (a
 * newline or CR in a value is shown as `\n` / `\r`, never starts a line). Every command module takes
 * its Runtime through it; JSON and YAML go through `printJson` / `printData`, tables through `table`.
 */
export function linePerWrite<R extends { io: Io }>(rt: R): R {
  const sink = sinkOf(rt.io);
  const io: Io = { out: (t) => sink.out(escape(LINE, t)), err: (t) => sink.err(escape(LINE, t)), env: rt.io.env };
  sinks.set(io, sink);
  return { ...rt, io };
}

/**
 * A failed command's message (a CliError's parts) on stderr: the CLI's own text as `neutralise` (its
 * line breaks kept: usage, hints, one line per field error), each `Quoted` part as one line as
 * `linePerWrite` writes it (a newline or CR in it is `\n` / `\r`), so the server's text cannot forge a line.
 */
export function printError(io: Io, parts: readonly MessagePart[]): void {
  sinkOf(io).err(parts.map((p) => (p instanceof Quoted ? escape(LINE, p.text) : neutralise(p))).join(''));
}

/** One line of tab-separated cells (empty for null and undefined); a cell never breaks its row, a tab in it is `\t`. */
export function tableRow(io: Io, cells: unknown[]): void {
  sinkOf(io).out(cells.map(oneLine).join('\t'));
}

/** A header line and one line per row (`tableRow`). */
export function table(io: Io, header: string[], rows: unknown[][]): void {
  tableRow(io, header);
  for (const r of rows) tableRow(io, r);
}

/** JSON or YAML text (several lines) as it is, but for the characters a terminal would act on (\uXXXX escapes, valid in both). */
export function printData(io: Io, text: string): void {
  sinkOf(io).out(escape(DATA, text));
}

export function printJson(io: Io, value: unknown): void {
  printData(io, JSON.stringify(value, null, 2));
}

/**
 * `value` as YAML in which every string holding a character the terminal escapes is double-quoted, so
 * the escapes written on the terminal are YAML escapes of the same characters (a plain scalar would
 * show them but change the value when the output is saved and applied).
 */
export function yamlText(value: unknown, options?: ToStringOptions): string {
  const doc = new Document(value);
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value === 'string' && ESCAPED.test(node.value)) node.type = 'QUOTE_DOUBLE';
    },
  });
  return doc.toString(options);
}

/** A value as short JSON for one line of a diff. */
export function short(v: unknown): string {
  const s = v === undefined ? '(none)' : JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
