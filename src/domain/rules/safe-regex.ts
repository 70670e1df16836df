/**
 * Static screening of user-supplied regular expressions (rule conditions) against catastrophic
 * backtracking. JavaScript's engine backtracks, so a pattern like `(a+)+$` can pin a worker for minutes
 * on a 30-character input. We refuse, at schema time, patterns whose structure allows that:
 *
 * - a quantified group whose body itself contains an unbounded (or large) quantifier: `(a+)+`, `(a*)*`,
 *   `(.*)*`, `(\d+\.)+` (star height > 1); small bounded nestings like `(\d{1,3}\.){3}` are allowed;
 * - an unbounded quantified group whose alternatives can start with the same character: `(a|a)*`,
 *   `(a|ab)+`, `(\w|\d)*`;
 * - an unbounded quantified group whose body can match the empty string: `(a?)*`, `(a|)+`;
 * - backreferences (`\1`, `\k<name>`), which make matching NP-hard in general;
 * - patterns longer than {@link MAX_REGEX_LENGTH} and flags other than `i`, `m`, `s`, `u`.
 *
 * The analysis is conservative (it may reject a few harmless patterns) but accepts ordinary ones such as
 * `^db-\d+\.prod\.example\.com$` or `(?<env>prod|stage)-(?<region>[a-z]+)`.
 *
 * Pure: no I/O, safe inside Temporal workflow code.
 */

export const MAX_REGEX_LENGTH = 512;
export const ALLOWED_REGEX_FLAGS = 'imsu';

/** Bounded nesting is accepted while (outer max × inner max) stays at or below this. */
const MAX_BOUNDED_PRODUCT = 1000;

export type RegexCheck = { ok: true } | { ok: false; reason: string };

// ---- character sets over ASCII plus one "anything else" bucket ------------------------------------

interface CharSet {
  ascii: boolean[];
  other: boolean;
}

function emptySet(): CharSet {
  return { ascii: new Array<boolean>(128).fill(false), other: false };
}

function fullSet(): CharSet {
  return { ascii: new Array<boolean>(128).fill(true), other: true };
}

function addCode(set: CharSet, code: number): void {
  if (code < 128) set.ascii[code] = true;
  else set.other = true;
}

function addRange(set: CharSet, from: number, to: number): void {
  for (let c = from; c <= to && c < 128; c++) set.ascii[c] = true;
  if (to >= 128) set.other = true;
}

function union(a: CharSet, b: CharSet): CharSet {
  return { ascii: a.ascii.map((v, i) => v || b.ascii[i] === true), other: a.other || b.other };
}

function complement(a: CharSet): CharSet {
  return { ascii: a.ascii.map((v) => !v), other: true };
}

function intersects(a: CharSet, b: CharSet): boolean {
  if (a.other && b.other) return true;
  return a.ascii.some((v, i) => v && b.ascii[i] === true);
}

function classSet(letter: string): CharSet {
  const set = emptySet();
  const lower = letter.toLowerCase();
  if (lower === 'd') addRange(set, 48, 57);
  else if (lower === 'w') {
    addRange(set, 48, 57);
    addRange(set, 65, 90);
    addRange(set, 97, 122);
    addCode(set, 95);
  } else if (lower === 's') {
    for (const c of [9, 10, 11, 12, 13, 32]) addCode(set, c);
    set.other = true;
  }
  return letter === lower ? set : complement(set);
}

function withCaseFolding(set: CharSet): CharSet {
  const out: CharSet = { ascii: [...set.ascii], other: set.other };
  for (let c = 65; c <= 90; c++) {
    if (set.ascii[c] || set.ascii[c + 32]) {
      out.ascii[c] = true;
      out.ascii[c + 32] = true;
    }
  }
  return out;
}

// ---- a small parser producing just enough structure for the analysis ------------------------------

interface Term {
  atom: Atom;
  min: number;
  max: number; // Infinity for unbounded
}

