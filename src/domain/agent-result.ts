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
export const LINK_MAX = 2048;

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

/**
 * `value` with NUL and lone surrogates shown as U+FFFD (Postgres text and jsonb cannot hold them). A UTF-16
 * surrogate without its other half is written `\ud800` by JSON.stringify, which Postgres jsonb refuses
 * ("invalid input syntax for type json"): the write, and the activity making it, would fail forever.
 */
function storable(value: string): string {
  return value.replaceAll('\0', '\uFFFD').toWellFormed();
}

/**
 * The most a tail kept by tailText takes once JSON-encoded, in UTF-8 bytes, quotes included: what it costs
 * in a Temporal payload (the JSON payload converter) and in a jsonb row, whatever the output held. Plain
 * text of 4,000 characters fits (a newline, quote or backslash takes 2 bytes, so a little less of such text
 * does); text of multi-byte characters keeps fewer characters (about 1,360 of U+FFFD, 3 bytes each).
 */
export const TAIL_JSON_BYTES = 4096;

// Terminal escape sequences a script prints (colours above all: `ls --color`, systemctl, test runners):
// CSI (ESC [ … final byte: colours, cursor moves, erases), OSC (ESC ] … BEL or ESC \: window titles,
// OSC 8 links), DCS, PM and APC strings (ESC P, ESC ^, ESC _ … ESC \), and the short ones (ESC ( B,
// ESC 7, ESC =). Removed: in a dashboard's <pre> they are noise around the text a person reads.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const ESCAPE_SEQUENCE = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[P^_][^\x1b]*\x1b\\|\x1b[ -/]*[0-~]/g;
// Other control characters but tab, newline and CR (C0, DEL, C1): JSON writes a C0 character as `\u00XX`,
// six bytes for one, and none of them shows as anything a reader could use.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]/g;

/** `text` as a reader sees it: escape sequences removed; other controls (NUL among them) and lone surrogates shown as U+FFFD (storable). */
function readable(text: string): string {
  return storable(text.replace(ESCAPE_SEQUENCE, '').replace(CONTROL, '\uFFFD'));
}

/** Bytes the UTF-16 unit `c` (a whole pair counted at its high half, 4) takes in JSON.stringify's UTF-8 output. */
function jsonBytes(c: number): number {
  if (c === 0x22 || c === 0x5c) return 2; // \" and \\
  if (c < 0x20) return c === 0x09 || c === 0x0a || c === 0x0d || c === 0x08 || c === 0x0c ? 2 : 6;
  if (c < 0x80) return 1;
  if (c < 0x800) return 2;
  if (c >= 0xd800 && c <= 0xdbff) return 4;
  if (c >= 0xdc00 && c <= 0xdfff) return 0; // counted with its high half (readable() left no lone one)
  return 3;
}

/** Whether `t` (as readable() leaves it) is within both bounds whole; counts its bytes no further than the bound. */
function fits(t: string, max: number, maxJsonBytes: number): boolean {
  if (t.length > max) return false;
  let bytes = 2;
  for (let i = 0; i < t.length && bytes <= maxJsonBytes; i++) bytes += jsonBytes(t.charCodeAt(i));
  return bytes <= maxJsonBytes;
}

/**
 * The end of `text` (a script prints its result last), at most `max` UTF-16 units and, once JSON-encoded,
 * at most `maxJsonBytes` UTF-8 bytes (TAIL_JSON_BYTES; quotes included), whatever the text holds: escape
 * sequences (ANSI colours) removed; other control characters but tab, newline and CR, NUL and lone
 * surrogates shown as U+FFFD; never cut inside a surrogate pair; what was cut is marked with `…` at the
 * start (counted in both bounds). Idempotent: a tail cut again with the same bounds is unchanged. Pure:
 * the job workflow keeps what it records this short, and the agent and the SSH activity answer no more.
 */
export function tailText(text: string, max: number, maxJsonBytes = TAIL_JSON_BYTES): string {
  const t = readable(text);
  if (fits(t, max, maxJsonBytes)) return t;
  // Room after the marker: `…` is one unit and 3 bytes, and the quotes 2 bytes.
  const units = max - 1;
  let room = maxJsonBytes - 5;
  let from = t.length;
  while (from > 0) {
    // A pair is taken whole, from its high half: never a low half alone.
    const low = t.charCodeAt(from - 1);
    const width = low >= 0xdc00 && low <= 0xdfff && from >= 2 ? 2 : 1;
    const cost = jsonBytes(t.charCodeAt(from - width));
    if (t.length - (from - width) > units || cost > room) break;
    room -= cost;
    from -= width;
  }
  return `…${t.slice(from)}`;
}

/**
 * The start of `text`, bounded as tailText bounds its end (same characters shown, same two bounds), what
 * was cut marked with `…` at the end. For an error message: it says first what failed, and what it quotes
 * (a peer's answer, an earlier attempt's message) comes after. Idempotent, pure.
 */
export function headText(text: string, max: number, maxJsonBytes = TAIL_JSON_BYTES): string {
  const t = readable(text);
  if (fits(t, max, maxJsonBytes)) return t;
  const units = max - 1;
  let room = maxJsonBytes - 5;
  let to = 0;
  while (to < t.length) {
    // A pair is taken whole, from its high half: never a high half alone.
    const high = t.charCodeAt(to);
    const width = high >= 0xd800 && high <= 0xdbff && to + 1 < t.length ? 2 : 1;
    const cost = jsonBytes(high);
    if (to + width > units || cost > room) break;
    room -= cost;
    to += width;
  }
  return `${t.slice(0, to)}…`;
}

