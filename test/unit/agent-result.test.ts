import assert from 'node:assert/strict';
import { agentOutcome, ERROR_CHARS, ERROR_JSON_BYTES, errorText, headText, LINK_MAX, OUTPUT_CHARS, safeLink, scriptOutputText, TAIL_JSON_BYTES } from '../../src/domain/agent-result.js';

const jsonBytes = (s: string) => Buffer.byteLength(JSON.stringify(s), 'utf8');

describe('domain/agent-result: what an untrusted agent answer becomes', () => {
  it('keeps plain http(s) links', () => {
    for (const ok of ['https://ci.example.com/runs/42?tab=log#L7', 'http://10.0.0.5:8080/x', 'https://[2001:db8::1]:8443/a', 'HTTPS://EXAMPLE.COM', `https://e.com/${'a'.repeat(LINK_MAX - 14)}`]) {
      assert.equal(safeLink(ok), ok, ok);
    }
  });

  it('drops every other scheme, credentials, markup, control characters and overlong links', () => {
    for (const bad of [
      'javascript:alert(1)',
      'JavaScript:alert(1)',
      ' https://e.com/',
      'data:text/html,<script>alert(1)</script>',
      'vbscript:msgbox(1)',
      'file:///etc/passwd',
      '//evil.example/x',
      'https://user:pw@evil.example/',
      'https://ci.example.com@evil.example/',
      'https:///path',
      'https://e.com/"><img src=x onerror=alert(1)>',
      'https://e.com/a b',
      'https://e.com/\u0000x',
      'https://e.com/\u007f',
      'https://e.com\\@evil.example/',
      `https://e.com/${'a'.repeat(LINK_MAX)}`,
      42,
      null,
      { href: 'https://e.com' },
    ]) {
      assert.equal(safeLink(bad), undefined, JSON.stringify(bad));
    }
  });

  it('reduces an answer to the documented shape', () => {
    assert.deepEqual(agentOutcome({ exitCode: 0, outputExcerpt: 'ok', link: 'https://e.com/1', extra: 'dropped', timedOut: false, durationMs: 12.4 }), {
      exitCode: 0,
      outputExcerpt: 'ok',
      link: 'https://e.com/1',
      timedOut: false,
      durationMs: 12,
    });
    assert.deepEqual(agentOutcome({ exitCode: '0', outputExcerpt: { a: 1 }, error: ['x'], link: 'javascript:x' }), { exitCode: null, outputExcerpt: '', error: 'the agent reported no exit code' });
    assert.deepEqual(agentOutcome({ exitCode: 1.5, outputExcerpt: 'x', error: 'boom' }), { exitCode: null, outputExcerpt: 'x', error: 'boom' });
    assert.equal(agentOutcome('pwned').error, 'the agent answered something that is not a script result');
    assert.equal(agentOutcome(null).exitCode, null);
    const big = agentOutcome({ exitCode: 0, outputExcerpt: `${'x'.repeat(100_000)}\nRESULT ok` });
    assert.equal(big.outputExcerpt, `…${'x'.repeat(OUTPUT_CHARS - 11)}\nRESULT ok`, 'the end of the output, as the action run records it');
  });

  // Cut by characters (64 Ki), one control character is 6 bytes once JSON-encoded (`\u0001`): ~393 KB a
  // field, and a rule run's outcomes travel whole in every later action's input (test/e2e/agent-output-bounds.test.ts).
  it('bounds output and error in JSON bytes whatever they hold: the output keeps its end, the error its start', () => {
    const noise = '\u0001'.repeat(70_000);
    const r = agentOutcome({ exitCode: 1, outputExcerpt: `${noise}RESULT last`, error: `script failed: ${noise}`, link: 'https://e.com/1' });
    assert.ok(jsonBytes(r.outputExcerpt) <= TAIL_JSON_BYTES, `${jsonBytes(r.outputExcerpt)} bytes`);
    assert.ok(r.outputExcerpt.startsWith('…\uFFFD') && r.outputExcerpt.endsWith('RESULT last'), r.outputExcerpt.slice(-20));
    assert.ok(jsonBytes(r.error!) <= ERROR_JSON_BYTES && r.error!.length <= ERROR_CHARS, `${jsonBytes(r.error!)} bytes`);
    assert.ok(r.error!.startsWith('script failed: \uFFFD') && r.error!.endsWith('…'), r.error!.slice(0, 20));
    assert.ok(jsonBytes(JSON.stringify(r)) < 8 * 1024, 'the whole answer, as the workflow keeps it');
  });

  it('headText: the start, never a lone surrogate, idempotent; what fits is kept whole', () => {
    assert.equal(headText('short\nerror', 100), 'short\nerror');
    const pairs = '\u{1F525}'.repeat(3000);
    for (const max of [7, 8, 1999, 2000]) {
      const h = headText(pairs, max, ERROR_JSON_BYTES);
      assert.ok(h.length <= max && jsonBytes(h) <= ERROR_JSON_BYTES, `${max}: ${h.length} units, ${jsonBytes(h)} bytes`);
      assert.doesNotMatch(h, /[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
      assert.equal(headText(h, max, ERROR_JSON_BYTES), h, 'cut again, unchanged');
    }
    assert.equal(errorText(`x${'"'.repeat(5000)}`), `x${'"'.repeat((ERROR_JSON_BYTES - 5 - 1) / 2)}…`, 'a quote is 2 bytes once JSON-encoded');
  });

  it('scriptOutputText: a noisy stderr does not push out the end of stdout', () => {
    const out = scriptOutputText(`${'\u0001'.repeat(70_000)}\nRESULT ok`, '\u0001'.repeat(70_000));
    assert.ok(out.length <= OUTPUT_CHARS && jsonBytes(out) <= TAIL_JSON_BYTES, `${out.length} units, ${jsonBytes(out)} bytes`);
    assert.match(out, /\nRESULT ok\n--- stderr ---\n…\uFFFD+$/);
    assert.equal(scriptOutputText('a\n', 'b'), 'a\n\n--- stderr ---\nb', 'what fits is whole, as before');
    assert.equal(scriptOutputText('', 'b'), '--- stderr ---\nb');
    assert.equal(scriptOutputText(`${'x'.repeat(9000)}END`, ''), `…${'x'.repeat(OUTPUT_CHARS - 4)}END`);
  });
});
