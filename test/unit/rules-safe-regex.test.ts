import assert from 'node:assert/strict';
import { checkRegex, MAX_REGEX_LENGTH } from '../../src/domain/rules/safe-regex.js';

function rejected(pattern: string, reason: RegExp, flags?: string): void {
  const result = checkRegex(pattern, flags);
  assert.equal(result.ok, false, `${pattern} should be rejected`);
  if (!result.ok) assert.match(result.reason, reason, `${pattern}: ${result.reason}`);
}

describe('rules: safe-regex', () => {
  it('accepts ordinary patterns', () => {
    for (const pattern of [
      '^db-\\d+\\.prod\\.example\\.com$',
      '(?<env>prod|stage)-(?<region>[a-z]+)',
      '^Disk (full|usage above \\d+%)',
      '(\\d{1,3}\\.){3}\\d{1,3}',
      '\\bERROR\\b.*timeout',
      '^(?:[a-z0-9-]+)$',
      '(foo|bar)+',
      '[^]*x',
      'CPU (?:usage|load) > \\d+(\\.\\d+)?%',
      '^\\[(?:FIRING|RESOLVED):\\d+\\]',
    ]) {
      assert.deepEqual(checkRegex(pattern), { ok: true }, pattern);
    }
  });

  it('rejects nested quantifiers', () => {
    for (const pattern of ['(a+)+', '(a*)*', '(.*)*', '(a+)+$', '([a-z]+\\.)+com', '(?:\\w+\\s?){2,}', '(a{1,100}){1,100}']) {
      rejected(pattern, /nested quantifiers/);
    }
  });

  it('rejects overlapping alternation under a star', () => {
    rejected('(a|a)*', /overlapping alternatives/);
    rejected('(a|ab)*c', /overlapping alternatives/);
    rejected('(\\w|\\d)+$', /overlapping alternatives/);
    rejected('(.|\\s)*', /overlapping alternatives/);
    rejected('(ab|Ac)+', /overlapping alternatives/, 'i');
    assert.deepEqual(checkRegex('(ab|Ac)+'), { ok: true });
  });

  it('rejects repeated groups that can match empty, and backreferences', () => {
    rejected('(a?)*', /empty string/);
    rejected('(a|)+', /empty string/);
    rejected('(a)\\1', /backreference/);
    rejected('(?<x>a)\\k<x>', /backreference/);
  });

  it('rejects invalid syntax with the engine message, long patterns and odd flags', () => {
    rejected('([a-z', /invalid regular expression/);
    rejected('*', /invalid regular expression/);
    rejected('a'.repeat(MAX_REGEX_LENGTH + 1), /limit is 512/);
    rejected('a', /flag "g"/, 'g');
    rejected('a', /flag "y"/, 'y');
    rejected('a', /duplicate/, 'ii');
    assert.deepEqual(checkRegex('a', 'imsu'), { ok: true });
  });

  it('actually defuses what it rejects: accepted patterns run fast on adversarial input', () => {
    const input = `${'a'.repeat(5000)}!`;
    for (const pattern of ['^(a|b)+$', '^[a-z]+\\d*$', '(\\d{1,3}\\.){3}\\d{1,3}']) {
      assert.ok(checkRegex(pattern).ok);
      // A hang detector, not a speed figure: a backtracking blow-up on 5,000 characters would not finish
      // at all, where linear matching takes well under a millisecond.
      const started = performance.now();
      new RegExp(pattern).test(input);
      assert.ok(performance.now() - started < 1000, pattern);
    }
  });
});
