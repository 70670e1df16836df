import assert from 'node:assert/strict';
import { AGENT_TEXT_MAX, agentOutcome, LINK_MAX, safeLink } from '../../src/domain/agent-result.js';

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
    const big = agentOutcome({ exitCode: 0, outputExcerpt: 'x'.repeat(AGENT_TEXT_MAX + 10) });
    assert.ok(big.outputExcerpt.length < AGENT_TEXT_MAX + 100);
    assert.match(big.outputExcerpt, /10 more characters\]$/);
  });
});