/**
 * Most kept of an action's output (a rule run's, as of a job's target): its end (tailText), at most this
 * many characters and TAIL_JSON_BYTES once JSON-encoded. What the run records, shows, passes to the
 * actions after it (`{{ results.<id>.outputExcerpt }}`) and to its summary note: a script prints its result last.
 */
export const OUTPUT_CHARS = 4000;
/** Most kept of an action's error: its start (headText), at most this many characters and ERROR_JSON_BYTES. */
export const ERROR_CHARS = 2000;
export const ERROR_JSON_BYTES = 2048;

/** An action's output as kept (OUTPUT_CHARS): the end, whatever the script, agent or peer sent. */
export const outputText = (text: string): string => tailText(text, OUTPUT_CHARS);
/** An action's error as kept (ERROR_CHARS): the start, whatever the script, agent or failure said. */
export const errorText = (text: string): string => headText(text, ERROR_CHARS, ERROR_JSON_BYTES);

const STDERR_HEADING = '--- stderr ---';

/**
 * A finished script's stdout and stderr as one output, bounded as outputText: `stdout`, then
 * `--- stderr ---` and `stderr`. When the whole does not fit, each stream keeps its end, stderr at most
 * half of the room, so a script's result (printed last on stdout) is not pushed out by a noisy stderr.
 */
export function scriptOutputText(stdout: string, stderr: string): string {
  const whole = (out: string, err: string) => [out, err ? `${STDERR_HEADING}\n${err}` : ''].filter(Boolean).join('\n');
  const all = outputText(whole(stdout, stderr));
  if (!stdout || !stderr || !all.startsWith('…')) return all;
  // Room for each stream: the heading and its two newlines (16 characters, 18 bytes as JSON) and the quotes.
  const err = tailText(stderr, Math.floor(OUTPUT_CHARS / 2), Math.floor(TAIL_JSON_BYTES / 2));
  const errBytes = jsonByteLength(err);
  const out = tailText(stdout, OUTPUT_CHARS - err.length - STDERR_HEADING.length - 2, TAIL_JSON_BYTES - errBytes - (STDERR_HEADING.length + 4));
  return outputText(whole(out, err));
}

/** What `text` (as readable() leaves it: tailText's and headText's results) takes once JSON-encoded, quotes included. */
function jsonByteLength(text: string): number {
  let bytes = 2;
  for (let i = 0; i < text.length; i++) bytes += jsonBytes(text.charCodeAt(i));
  return bytes;
}

/**
 * An exit code as it may be recorded: an integer that fits Postgres's `integer` (int32), or null. The
 * action-run and job-target exit-code columns are `integer`: a larger value makes the write fail ("integer
 * out of range") on every retry, and the run never ends. An agent's answer and an SSH host's exit status
 * (ssh2 reads it as a uint32: a hostile host may send 4294967295, Windows OpenSSH 0xC0000005) both pass here.
 */
export function recordableExitCode(value: unknown): number | null {
  return typeof value === 'number' && Number.isInteger(value) && value >= -2147483648 && value <= 2147483647 ? value : null;
}

/** A signal name as a host may report it (ssh2 prefixes the name the host sent with `SIG`): short, capitals and digits only. */
const SIGNAL_NAME = /^SIG[A-Z0-9]{1,29}$/;

/** The signal name when it has the form of one (SIGNAL_NAME, at most 32 characters), else undefined. */
export function signalName(value: string): string | undefined {
  return SIGNAL_NAME.test(value) ? value : undefined;
}

/**
 * What a script run that did not succeed says of itself: its own error, else what its exit says. An agent's
 * answer of a timeout with no exit code and no error (agentOutcome leaves it so) read "exit code null".
 */
export function failureText(r: { exitCode?: number | null | undefined; timedOut?: boolean | undefined; error?: string | undefined }): string {
  if (r.error !== undefined) return r.error;
  const code = r.exitCode ?? null;
  if (r.timedOut === true) return code === null ? 'timed out (the agent gave no error and no exit code)' : `timed out (exit code ${code})`;
  return code === null ? 'no exit code' : `exit code ${code}`;
}

/**
 * An agent's answer reduced to AgentScriptOutcome. Anything else in it is dropped; a wrong type becomes
 * the neutral value (exit code null, empty output), and an answer that is not an object at all is a
 * failed run that says so.
 */
export function agentOutcome(raw: unknown): AgentScriptOutcome {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { exitCode: null, outputExcerpt: '', error: 'the agent answered something that is not a script result' };
  const r = raw as Record<string, unknown>;
  const exitCode = recordableExitCode(r.exitCode);
  const out: AgentScriptOutcome = { exitCode, outputExcerpt: typeof r.outputExcerpt === 'string' ? outputText(r.outputExcerpt) : '' };
  const error = typeof r.error === 'string' ? errorText(r.error) : undefined;
  if (error) out.error = error;
  else if (exitCode === null && r.timedOut !== true) out.error = 'the agent reported no exit code';
  const link = safeLink(r.link);
  if (link) out.link = link;
  if (typeof r.timedOut === 'boolean') out.timedOut = r.timedOut;
  if (typeof r.durationMs === 'number' && Number.isFinite(r.durationMs) && r.durationMs >= 0) out.durationMs = Math.round(r.durationMs);
  return out;
}
