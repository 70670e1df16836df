import assert from 'node:assert/strict';
import { plainHttpRefusal } from '../../src/cli/http-client.js';
import { isLoopbackHost } from '../../src/domain/loopback.js';
import { sendEmail } from '../../src/executors/notify.js';

// One rule for "this machine" where a credential may cross in clear: the CLI's token over plain http
// and SMTP credentials without TLS. Both fail closed on anything DNS or the system could send elsewhere.
const LOOPBACK = ['localhost', 'LOCALHOST', '127.0.0.1', '127.1.2.3', '127.1', '0x7f.0.0.1', '2130706433', '[::1]', '::1', '::ffff:127.0.0.1', '[::ffff:127.0.0.1]', '[::ffff:7f00:1]'];
const NOT_LOOPBACK = [
  // An absolute name: the resolver asks DNS, not /etc/hosts.
  'LOCALHOST.',
  'localhost.',
  // The unspecified addresses: a listener's "every interface", not a destination.
  '0.0.0.0',
  '::',
  '[::]',
  'localhost.evil.example',
  '127.0.0.1.evil.example',
  'evil.localhost',
  // 0127 is octal (87) to the resolver, as to ipaddr.js.
  '0127.0.0.1',
  '128.0.0.1',
  '::2',
  '',
];

describe('loopback hosts (src/domain/loopback.ts)', function () {
  it('is localhost in any case, 127.0.0.0/8 and ::1 in every spelling the resolver reads, brackets and IPv4-mapped forms included', function () {
    for (const host of LOOPBACK) assert.equal(isLoopbackHost(host), true, host);
  });

  it('is not a trailing-dot localhost, 0.0.0.0 or ::, nor a name that merely starts with a loopback one', function () {
    for (const host of NOT_LOOPBACK) assert.equal(isLoopbackHost(host), false, host);
  });

  // What each caller is given: the CLI a URL's hostname (lowercased, IPv4 normalised, IPv6 bracketed), the
  // email executor SMTP_URL's hostname, which an smtp:// URL leaves as written.
  it('is what both callers decide on: the CLI sends its token over http, the email executor sends SMTP credentials without TLS', async function () {
    for (const host of [...LOOPBACK, ...NOT_LOOPBACK]) {
      const inUrl = /^[^[].*:/.test(host) ? `[${host}]` : host;
      if (inUrl === '' || !URL.canParse(`http://${inUrl}:8080/`)) continue;
      const expected = isLoopbackHost(host);
      const cli = new URL(`http://${inUrl}:8080/`);
      assert.equal(plainHttpRefusal(cli, false) === undefined, expected, `CLI: ${host} (${cli.hostname})`);
      const smtpHost = new URL(`smtp://${inUrl}:25/`).hostname;
      // A missing password is the next thing checked after the loopback rule: nothing connects either way.
      const refusal = await sendEmail({ smtp: { host: smtpHost, port: 25, secure: false, allowPlaintext: true, user: 'mailer', passRef: 'env:UNSET' }, from: 'a@example.com', to: ['b@example.com'], subject: 's', text: 't' }, { env: {} }).then(
        () => assert.fail(`email: ${host} was sent`),
        (err: Error) => err.message,
      );
      assert.equal(!/allowed only to a relay on loopback/.test(refusal), expected, `email: ${host} (${smtpHost}): ${refusal}`);
    }
  });
});
