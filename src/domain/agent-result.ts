/**
 * What a Doctor agent answers is untrusted: an agent runs inside the environment it serves, and a
 * compromised one can return any JSON as its activity result. Before a workflow uses or records it, the
 * result is reduced to the documented shape here: an integer exit code or null, bounded strings, a flag,
 * and a link only when it is a plain http(s) URL (no `javascript:`, `data:` or other scheme, no
 * credentials, no spaces or quotes, at most LINK_MAX characters). Work-item URLs pass the same check
 * where action runs are recorded.
 *
 * Pure (no URL parser: workflows import it), hand-written because it is a few lines of checks.
 */
import { cutAt } from './text.js';

export const LINK_MAX = 2048;
/** Longest output or error kept from an agent's answer (action runs keep less; jobs keep the tail). */
export const AGENT_TEXT_MAX = 64 * 1024;

// Scheme, then an authority, then anything but whitespace, controls, quotes, angle brackets and backslashes.
const LINK_PATTERN = /^https?:\/\/([^/?#\s\\]+)([/?#][^\s<>"'`\\]*)?$/i;

function hasControl(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}
const HOST_PATTERN = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/i;

/** The link when it is a safe http(s) URL, else undefined (the caller drops it). */
export function safeLink(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > LINK_MAX || hasControl(value)) return undefined;
  const m = LINK_PATTERN.exec(value);
  if (!m) return undefined;
  // `user:pass@host` is refused: a link never carries credentials, and `@` hides the real host from a reader.
  if (!HOST_PATTERN.test(m[1]!)) return undefined;
  return value;
}

export interface AgentScriptOutcome {
  exitCode: number | null;
  outputExcerpt: string;
  error?: string | undefined;
  link?: string | undefined;
  timedOut?: boolean;
  durationMs?: number;
}

// A UTF-16 surrogate without its other half. JSON.stringify writes it as `\ud800`, which Postgres jsonb
// refuses ("invalid input syntax for type json"): the write, and the activity making it, would fail forever.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** `value` with NUL and lone surrogates shown as U+FFFD (Postgres text and jsonb cannot hold them). */
function storable(value: string): string {
  return value.replaceAll('\0', '\uFFFD').replace(LONE_SURROGATE, '\uFFFD');
}

/** At most `max` characters, NUL and lone surrogates shown as U+FFFD, never cut inside a surrogate pair. */
function boundedText(value: unknown, max: number): string | undefined {
  if (typeof value !== 'string') return undefined;
  const text = storable(value);
  return text.length <= max ? text : `${cutAt(text, max)}\n…[${text.length - max} more characters]`;
}

/**
 * The end of `text`, at most `max` characters (a script prints its result last), NUL and lone surrogates
 * shown as U+FFFD, never cut inside a surrogate pair; what was cut is marked at the start. Pure: the job
 * workflow keeps what it records this short.
 */
export function tailText(text: string, max: number): string {
  const t = storable(text);
  if (t.length <= max) return t;
  let from = t.length - max + 1;
  // After storable(), a low surrogate is always the second half of a pair: start after the whole pair.
  const code = t.charCodeAt(from);
  if (code >= 0xdc00 && code <= 0xdfff) from++;
  return `…${t.slice(from)}`;
}

/**
 * An agent's answer reduced to AgentScriptOutcome. Anything else in it is dropped; a wrong type becomes
 * the neutral value (exit code null, empty output), and an answer that is not an object at all is a
 * failed run that says so.
 */
export function agentOutcome(raw: unknown): AgentScriptOutcome {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { exitCode: null, outputExcerpt: '', error: 'the agent answered something that is not a script result' };
  const r = raw as Record<string, unknown>;
  const exitCode = typeof r.exitCode === 'number' && Number.isInteger(r.exitCode) && r.exitCode >= -2147483648 && r.exitCode <= 2147483647 ? r.exitCode : null;
  const out: AgentScriptOutcome = { exitCode, outputExcerpt: boundedText(r.outputExcerpt, AGENT_TEXT_MAX) ?? '' };
  const error = boundedText(r.error, AGENT_TEXT_MAX);
  if (error) out.error = error;
  else if (exitCode === null && r.timedOut !== true) out.error = 'the agent reported no exit code';
  const link = safeLink(r.link);
  if (link) out.link = link;
  if (typeof r.timedOut === 'boolean') out.timedOut = r.timedOut;
  if (typeof r.durationMs === 'number' && Number.isFinite(r.durationMs) && r.durationMs >= 0) out.durationMs = Math.round(r.durationMs);
  return out;
}
