import assert from 'node:assert/strict';
import { checkRegex, compileUserRegex, MAX_PATTERN_LENGTH, MAX_PROGRAM_SIZE, MAX_SUBJECT_LENGTH, RegexBudget } from '../../src/domain/regex.js';

function refused(pattern: string, reason: RegExp, flags?: string): void {
  const result = checkRegex(pattern, flags);
  assert.equal(result.ok, false, `${pattern} should be refused`);
  if (!result.ok) assert.match(result.reason, reason, `${pattern}: ${result.reason}`);
}

function regex(pattern: string, flags = '') {
  const r = compileUserRegex(pattern, flags);
  if (!r.ok) assert.fail(`${pattern}: ${r.reason}`);
  return r.regex;
}

describe('user regexes on the linear-time engine (RE2 syntax)', () => {
  it('accepts everyday patterns, including the ones the old screening refused', () => {
    for (const pattern of [
      '^db-\\d+\\.prod\\.example\\.com$',
      '(?<env>prod|stage)-(?<region>[a-z]+)',
      '(?P<env>prod|stage)',
      '^Disk (full|usage above \\d+%)',
      '(\\d{1,3}\\.){3}\\d{1,3}',
      '\\bERROR\\b.*timeout',
      'CPU (?:usage|load) > \\d+(\\.\\d+)?%',
      '^\\[(?:FIRING|RESOLVED):\\d+\\]',
      // Catastrophic for a backtracking engine, linear here:
      '(a+)+$',
      '(a|aa)+$',
      '\\d+\\d+\\d+\\d+x',
      '(.*a){12}',
    ]) {
      assert.equal(checkRegex(pattern).ok, true, pattern);
    }
  });

  it('matches with JavaScript-style flags mapped to RE2 (i, m, s; u accepted)', () => {
    assert.equal(regex('^disk full', 'i').test('Disk FULL on db-1'), true);
    assert.equal(regex('^disk full').test('Disk FULL on db-1'), false);
    assert.equal(regex('^b$', 'm').test('a\nb\nc'), true);
    assert.equal(regex('^b$').test('a\nb\nc'), false);
    assert.equal(regex('a.b', 's').test('a\nb'), true);
    assert.equal(regex('a.b').test('a\nb'), false);
    assert.equal(regex('^.$', 'u').test('😀'), true);
    assert.equal(regex('\\x{1F600}').test('x😀'), true);
  });

  it('returns named groups in pattern order, without the unmatched ones', () => {
    const r = regex('^\\[(?<environment>[a-z]+)(?:-(?<region>[a-z0-9-]+))?\\] (?P<host>\\S+)', 'i');
    assert.deepEqual(r.groupNames, ['environment', 'region', 'host']);
    assert.deepEqual(r.groups('[PROD-eu-west-1] db-1 disk full'), { environment: 'PROD', region: 'eu-west-1', host: 'db-1' });
    assert.deepEqual(r.groups('[stage] web-2 down'), { environment: 'stage', host: 'web-2' });
    assert.equal(r.groups('no tag here'), null);
  });

  it('refuses what RE2 cannot run in linear time, naming the construct', () => {
    refused('(?=a)b', /^lookahead \(\?=…\) is not supported: patterns run on a linear-time engine/);
    refused('(?!a)b', /^negative lookahead/);
    refused('(?<=a)b', /^lookbehind \(\?<=…\)/);
    refused('(?<!a)b', /^negative lookbehind/);
    refused('(a)\\1', /^backreference/);
    refused('(?<x>a)\\k<x>', /^named backreference/);
    refused('(?>a+)b', /^atomic group/);
    refused('\\u2603', /\\u escape is not supported.*write \\x\{2603\}/);
    refused('[^]x', /empty class/);
  });

  it('refuses invalid syntax, long or large patterns and odd flags with a reason', () => {
    refused('(a', /^invalid regular expression \(RE2 syntax\): missing closing \)/);
    refused('([a-z', /^invalid regular expression \(RE2 syntax\): missing closing \]/);
    refused('*', /^invalid regular expression \(RE2 syntax\): missing argument to repetition operator/);
    refused('a{1001}', /invalid repeat count/);
    refused('a'.repeat(MAX_PATTERN_LENGTH + 1), new RegExp(`limit is ${MAX_PATTERN_LENGTH}`));
    refused('(?:[^x]{100})'.repeat(12), new RegExp(`compiles to \\d+ instructions; the limit is ${MAX_PROGRAM_SIZE}`));
    refused('a', /flag "g" is not allowed/, 'g');
    refused('a', /flag "y" is not allowed/, 'y');
    refused('a', /duplicate flags/, 'ii');
    assert.equal(checkRegex('a', 'imsu').ok, true);
  });

  it('a rule budget stops compiling once the rule is over it', () => {
    const budget = new RegexBudget(300);
    assert.deepEqual(budget.check('[a-z]{100}'), { ok: true });
    assert.deepEqual(budget.check('[a-z]{100}x'), { ok: true });
    const over = budget.check('[a-z]{150}y');
    assert.equal(over.ok, false);
    // Past the budget, nothing more is compiled: a fresh pattern is refused for the budget, not parsed.
    const next = budget.check('(unparsed');
    assert.ok(!next.ok && /together compile to more than 300 instructions/.test(next.reason), JSON.stringify(next));
    // A pattern refused as too large still spends the budget it took to find out.
    const fresh = new RegexBudget();
    assert.equal(fresh.check('[^x]{1000}[^y]{1000}').ok, false);
    const after = fresh.check('plain');
    assert.ok(!after.ok && /together compile to more than 2000/.test(after.reason));
  });

  it('caches compiled patterns and refusals in one cache', () => {
    assert.equal(compileUserRegex('^db-\\d+$'), compileUserRegex('^db-\\d+$'));
    assert.equal(compileUserRegex('(?=x)'), compileUserRegex('(?=x)'));
    assert.notEqual(compileUserRegex('^db-\\d+$', 'i'), compileUserRegex('^db-\\d+$'));
  });

  it('looks at no more than MAX_SUBJECT_LENGTH characters of a subject', () => {
    const tail = `${'a'.repeat(MAX_SUBJECT_LENGTH)}NEEDLE`;
    assert.equal(regex('NEEDLE').test(tail), false);
    assert.equal(regex('NEEDLE').test(tail.slice(-100)), true);
  });

  it('defuses the inputs that froze the old engine: adversarial subjects finish', () => {
    // A hang detector, not a speed figure: a backtracking engine would not finish these at all.
    const cases: [string, string][] = [
      ['\\d+\\d+\\d+\\d+x', '1'.repeat(3000)],
      ['(a+)+$', `${'a'.repeat(MAX_SUBJECT_LENGTH - 1)}!`],
      ['(a|aa)+$', `${'a'.repeat(MAX_SUBJECT_LENGTH - 1)}!`],
      ['^(\\w+\\s?)*$', `${'word '.repeat(3000)}!`],
    ];
    for (const [pattern, subject] of cases) {
      const started = performance.now();
      assert.equal(regex(pattern).test(subject), false, pattern);
      assert.equal(regex(pattern).groups(subject), null, pattern);
      assert.ok(performance.now() - started < 10_000, `${pattern} did not finish`);
    }
  });
});