type Atom =
  | { kind: 'chars'; set: CharSet }
  | { kind: 'assert' } // ^ $ \b \B and lookarounds: zero width
  | { kind: 'group'; alternatives: Term[][] }
  | { kind: 'backref' };

class Unsafe extends Error {}

class Parser {
  private pos = 0;

  constructor(
    private readonly src: string,
    private readonly ignoreCase: boolean,
  ) {}

  parse(): Term[][] {
    return this.alternatives();
  }

  private peek(offset = 0): string | undefined {
    return this.src[this.pos + offset];
  }

  private alternatives(): Term[][] {
    const alternatives: Term[][] = [[]];
    while (this.pos < this.src.length) {
      const ch = this.peek();
      if (ch === ')') break;
      if (ch === '|') {
        this.pos++;
        alternatives.push([]);
        continue;
      }
      const atom = this.atom();
      const term = this.quantifier(atom);
      alternatives[alternatives.length - 1]?.push(term);
    }
    return alternatives;
  }

  private chars(set: CharSet): Atom {
    return { kind: 'chars', set: this.ignoreCase ? withCaseFolding(set) : set };
  }

  private single(code: number): Atom {
    const set = emptySet();
    addCode(set, code);
    return this.chars(set);
  }

  private atom(): Atom {
    const ch = this.peek() as string;
    if (ch === '(') return this.group();
    if (ch === '[') return this.charClass();
    if (ch === '^' || ch === '$') {
      this.pos++;
      return { kind: 'assert' };
    }
    if (ch === '.') {
      this.pos++;
      return this.chars(fullSet());
    }
    if (ch === '\\') return this.escape();
    const code = this.src.codePointAt(this.pos) ?? 0;
    this.pos += code > 0xffff ? 2 : 1;
    return this.single(code);
  }

  private group(): Atom {
    this.pos++; // (
    let lookaround = false;
    if (this.peek() === '?') {
      const next = this.peek(1);
      if (next === ':') this.pos += 2;
      else if (next === '=' || next === '!') {
        this.pos += 2;
        lookaround = true;
      } else if (next === '<' && (this.peek(2) === '=' || this.peek(2) === '!')) {
        this.pos += 3;
        lookaround = true;
      } else if (next === '<') {
        const close = this.src.indexOf('>', this.pos);
        this.pos = close + 1;
      } else {
        // Modifiers such as (?i:...) — treat like a non-capturing group.
        const colon = this.src.indexOf(':', this.pos);
        this.pos = colon + 1;
      }
    }
    const alternatives = this.alternatives();
    this.pos++; // )
    if (lookaround) {
      // Lookarounds are zero width but their bodies still backtrack; analyse them as a group that
      // is then discarded for first-character purposes.
      analyseAlternatives(alternatives);
      return { kind: 'assert' };
    }
    return { kind: 'group', alternatives };
  }

  private escape(): Atom {
    const next = this.peek(1) ?? '';
    this.pos += 2;
    if (/[dDwWsS]/.test(next)) return this.chars(classSet(next));
    if (next === 'b' || next === 'B') return { kind: 'assert' };
    if (/[1-9]/.test(next)) throw new Unsafe('backreferences (\\1 …) are not allowed');
    if (next === 'k' && this.peek() === '<') throw new Unsafe('named backreferences (\\k<name>) are not allowed');
    if (next === 'p' || next === 'P') {
      if (this.peek() === '{') this.pos = this.src.indexOf('}', this.pos) + 1;
      return this.chars(fullSet());
    }
    return this.single(this.escapedCode(next));
  }

