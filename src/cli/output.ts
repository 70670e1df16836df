// Output helpers shared by the commands: tab-separated tables for people and scripts, JSON for --json.
import type { Io } from './context.js';

/** A header line and one line per row, cells separated by tabs (empty for null and undefined). */
export function table(io: Io, header: string[], rows: unknown[][]): void {
  io.out(header.join('\t'));
  for (const r of rows) io.out(r.map((v) => (v === null || v === undefined ? '' : String(v))).join('\t'));
}

export function printJson(io: Io, value: unknown): void {
  io.out(JSON.stringify(value, null, 2));
}

/** A value as short JSON for one line of a diff. */
export function short(v: unknown): string {
  const s = v === undefined ? '(none)' : JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
