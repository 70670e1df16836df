/**
 * User-supplied regular expressions (rule conditions, environment extractors) on a linear-time engine.
 *
 * Patterns run on RE2JS, a pure-JavaScript port of RE2: matching never backtracks, so its time grows
 * linearly with the subject and the compiled program, whatever the pattern (`\d+\d+\d+\d+x`, `(a+)+$`
 * and friends are ordinary patterns here). JavaScript's own engine is never handed a user pattern.
 *
 * Syntax is RE2's (https://github.com/google/re2/wiki/Syntax): JavaScript's everyday syntax works as
 * is, named groups included (`(?<name>…)` or `(?P<name>…)`). What RE2 cannot express in linear time
 * (lookahead, lookbehind, backreferences, atomic groups) is refused when the pattern is saved, with a
 * reason naming the construct. Flags: `i` (case-insensitive), `m` (^ and $ at line ends), `s` (dot
 * matches newline) map to RE2's; `u` is accepted and changes nothing (RE2 always matches code points).
 *
 * Cost is bounded three ways:
 * - a pattern is at most {@link MAX_PATTERN_LENGTH} characters and compiles to at most
 *   {@link MAX_PROGRAM_SIZE} instructions (`\w{1000}` is 1,000; counted repetition is what makes a
 *   program large);
 * - subjects are cut to {@link MAX_SUBJECT_LENGTH} characters before matching;
 * - a rule's patterns together compile to at most {@link MAX_RULE_PROGRAM_SIZE} instructions (checked
 *   by the rule schema with {@link RegexBudget}, which stops compiling once a rule is over budget).
 * One call costs at most about program size × subject length steps: tens of milliseconds at the limits.
 *
 * Compiled patterns (and refusals) are kept in one cache shared by rules and extractors.
 *
 * Pure: no I/O, no clock; usable from activities and the API alike.
 */
import { RE2JS, RE2JSException } from 're2js';

export const MAX_PATTERN_LENGTH = 512;
export const MAX_PROGRAM_SIZE = 1000;
export const MAX_RULE_PROGRAM_SIZE = 2000;
export const MAX_SUBJECT_LENGTH = 16 * 1024;
export const REGEX_FLAGS = 'imsu';

/** A compiled user pattern. */
export interface UserRegex {
  readonly pattern: string;
  readonly flags: string;
  /** Instructions of the compiled program: what one match costs per subject character, roughly. */
  readonly programSize: number;
  /** Names of the named groups, in pattern order. */
  readonly groupNames: readonly string[];
  /** Whether the pattern matches anywhere in `subject` (cut to MAX_SUBJECT_LENGTH). */
  test(subject: string): boolean;
  /** Named groups of the first match in `subject` (cut to MAX_SUBJECT_LENGTH), or null; unmatched groups are absent. */
  groups(subject: string): Record<string, string> | null;
}

/** A refusal carries the program size when the pattern compiled but was too large (it cost that much to learn). */
export type RegexResult = { ok: true; regex: UserRegex } | { ok: false; reason: string; programSize?: number };

const CACHE_LIMIT = 10_000;
const cache = new Map<string, RegexResult>();

/**
 * Compile a user pattern with JavaScript-style flags (`imsu`), once: results, refusals included, are
 * cached by flags and pattern. Never throws.
 */
export function compileUserRegex(pattern: string, flags = ''): RegexResult {
  const key = `${flags}/${pattern}`;
  let result = cache.get(key);
  if (result === undefined) {
    result = compile(pattern, flags);
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(key, result);
  }
  return result;
}

/** Whether a pattern would be accepted, and if not why (a sentence naming the problem). */
export function checkRegex(pattern: string, flags = ''): { ok: true; programSize: number } | { ok: false; reason: string; programSize?: number } {
  const r = compileUserRegex(pattern, flags);
  return r.ok ? { ok: true, programSize: r.regex.programSize } : r;
}

/**
 * Compile budget for the patterns of one rule: once the patterns checked so far compile to more than
 * MAX_RULE_PROGRAM_SIZE instructions, further ones are refused without being compiled, so validating a
 * rule never compiles much more than one budget's worth of program.
 */
export class RegexBudget {
  private used = 0;

  constructor(readonly limit = MAX_RULE_PROGRAM_SIZE) {}

  check(pattern: string, flags = ''): { ok: true } | { ok: false; reason: string } {
    if (this.used > this.limit) return { ok: false, reason: this.overReason() };
    const r = checkRegex(pattern, flags);
    // A pattern refused for its size still cost its compilation: it counts against the budget.
    this.used += r.programSize ?? 0;
    if (!r.ok) return { ok: false, reason: r.reason };
    return this.used > this.limit ? { ok: false, reason: this.overReason() } : { ok: true };
  }

  private overReason(): string {
    return `the rule's regular expressions together compile to more than ${this.limit} instructions (counted repetition such as {100} is what makes them large); simplify or split the rule`;
  }
}

