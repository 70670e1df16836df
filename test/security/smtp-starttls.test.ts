// Email goes over smtp:// with STARTTLS or not at all. Before the fix, a server whose EHLO offered no
// STARTTLS (or an attacker on the path who struck it from the EHLO) got the conversation in clear text:
// AUTH PLAIN with SMTP_PASSWORD, then the message with its approval links. A relay on loopback may go
// without TLS, but only when SMTP_URL says so (`?plaintext=true`).
import assert from 'node:assert/strict';
import type { AddressInfo, Socket } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { loadConfig } from '../../src/config.js';
import { EmailSendError } from '../../src/executors/errors.js';
import { sendEmail } from '../../src/executors/notify.js';
import { createIntegrations } from '../../src/integrations.js';

const USER = 'selfheal';
const PASSWORD = 'smtp-Pa55-never-in-clear';

/** An SMTP server that offers no STARTTLS, as one behind a stripping attacker looks; it records everything it is sent. */
async function plaintextPeer(opts: { auth: boolean }) {
  const seen = { auths: 0, mailFrom: 0, messages: 0, bytes: '' };
  const server = new SMTPServer({
    secure: false,
    authOptional: !opts.auth,
    allowInsecureAuth: true,
    disabledCommands: opts.auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
    logger: false,
    onAuth(auth, _session, callback) {
      seen.auths++;
      callback(null, { user: auth.username });
    },
    onMailFrom(_address, _session, callback) {
      seen.mailFrom++;
      callback();
    },
    onData(stream, _session, callback) {
      stream.resume();
      stream.on('end', () => {
        seen.messages++;
        callback();
      });
    },
  });
  server.server.on('connection', (socket: Socket) => socket.on('data', (chunk: Buffer) => (seen.bytes += chunk.toString('latin1'))));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.server.address() as AddressInfo;
  return { port, seen, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const integrationsFor = (smtpUrl: string) =>
  createIntegrations(loadConfig({ SMTP_URL: smtpUrl, SMTP_FROM: 'selfheal@example.com', SMTP_USER: USER, SMTP_PASSWORD: PASSWORD }), { env: { SMTP_PASSWORD: PASSWORD } });
const mail = { to: ['oncall@example.com'], subject: 'Approval needed', text: 'Approve: https://selfheal.example.com/approvals/link?action=secret-link' };

describe('security: SMTP without STARTTLS sends nothing unless a loopback relay is named plaintext', function () {
  this.timeout(30_000);

  it('smtp:// with SMTP_USER to a server without STARTTLS: refused before AUTH, the password and the message never sent', async function () {
    const peer = await plaintextPeer({ auth: true });
    try {
      const outcome = await integrationsFor(`smtp://127.0.0.1:${peer.port}`)
        .email(mail)
        .then(() => undefined, (err: unknown) => err as Error);
      assert.equal(peer.seen.auths, 0, "the peer's onAuth was called: the password went in clear text");
      assert.equal(peer.seen.mailFrom, 0, 'the message was offered in clear text');
      const plain = Buffer.from(`\0${USER}\0${PASSWORD}`).toString('base64');
      for (const fragment of ['AUTH', plain, PASSWORD, 'secret-link']) assert.ok(!peer.seen.bytes.includes(fragment), `sent in clear: ${fragment}`);
      assert.ok(outcome instanceof EmailSendError, `refused as an email failure: ${String(outcome)}`);
      assert.match(outcome.message, /STARTTLS/);
      assert.equal(outcome.retryable, false);
    } finally {
      await peer.close();
    }
  });

  it('without credentials too (the message carries approval links): nothing is sent', async function () {
    const peer = await plaintextPeer({ auth: false });
    try {
      const integrations = createIntegrations(loadConfig({ SMTP_URL: `smtp://127.0.0.1:${peer.port}`, SMTP_FROM: 'selfheal@example.com' }));
      await assert.rejects(integrations.email(mail), /STARTTLS/);
      assert.equal(peer.seen.mailFrom, 0);
      assert.equal(peer.seen.messages, 0);
      assert.ok(!peer.seen.bytes.includes('secret-link'));
    } finally {
      await peer.close();
    }
  });

  it('`?plaintext=true` lets a relay on loopback go without TLS; with credentials, any other host is refused before connecting', async function () {
    const peer = await plaintextPeer({ auth: true });
    try {
      const sent = await integrationsFor(`smtp://127.0.0.1:${peer.port}?plaintext=true`).email(mail);
      assert.ok(sent.messageId);
      assert.equal(peer.seen.auths, 1);
      assert.equal(peer.seen.messages, 1);
    } finally {
      await peer.close();
    }
    // 192.0.2.10 (TEST-NET-1) is never answered: a refusal that comes at once was made before connecting.
    const started = Date.now();
    await assert.rejects(
      sendEmail(
        { smtp: { host: '192.0.2.10', port: 25, secure: false, allowPlaintext: true, user: 'selfheal', passRef: 'env:SMTP_PASSWORD' }, from: 'selfheal@example.com', to: ['a@example.com'], subject: 's', text: 't' },
        { timeoutMs: 3000 },
      ),
      /plaintext SMTP with credentials \(SMTP_USER\) is allowed only to a relay on loopback, not to 192\.0\.2\.10/,
    );
    assert.ok(Date.now() - started < 1000, 'refused without trying to connect');
    await assert.rejects(integrationsFor('smtp://127.0.0.1:2525?plaintext=yes').email(mail), /SMTP_URL: plaintext must be true or false/);
  });
});
