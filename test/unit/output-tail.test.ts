// tailText keeps the end of a script's output for a job's history and its record (on the agent, on the
// worker for SSH, and again in the job workflow). Its bound is in JSON-encoded bytes, what the output costs
// in a Temporal payload and a jsonb row: cut by UTF-16 units alone, 4,000 control characters took 24 KB
// (JSON writes each as `\u00XX`) and 4,000 U+FFFD (invalid UTF-8, binary output) 12 KB.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { TAIL_JSON_BYTES, tailText } from '../../src/domain/agent-result.js';

const JOB_MAX = 4000; // JOB_OUTPUT_CHARS
const EMOJI = '\u{1F525}'; // 2 UTF-16 units, 4 bytes of UTF-8
const LONE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// eslint-disable-next-line no-control-regex -- what must not be left
const UNREADABLE = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]/;

const jsonBytes = (s: string) => Buffer.byteLength(JSON.stringify(s), 'utf8');

/** What every tail must be, whatever the input. */
function assertTail(result: string, max = JOB_MAX, budget = TAIL_JSON_BYTES): void {
  assert.ok(result.length <= Math.max(max, 1), `${result.length} units > ${max}`);
  assert.ok(jsonBytes(result) <= budget, `${jsonBytes(result)} bytes > ${budget}`);
  assert.doesNotMatch(result, LONE);
  assert.doesNotMatch(result, UNREADABLE);
  assert.equal(tailText(result, max, budget), result, 'cut again, a tail is unchanged');
}

describe('domain/agent-result tailText: the end of an output, bounded in JSON bytes whatever it holds', function () {
  it('plain text: the last 4,000 characters, marked, as before', function () {
    const out = `${'x'.repeat(307200)}\nRESULT noisy done`;
    const tail = tailText(out, JOB_MAX);
    assert.equal(tail, `…${out.slice(-(JOB_MAX - 1))}`);
    assert.ok(tail.endsWith('\nRESULT noisy done'));
    assertTail(tail);
    assert.equal(tailText('short output\n', JOB_MAX), 'short output\n', 'what fits is kept whole, unmarked');
  });

  it('4,000 control characters (tr "\\0" "\\1") no longer cost 24 KB: U+FFFD, cut to the byte budget', function () {
    const out = `${'\x01'.repeat(307200)}\nRESULT noisy done\n`;
    assert.ok(jsonBytes(out.slice(-JOB_MAX)) > 20_000, 'the old cut kept about 24 KB');
    const tail = tailText(out, JOB_MAX);
    assertTail(tail);
    assert.ok(tail.endsWith('\uFFFD\nRESULT noisy done\n'), JSON.stringify(tail.slice(-40)));
    assert.ok(jsonBytes(tail) > TAIL_JSON_BYTES - 4, `the budget is used, not wasted (${jsonBytes(tail)})`);
    assert.match(tail, /^…\uFFFD+\nRESULT noisy done\n$/);
  });

  it('random binary output (as the runners decode it: invalid UTF-8 is U+FFFD) stays within the budget', function () {
    for (let n = 0; n < 20; n++) {
      const out = randomBytes(300_000).toString('utf8').replaceAll('\0', '\uFFFD');
      const tail = tailText(out, JOB_MAX);
      assertTail(tail);
      assert.ok(tail.startsWith('…'));
      assert.ok(jsonBytes(tail) > TAIL_JSON_BYTES - 8, `the budget is used (${jsonBytes(tail)})`);
    }
  });

  it('an emoji at the byte cut is kept whole or not at all; what fits exactly is not cut', function () {
    // 1,022 emoji take 4,088 bytes; with the marker (3) and the quotes (2) the 1,023rd would be 4,097.
    const tail = tailText(`a${EMOJI.repeat(2000)}`, JOB_MAX);
    assert.equal(tail, `…${EMOJI.repeat(1022)}`);
    assertTail(tail);
    // Odd byte room against 4-byte pairs: the pair that does not fit is dropped whole.
    const odd = tailText(`${EMOJI.repeat(50)}`, JOB_MAX, 2 + 3 + 4 * 10 + 3);
    assert.equal(odd, `…${EMOJI.repeat(10)}`);
    const exact = `${EMOJI}${'x'.repeat(TAIL_JSON_BYTES - 6)}`;
    assert.equal(jsonBytes(exact), TAIL_JSON_BYTES);
    assert.equal(tailText(exact, 5000), exact, 'exactly at the budget: kept whole');
    const over = `${exact}y`;
    assert.equal(tailText(over, 5000), `…${'x'.repeat(TAIL_JSON_BYTES - 6)}y`);
    assertTail(tailText(over, 5000), 5000);
  });

  it('ANSI escape sequences are removed; other controls but tab, newline and CR become U+FFFD', function () {
    const out = '\x1b[1;31mERROR\x1b[0m disk \x1b[4mfull\x1b[m\r\n\x1b]0;my title\x07\x1b]8;;https://example.com\x1b\\link\x1b]8;;\x1b\\ \x1b(Bdone\x1b[K\n';
    assert.equal(tailText(out, JOB_MAX), 'ERROR disk full\r\nlink done\n');
    assert.equal(tailText('a\x01b\x7fc\u009bd\te\r\nf\0g\x08h\x0ci\x1b', JOB_MAX), 'a\uFFFDb\uFFFDc\uFFFDd\te\r\nf\uFFFDg\uFFFDh\uFFFDi\uFFFD');
    // Colours on every line of a long output cost nothing: the text is what is kept.
    const coloured = Array.from({ length: 2000 }, (_, i) => `\x1b[32mok\x1b[0m line ${i}`).join('\n');
    const tail = tailText(coloured, JOB_MAX);
    assertTail(tail);
    assert.ok(tail.endsWith('ok line 1999'));
    assert.doesNotMatch(tail, /\[32m|\[0m/);
  });

  it('quotes and backslashes count 2 bytes each', function () {
    const tail = tailText('"\\'.repeat(5000), JOB_MAX);
    assertTail(tail);
    assert.equal(tail.length, 1 + Math.floor((TAIL_JSON_BYTES - 5) / 2));
  });

  it('any mix: within both bounds, the longest suffix that fits, never a lone surrogate', function () {
    const pieces = ['x', 'é', '€', EMOJI, '\n', '\t', '\r', '"', '\\', '\x01', '\x1b[31m', '\0', '\ud800', '\udc00', '\u009b', '\u2028'];
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let n = 0; n < 300; n++) {
      const out = Array.from({ length: rand(3000) }, () => pieces[rand(pieces.length)]).join('');
      const max = 1 + rand(3000);
      const budget = 8 + rand(6000);
      const tail = tailText(out, max, budget);
      assertTail(tail, max, budget);
      const whole = tailText(out, Infinity, Infinity);
      if (tail === whole) continue;
      const kept = tail.slice(1);
      assert.ok(tail.startsWith('…') && whole.endsWith(kept), 'a marked suffix of the readable text');
      // One more character (a whole pair) would break a bound.
      const rest = whole.slice(0, whole.length - kept.length);
      const next = /[\uDC00-\uDFFF]$/.test(rest) ? rest.slice(-2) : rest.slice(-1);
      const longer = `…${next}${kept}`;
      assert.ok(longer.length > max || jsonBytes(longer) > budget, `not the longest: ${JSON.stringify(longer.slice(0, 20))}`);
    }
  });
});