  /** Code of a simple escape whose letter has been consumed already. */
  private escapedCode(letter: string): number {
    switch (letter) {
      case 'n':
        return 10;
      case 'r':
        return 13;
      case 't':
        return 9;
      case 'f':
        return 12;
      case 'v':
        return 11;
      case '0':
        return 0;
      case 'x': {
        const hex = this.src.slice(this.pos, this.pos + 2);
        if (/^[0-9a-fA-F]{2}$/.test(hex)) {
          this.pos += 2;
          return parseInt(hex, 16);
        }
        return 'x'.charCodeAt(0);
      }
      case 'u': {
        const braced = /^\{([0-9a-fA-F]{1,6})\}/.exec(this.src.slice(this.pos));
        if (braced?.[1] !== undefined) {
          this.pos += braced[0].length;
          return parseInt(braced[1], 16);
        }
        const hex = this.src.slice(this.pos, this.pos + 4);
        if (/^[0-9a-fA-F]{4}$/.test(hex)) {
          this.pos += 4;
          return parseInt(hex, 16);
        }
        return 'u'.charCodeAt(0);
      }
      case 'c': {
        const control = this.peek();
        if (control !== undefined && /[A-Za-z]/.test(control)) {
          this.pos++;
          return control.charCodeAt(0) % 32;
        }
        return '\\'.charCodeAt(0);
      }
      default:
        return letter.codePointAt(0) ?? 0;
    }
  }

  private charClass(): Atom {
    this.pos++; // [
    let negated = false;
    if (this.peek() === '^') {
      negated = true;
      this.pos++;
    }
    let set = emptySet();
    // In JavaScript `[]` is an empty class and `[^]` matches anything: `]` always closes.
    while (this.pos < this.src.length && this.peek() !== ']') {
      const from = this.classAtom();
      if (typeof from !== 'number') {
        set = union(set, from);
        continue;
      }
      if (this.peek() === '-' && this.peek(1) !== ']' && this.peek(1) !== undefined) {
        this.pos++;
        const to = this.classAtom();
        if (typeof to === 'number') {
          addRange(set, from, to);
        } else {
          addCode(set, from);
          addCode(set, 45);
          set = union(set, to);
        }
        continue;
      }
      addCode(set, from);
    }
    this.pos++; // ]
    if (negated) set = complement(set);
    return this.chars(set);
  }

  private classAtom(): number | CharSet {
    const ch = this.peek() as string;
    if (ch !== '\\') {
      const code = this.src.codePointAt(this.pos) ?? 0;
      this.pos += code > 0xffff ? 2 : 1;
      return code;
    }
    const next = this.peek(1) ?? '';
    this.pos += 2;
    if (/[dDwWsS]/.test(next)) return classSet(next);
    if (next === 'b') return 8;
    if (next === 'p' || next === 'P') {
      if (this.peek() === '{') this.pos = this.src.indexOf('}', this.pos) + 1;
      return fullSet();
    }
    return this.escapedCode(next);
  }

  private quantifier(atom: Atom): Term {
    const ch = this.peek();
    let min = 1;
    let max = 1;
    if (ch === '*' || ch === '+' || ch === '?') {
      this.pos++;
      min = ch === '+' ? 1 : 0;
      max = ch === '?' ? 1 : Infinity;
    } else if (ch === '{') {
      const braces = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.pos));
      if (!braces) return { atom, min, max };
      this.pos += braces[0].length;
      min = Number(braces[1]);
      max = braces[2] === undefined ? min : braces[3] === '' ? Infinity : Number(braces[3]);
    } else {
      return { atom, min, max };
    }
    if (this.peek() === '?') this.pos++; // lazy: same backtracking behaviour
    return { atom, min, max };
  }
}

// ---- analysis ---------------------------------------------------------------------------------------

function termCanBeEmpty(term: Term): boolean {
  if (term.min === 0) return true;
  return atomCanBeEmpty(term.atom);
}

function atomCanBeEmpty(atom: Atom): boolean {
  switch (atom.kind) {
    case 'chars':
      return false;
    case 'assert':
    case 'backref':
      return true;
    case 'group':
      return atom.alternatives.some((alt) => alt.every(termCanBeEmpty));
  }
}

/** Characters a sequence can start with (approximate, over-inclusive). */
function firstChars(sequence: Term[]): CharSet {
  let set = emptySet();
  for (const term of sequence) {
    set = union(set, atomFirstChars(term.atom));
    if (!termCanBeEmpty(term)) break;
  }
  return set;
}