/** Cut a subject to the matching limit (on a code-point boundary). */
export function boundSubject(subject: string): string {
  if (subject.length <= MAX_SUBJECT_LENGTH) return subject;
  const end = isHighSurrogate(subject.charCodeAt(MAX_SUBJECT_LENGTH - 1)) ? MAX_SUBJECT_LENGTH - 1 : MAX_SUBJECT_LENGTH;
  return subject.slice(0, end);
}

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;

function compile(pattern: string, flags: string): RegexResult {
  if (typeof pattern !== 'string') return { ok: false, reason: 'pattern must be a string' };
  if (pattern.length === 0) return { ok: false, reason: 'pattern is empty' };
  if (pattern.length > MAX_PATTERN_LENGTH) return { ok: false, reason: `pattern is ${pattern.length} characters long; the limit is ${MAX_PATTERN_LENGTH}` };
  let bits = 0;
  for (const flag of flags) {
    if (!REGEX_FLAGS.includes(flag)) return { ok: false, reason: `flag "${flag}" is not allowed (allowed: i, m, s, u)` };
    if (flags.indexOf(flag) !== flags.lastIndexOf(flag)) return { ok: false, reason: `duplicate flags in "${flags}"` };
    if (flag === 'i') bits |= RE2JS.CASE_INSENSITIVE;
    else if (flag === 'm') bits |= RE2JS.MULTILINE;
    else if (flag === 's') bits |= RE2JS.DOTALL;
  }
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern, bits);
  } catch (err) {
    return { ok: false, reason: refusal(pattern, err) };
  }
  const programSize = re.programSize();
  if (programSize > MAX_PROGRAM_SIZE) {
    return {
      ok: false,
      reason: `pattern compiles to ${programSize} instructions; the limit is ${MAX_PROGRAM_SIZE} (counted repetition such as {500} is what makes a pattern large)`,
      programSize,
    };
  }
  const groupNames = Object.entries(re.namedGroups())
    .sort((a, b) => a[1] - b[1])
    .map(([name]) => name);
  const regex: UserRegex = {
    pattern,
    flags,
    programSize,
    groupNames,
    test: (subject) => re.test(boundSubject(subject)),
    groups(subject) {
      const text = boundSubject(subject);
      // The DFA answers "no match" cheaply; only a match pays for the capture-tracking engine.
      if (!re.test(text)) return null;
      const m = re.matcher(text);
      if (!m.find()) return null;
      const out: Record<string, string> = {};
      for (const name of groupNames) {
        const value = m.group(name);
        if (value !== null && value !== undefined) out[name] = value;
      }
      return out;
    },
  };
  return { ok: true, regex };
}

/** Constructs of other engines RE2 refuses, named the way an SRE would look them up. */
const UNSUPPORTED: { test: RegExp; name: string; hint?: string }[] = [
  { test: /\(\?=/, name: 'lookahead (?=…)' },
  { test: /\(\?!/, name: 'negative lookahead (?!…)' },
  { test: /\(\?<=/, name: 'lookbehind (?<=…)' },
  { test: /\(\?<!/, name: 'negative lookbehind (?<!…)' },
  { test: /\(\?>/, name: 'atomic group (?>…)' },
  { test: /(?:^|[^\\])(?:\\\\)*\\[1-9]/, name: 'backreference (\\1 …)' },
  { test: /(?:^|[^\\])(?:\\\\)*\\k</, name: 'named backreference (\\k<name>)' },
  { test: /(?:^|[^\\])(?:\\\\)*\\u/, name: '\\u escape', hint: 'write \\x{2603} for \\u2603' },
  { test: /(?:^|[^\\])(?:\\\\)*\\c/, name: 'control escape \\c', hint: 'write \\x{01} for \\cA' },
  { test: /(?:^|[^\\])(?:\\\\)*\[\^?\]/, name: 'empty class [] or [^]', hint: 'write (?s:.) to match any character' },
  { test: /[*+?}][+]/, name: 'possessive quantifier (*+, ++, ?+)' },
];

function refusal(pattern: string, err: unknown): string {
  const known = UNSUPPORTED.find((u) => u.test.test(pattern));
  if (known) {
    return `${known.name} is not supported: patterns run on a linear-time engine (RE2 syntax) without lookaround or backreferences${known.hint ? `; ${known.hint}` : ''}`;
  }
  if (err instanceof RE2JSException) {
    const e = err as RE2JSException & { error?: string; input?: string | null };
    const what = e.error ?? err.message.replace(/^error parsing regexp: /, '');
    return `invalid regular expression (RE2 syntax): ${what}${e.input ? `: \`${e.input}\`` : ''}`;
  }
  return `invalid regular expression (RE2 syntax): ${err instanceof Error ? err.message : String(err)}`;
}
