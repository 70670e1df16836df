// Cutting text to a bound. A JS string is UTF-16: a cut between the two halves of a surrogate pair (an
// emoji, say) leaves a lone surrogate, which JSON.stringify writes as `\ud83d` and Postgres jsonb refuses
// ("invalid input syntax for type json"), so a row holding it could never be written.

/** `text` cut to at most `n` UTF-16 units, never between the halves of a surrogate pair. */
export function cutAt(text: string, n: number): string {
  if (text.length <= n) return text;
  const code = text.charCodeAt(n - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? n - 1 : n);
}

/** C0 and C1 controls, DEL, and the line, paragraph and bidi controls (the class body of a regular expression). */
const BREAKING = '\\u0000-\\u001f\\u007f-\\u009f\\u061c\\u200e\\u200f\\u2028-\\u202e\\u2066-\\u2069';
const LINE_BREAKING = new RegExp(`[${BREAKING}]+`, 'g');

/**
 * `text` on one line: every run of line breaks (LF, CR, U+2028, U+2029, NEL), other control characters
 * (C0, DEL, C1) and bidi controls becomes one space. For values others write (an alert's host) put into a
 * text of ours whose lines mean something: an approval request's `Approve:` and `Reject:` lines.
 */
export function singleLine(text: string): string {
  return text.replace(LINE_BREAKING, ' ');
}

/**
 * The start of `value`'s JSON text, at least `max` characters of it when it is that long (`cut` then),
 * written only that far: JSON.stringify writes all of a 3 MiB value to show its first 120 characters, and a
 * rule explanation did that once per predicate (a read token's rule test froze the API for seconds).
 * Hand-written: no kept library stops serialising at a length. As JSON.stringify: `toJSON` is called,
 * functions and undefined are left out of objects and are null in arrays; a cycle stops at the bound.
 */
export function jsonPrefix(value: unknown, max: number): { text: string; cut: boolean } {
  let out = '';
  const full = () => out.length > max;
  const write = (v: unknown): void => {
    if (full()) return;
    if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function') v = (v as { toJSON: () => unknown }).toJSON();
    if (typeof v === 'string') {
      out += JSON.stringify(cutAt(v, max + 1 - Math.min(out.length, max)));
      return;
    }
    if (typeof v === 'number') {
      out += Number.isFinite(v) ? String(v) : 'null';
      return;
    }
    if (typeof v === 'boolean' || v === null) {
      out += String(v);
      return;
    }
    if (typeof v === 'bigint') throw new TypeError('Do not know how to serialize a BigInt');
    if (Array.isArray(v)) {
      out += '[';
      for (let i = 0; i < v.length && !full(); i++) {
        if (i > 0) out += ',';
        const item: unknown = v[i];
        if (item === undefined || typeof item === 'function' || typeof item === 'symbol') out += 'null';
        else write(item);
      }
      out += ']';
      return;
    }
    if (typeof v === 'object') {
      out += '{';
      let first = true;
      for (const key of Object.keys(v)) {
        if (full()) break;
        const item: unknown = (v as Record<string, unknown>)[key];
        if (item === undefined || typeof item === 'function' || typeof item === 'symbol') continue;
        if (!first) out += ',';
        first = false;
        out += `${JSON.stringify(cutAt(key, max + 1))}:`;
        write(item);
      }
      out += '}';
    }
  };
  write(value);
  return out.length > max ? { text: cutAt(out, max), cut: true } : { text: out, cut: false };
}

const utf8 = new TextEncoder();

/** UTF-8 bytes of `value`'s JSON, as Temporal's JSON payload converter and Postgres jsonb input receive it (0 for undefined). */
export function jsonBytes(value: unknown): number {
  const text = JSON.stringify(value);
  return text === undefined ? 0 : utf8.encode(text).length;
}

/**
 * `text` in at most `maxBytes` bytes of UTF-8: whole when it fits, else the longest start of it that fits
 * with `marker` after it (never half a character), then the marker. Only the part that fits is encoded:
 * a value of hundreds of MB costs no more than a short one.
 */
export function cutUtf8(text: string, maxBytes: number, marker = ''): string {
  if (text.length * 3 <= maxBytes) return text;
  if (utf8.encodeInto(text, new Uint8Array(maxBytes)).read === text.length) return text;
  const room = Math.max(0, maxBytes - utf8.encode(marker).length);
  return text.slice(0, utf8.encodeInto(text, new Uint8Array(room)).read) + marker;
}

/**
 * `text` without the slashes it ends with (a base URL from configuration, before a path is added). A loop:
 * `text.replace(/\/+$/, '')` tries the run of slashes from each of its positions, so a long run not at the
 * end (100,000 slashes and an `x`) took V8 seconds.
 */
export function trimTrailingSlashes(text: string): string {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0x2f) end--;
  return end === text.length ? text : text.slice(0, end);
}