function atomFirstChars(atom: Atom): CharSet {
  switch (atom.kind) {
    case 'chars':
      return atom.set;
    case 'group':
      return atom.alternatives.map(firstChars).reduce(union, emptySet());
    default:
      return emptySet();
  }
}

/** Largest repetition count of any quantifier nested inside `alternatives` (1 when none). */
function innerRepeat(alternatives: Term[][]): number {
  let max = 1;
  for (const alt of alternatives) {
    for (const term of alt) {
      if (term.max > max && !(term.atom.kind === 'assert')) max = term.max;
      if (term.atom.kind === 'group') max = Math.max(max, innerRepeat(term.atom.alternatives));
    }
  }
  return max;
}

function describe(outer: Term): string {
  if (outer.max === Infinity) return outer.min === 0 ? '*' : outer.min === 1 ? '+' : `{${outer.min},}`;
  return outer.min === outer.max ? `{${outer.min}}` : `{${outer.min},${outer.max}}`;
}

function analyseTerm(term: Term): void {
  if (term.atom.kind !== 'group') return;
  const { alternatives } = term.atom;
  analyseAlternatives(alternatives);
  if (term.max <= 1) return;
  const inner = innerRepeat(alternatives);
  if (inner > 1 && (inner === Infinity || term.max === Infinity || inner * term.max > MAX_BOUNDED_PRODUCT)) {
    throw new Unsafe(
      `nested quantifiers: a group repeated with ${describe(term)} contains another repeated element ` +
        '(e.g. (a+)+), which can backtrack catastrophically',
    );
  }
  if (term.max === Infinity) {
    if (alternatives.some((alt) => alt.every(termCanBeEmpty))) {
      throw new Unsafe(`a group repeated with ${describe(term)} can match the empty string (e.g. (a?)*)`);
    }
    if (alternatives.length > 1) {
      const firsts = alternatives.map(firstChars);
      for (let i = 0; i < firsts.length; i++) {
        for (let j = i + 1; j < firsts.length; j++) {
          if (intersects(firsts[i] as CharSet, firsts[j] as CharSet)) {
            throw new Unsafe(
              `overlapping alternatives under ${describe(term)}: alternatives ${i + 1} and ${j + 1} can start ` +
                'with the same character (e.g. (a|ab)*), which can backtrack catastrophically',
            );
          }
        }
      }
    }
  }
}

function analyseAlternatives(alternatives: Term[][]): void {
  for (const alt of alternatives) for (const term of alt) analyseTerm(term);
}

/**
 * Checks that `pattern` compiles with `flags` and is safe to run against untrusted input.
 * Never throws.
 */
export function checkRegex(pattern: string, flags = ''): RegexCheck {
  if (typeof pattern !== 'string') return { ok: false, reason: 'pattern must be a string' };
  if (pattern.length > MAX_REGEX_LENGTH) {
    return { ok: false, reason: `pattern is ${pattern.length} characters long; the limit is ${MAX_REGEX_LENGTH}` };
  }
  for (const flag of flags) {
    if (!ALLOWED_REGEX_FLAGS.includes(flag)) {
      return { ok: false, reason: `flag "${flag}" is not allowed (allowed: ${ALLOWED_REGEX_FLAGS.split('').join(', ')})` };
    }
  }
  if (new Set(flags).size !== flags.length) return { ok: false, reason: `duplicate flags in "${flags}"` };
  try {
    new RegExp(pattern, flags);
  } catch (error) {
    return { ok: false, reason: `invalid regular expression: ${error instanceof Error ? error.message : String(error)}` };
  }
  try {
    const tree = new Parser(pattern, flags.includes('i')).parse();
    analyseAlternatives(tree);
  } catch (error) {
    if (error instanceof Unsafe) return { ok: false, reason: `unsafe regular expression: ${error.message}` };
    return { ok: false, reason: 'unsafe regular expression: could not analyse pattern' };
  }
  return { ok: true };
}
