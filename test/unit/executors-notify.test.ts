import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { whatHappened } from '../../activities/side-effects.js';
import { EmailSendError, HttpCallError, SecretResolutionError } from '../../src/executors/errors.js';
import { EmailMaybeSentError, sendEmail, sendSlack, sendWebhook, signWebhookBody } from '../../src/executors/notify.js';
import { startHttpPeer, startSlackPeer, type HttpPeer, type SlackPeer } from '../helpers/http-peer.js';
import { startSmtpPeer, type SmtpPeer } from '../helpers/smtp-peer.js';

describe('executors/notify', () => {
  describe('sendSlack', () => {
    let slack: SlackPeer;
    beforeEach(async () => {
      slack = await startSlackPeer();
    });
    afterEach(async () => {
      await slack.close();
    });

    it('posts {text} as JSON to the incoming webhook', async () => {
      assert.deepEqual(await sendSlack({ webhookUrl: slack.webhookUrl, text: 'Restarted nginx on vm-1' }), { ok: true });
      assert.deepEqual(slack.messages, [{ text: 'Restarted nginx on vm-1' }]);
      assert.deepEqual(slack.violations, []);
    });

    it('sends blocks when given', async () => {
      const blocks = [{ type: 'section', text: { type: 'mrkdwn', text: '*done*' } }];
      await sendSlack({ webhookUrl: slack.webhookUrl, text: 'done', blocks });
      assert.deepEqual(slack.messages[0]?.blocks, blocks);
    });

    it('4xx is permanent, 5xx and 429 are retryable, and the hook URL never appears in errors', async () => {
      await assert.rejects(sendSlack({ webhookUrl: `${slack.url}/services/T/B/wrong`, text: 'x' }), (err: Error) => {
        assert.ok(err instanceof HttpCallError);
        assert.equal(err.status, 404);
        assert.equal(err.retryable, false);
        assert.ok(!err.message.includes('/services/'));
        return true;
      });
      slack.failNext({ status: 503, text: 'unavailable' });
      await assert.rejects(sendSlack({ webhookUrl: slack.webhookUrl, text: 'x' }), (err: Error) => err instanceof HttpCallError && err.retryable && err.status === 503);
      slack.failNext({ status: 429, text: 'rate_limited' });
      await assert.rejects(sendSlack({ webhookUrl: slack.webhookUrl, text: 'x' }), (err: Error) => err instanceof HttpCallError && err.retryable && err.status === 429);
    });

    it("a redirect names its status, where it pointed (its origin only, the hook's own origin in words) and the setting to change, from the most the caller says down to nothing said, never the hook or the Location's path", async () => {
      // Before, a 301, 302, 307 or 308 named nothing of where it pointed (only a 303 did): the operator had to
      // find the proxy or sign-on gateway in between without a word.
      let own = '';
      const moved = await startHttpPeer([
        { method: 'POST', path: /^\/elsewhere\/(?<status>\d{3})\//, handle: (req) => ({ status: Number(req.params.status), headers: { location: 'https://u:pa55@hooks.example/services/T/B/newsecret?x=QUERYSECRET#FRAGSECRET' }, text: '' }) },
        { method: 'POST', path: /^\/own\/(?<status>\d{3})\//, handle: (req) => ({ status: Number(req.params.status), headers: { location: `${own}/services/T/B/newsecret?x=QUERYSECRET` }, text: '' }) },
        { method: 'POST', path: /^\/relative\//, handle: () => ({ status: 308, headers: { location: '/services/T/B/newsecret' }, text: '' }) },
        // The hook's own host, upgraded to https on another port: the host is still the secret's, never spelled out.
        { method: 'POST', path: /^\/upgrade\//, handle: () => ({ status: 301, headers: { location: 'https://127.0.0.1:8443/services/T/B/newsecret' }, text: '' }) },
        { method: 'POST', path: /^\/root\//, handle: () => ({ status: 302, headers: { location: 'https://sso.example:8443/' }, text: '' }) },
        { method: 'POST', path: /^\/nowhere\//, handle: () => ({ status: 307, text: '' }) },
      ]);
      own = moved.url;
      try {
        const tail = 'to the hook\'s current URL (an incoming webhook answers 200 "ok", not a redirect)';
        for (const [given, fix] of [
          [{ webhookUrlRef: 'env:SELFHEAL_SECRET_PAGE', setting: "the secret env:SELFHEAL_SECRET_PAGE (the job's notify.slack.webhookUrlRef)" }, "the secret env:SELFHEAL_SECRET_PAGE (the job's notify.slack.webhookUrlRef)"],
          [{ webhookUrlRef: 'env:SELFHEAL_SECRET_PAGE' }, 'the secret env:SELFHEAL_SECRET_PAGE'],
          [{}, "the secret the hook's URL is read from"],
        ] as const) {
          for (const [path, status, target] of [
            ...[301, 302, 307, 308].map((s) => [`elsewhere/${s}`, s, '"https://hooks.example" (path withheld)'] as const),
            ...[301, 302, 307, 308].map((s) => [`own/${s}`, s, 'its own origin (path withheld)'] as const),
            ['relative', 308, 'its own origin (path withheld)'],
            ['upgrade', 301, 'its own host (https, port 8443) (path withheld)'],
            ['root', 302, '"https://sso.example:8443"'],
            ['nowhere', 307, '(no Location)'],
          ] as const) {
            const err = await sendSlack({ webhookUrl: `${moved.url}/${path}/services/T/B/oldsecret`, text: 'x', ...given }).then(
              () => assert.fail(`a ${status} is not an answer`),
              (e: unknown) => e as HttpCallError,
            );
            const label = `slack webhook${'webhookUrlRef' in given ? ` (${given.webhookUrlRef})` : ''}`;
            assert.equal(err.message, `${label}: HTTP ${status} (redirect, not followed) to ${target}; set ${fix} ${tail}`, path);
            assert.doesNotMatch(err.message, /oldsecret|newsecret|QUERYSECRET|FRAGSECRET|pa55|127\.0\.0\.1/, path);
            assert.deepEqual([err.retryable, err.status, whatHappened(err)], [false, null, 'nothing'], path);
          }
        }
        // A 303 on the hook's own origin is not delivered either (Slack never answers one), and names that origin in words.
        const seeOther = await sendSlack({ webhookUrl: `${moved.url}/own/303/services/T/B/oldsecret`, text: 'x' }).then(
          () => assert.fail('a 303 is not delivered'),
          (e: unknown) => e as HttpCallError,
        );
        assert.equal(
          seeOther.message,
          `slack webhook: HTTP 303 (redirect, not followed) to its own origin (path withheld): Slack never answers a post with 303, so something in between (a proxy, a sign-on gateway) answered it and the message was not delivered (let the worker reach Slack without it); set the secret the hook's URL is read from ${tail}`,
        );
        assert.ok(moved.requests.every((r) => r.method === 'POST' && r.path.endsWith('/oldsecret')), 'no Location was followed');
      } finally {
        await moved.close();
      }
    });

    it('a 303 See Other is not delivered (Slack never answers one): it fails once, not retried, naming its Location by origin only, and the Location gets nothing', async () => {
      // A captive proxy or a sign-on gateway in front of Slack answers the post 303 to its login page; before,
      // that counted as delivered and the message was lost without a word.
      const landing = await startHttpPeer([{ method: 'GET', path: /.*/, handle: () => ({ status: 200, text: 'sign in' }) }, { method: 'POST', path: /.*/, handle: () => ({ status: 200, text: 'ok' }) }]);
      const gateway = await startHttpPeer([
        { method: 'POST', path: /.*/, handle: () => ({ status: 303, headers: { location: `${landing.url.replace('http://', 'http://svc:pa55@')}/login/TICKETSECRET?return=%2Fservices%2FT%2FB%2Fhooksecret` }, text: '' }) },
      ]);
      try {
        const err = await sendSlack({ webhookUrl: `${gateway.url}/services/T/B/hooksecret`, webhookUrlRef: 'env:SELFHEAL_SECRET_PAGE', text: 'x' }).then(
          () => assert.fail('a 303 is not delivered'),
          (e: unknown) => e as HttpCallError,
        );
        assert.ok(err instanceof HttpCallError);
        assert.equal(
          err.message,
          `slack webhook (env:SELFHEAL_SECRET_PAGE): HTTP 303 (redirect, not followed) to its own host (http, port ${new URL(landing.url).port}) (path withheld): Slack never answers a post with 303, so something in between (a proxy, a sign-on gateway) answered it and the message was not delivered (let the worker reach Slack without it); set the secret env:SELFHEAL_SECRET_PAGE to the hook's current URL (an incoming webhook answers 200 "ok", not a redirect)`,
        );
        // The gateway's host is the hook's (127.0.0.1): a secret, not named even on another port.
        assert.doesNotMatch(err.message, /hooksecret|TICKETSECRET|pa55|login|services|127\.0\.0\.1/);
        assert.equal(err.retryable, false);
        assert.equal(err.status, null);
        // Nothing was delivered: the side-effect layer records it failed, not maybe sent.
        assert.equal(whatHappened(err), 'nothing');
        assert.deepEqual(gateway.requests.map((r) => `${r.method} ${r.path}`), ['POST /services/T/B/hooksecret']);
        assert.deepEqual(landing.requests, [], 'the 303 is not followed');
      } finally {
        await Promise.all([landing.close(), gateway.close()]);
      }
    });

    it('a refused connection is retryable', async () => {
      const url = slack.webhookUrl;
      await slack.close();
      await assert.rejects(sendSlack({ webhookUrl: url, text: 'x' }), (err: Error) => err instanceof HttpCallError && err.retryable && err.status === null);
      slack = await startSlackPeer();
    });
  });

  describe('sendEmail (real SMTP peer)', () => {
    let smtp: SmtpPeer;
    afterEach(async () => {
      await smtp.close();
    });

    it('delivers to every recipient with the right subject and body', async () => {
      smtp = await startSmtpPeer();
      const { messageId } = await sendEmail({
        smtp: { host: smtp.host, port: smtp.port, secure: false, allowPlaintext: true },
        from: 'selfheal@example.com',
        to: ['oncall@example.com', 'lead@example.com'],
        subject: 'Incident Q1ABC: nginx restarted',
        text: 'The rule restart-nginx ran on vm-1.\nExit code 0.',
      });
      const [mail] = await smtp.waitFor(1);
      assert.ok(mail);
      assert.match(messageId, /^<.+@.+>$/);
      assert.equal(mail.headers.get('message-id')?.[0], messageId);
      assert.deepEqual(mail.envelope, { from: 'selfheal@example.com', to: ['oncall@example.com', 'lead@example.com'] });
      assert.equal(mail.subject, 'Incident Q1ABC: nginx restarted');
      assert.equal(mail.headers.get('to')?.[0], 'oncall@example.com, lead@example.com');
      assert.match(mail.body, /The rule restart-nginx ran on vm-1\.\r?\nExit code 0\./);
    });

    it('sends no bare CR: a line break from incident text cannot end the data early at a relay', async () => {
      // `<CR>.<CR><LF>` reads as the end of the message to some relays (SMTP smuggling); a bare CR is
      // forbidden on the wire (RFC 5321 2.3.8). The incident text is the body's, so it must not get through.
      smtp = await startSmtpPeer();
      await sendEmail({
        smtp: { host: smtp.host, port: smtp.port, secure: false, allowPlaintext: true },
        from: 'selfheal@example.com',
        to: ['oncall@example.com'],
        subject: 's',
        text: 'A\r.\r\nB\r\n.\rC\r.\nD',
      });
      const [mail] = await smtp.waitFor(1);
      assert.ok(mail);
      assert.equal(/\r(?!\n)/.test(mail.raw), false, JSON.stringify(mail.raw));
      assert.deepEqual(mail.body.replace(/\r\n$/, '').split('\r\n'), ['A', '.', 'B', '.', 'C', '.', 'D']);
    });

    it('authenticates with a password from a secret reference', async () => {
      smtp = await startSmtpPeer({ auth: { user: 'mailer', pass: 's3cret' } });
      const env = { SMTP_PASS: 's3cret\n' };
      await sendEmail(
        { smtp: { host: smtp.host, port: smtp.port, secure: false, allowPlaintext: true, user: 'mailer', passRef: 'env:SMTP_PASS' }, from: 'a@example.com', to: ['b@example.com'], subject: 's', text: 't' },
        { env },
      );
      const [mail] = await smtp.waitFor(1);
      assert.equal(mail?.authUser, 'mailer');
      await assert.rejects(
        sendEmail({ smtp: { host: smtp.host, port: smtp.port, secure: false, allowPlaintext: true, user: 'mailer', passRef: 'env:SMTP_PASS' }, from: 'a@example.com', to: ['b@example.com'], subject: 's', text: 't' }, { env: { SMTP_PASS: 'wrong' } }),
        (err: Error) => err instanceof EmailSendError && !err.retryable && !err.message.includes('wrong'),
      );
      await assert.rejects(
        sendEmail({ smtp: { host: smtp.host, port: smtp.port, secure: false, allowPlaintext: true, user: 'mailer', passRef: 'env:MISSING' }, from: 'a@example.com', to: ['b@example.com'], subject: 's', text: 't' }, { env: {} }),
        SecretResolutionError,
      );
    });
  });

  describe("sendEmail within an attempt's deadline", () => {
    // An email's attempt is bounded by its deadline (the signal). The relay's replies had 15 s each on top,
    // so a relay taking 20 s to accept the message, within an action's `timeoutSeconds: 60`, was cut after it
    // had the message (354): "maybe sent", never sent again, the action failed "outcome unknown". And the
    // deadline itself closed nothing (nodemailer's transport.close() leaves a message's connection open):
    // the session went on until that idle timer, past a deadline shorter than 15 s.
    let smtp: SmtpPeer;
    afterEach(async () => {
      await smtp.close();
    });
    const message = (peer: SmtpPeer) => ({ smtp: { host: peer.host, port: peer.port, secure: false, allowPlaintext: true }, from: 'a@example.com', to: ['b@example.com'], subject: 's', text: 't' });

    it('a relay that accepts the message after 20 s, with 30 s left: sent, its reply read', async function () {
      this.timeout(40_000);
      smtp = await startSmtpPeer();
      smtp.delayNextReply(20_000);
      const started = Date.now();
      const sent = await sendEmail(message(smtp), { signal: AbortSignal.timeout(30_000) });
      assert.match(sent.messageId, /^<.+@.+>$/);
      assert.ok(Date.now() - started >= 19_000, 'the reply came after 20 s');
      assert.equal(smtp.messages.length, 1);
    });

    it('the same relay with 3 s left: the session is closed at the deadline, the message maybe sent', async function () {
      this.timeout(20_000);
      smtp = await startSmtpPeer();
      smtp.delayNextReply(20_000);
      const started = Date.now();
      await assert.rejects(sendEmail(message(smtp), { signal: AbortSignal.timeout(3_000) }), (err: Error) => err instanceof EmailMaybeSentError);
      const took = Date.now() - started;
      assert.ok(took >= 2_500 && took < 6_000, `closed at the deadline (after ${took} ms)`);
    });
  });

  describe('sendWebhook', () => {
    let peer: HttpPeer;
    beforeEach(async () => {
      peer = await startHttpPeer([{ method: 'POST', path: '/hook', handle: () => ({ status: 202, json: { accepted: true } }) }]);
    });
    afterEach(async () => {
      await peer.close();
    });

    it('signs the timestamp, the idempotency key and the raw body with HMAC-SHA256 so the receiver can verify all three', async () => {
      const secret = 'whsec_test';
      const body = { incident: 'Q1ABC', action: 'restart', note: 'ünïcode ✓' };
      const { status } = await sendWebhook({ url: `${peer.url}/hook`, body, secret, idempotencyKey: 'Q1ABC:r1:a0' }, { now: () => new Date('2025-01-02T03:04:05Z') });
      assert.equal(status, 202);
      const req = peer.requests[0]!;
      assert.equal(req.headers['content-type'], 'application/json');
      const timestamp = String(req.headers['x-selfheal-timestamp']);
      assert.equal(timestamp, String(Date.parse('2025-01-02T03:04:05Z') / 1000));
      assert.equal(req.headers['idempotency-key'], 'Q1ABC:r1:a0');
      // Receiver side, as the README tells it: HMAC over "<timestamp>\n<Idempotency-Key>\n<raw bytes received>".
      const received = String(req.headers['x-selfheal-signature']);
      const mac = (t: string, key: string, raw: string) => `v2=${createHmac('sha256', secret).update(Buffer.concat([Buffer.from(`${t}\n${key}\n`), Buffer.from(raw, 'utf8')])).digest('hex')}`;
      const verifies = (headers: { timestamp: string; key: string; signature: string }, raw: string) => {
        const expected = Buffer.from(mac(headers.timestamp, headers.key, raw));
        const given = Buffer.from(headers.signature);
        return given.length === expected.length && timingSafeEqual(given, expected);
      };
      assert.ok(verifies({ timestamp, key: 'Q1ABC:r1:a0', signature: received }, req.rawBody));
      assert.deepEqual(req.json, body);
      // A replay of the captured delivery verifies only as it was sent: a fresh timestamp, another key (which a
      // receiver deduplicating on Idempotency-Key would take as a new delivery), the key's bytes moved into the
      // body, or another body all fail, and so does the old v1 MAC of "<timestamp>.<body>".
      assert.equal(verifies({ timestamp: String(Number(timestamp) + 600), key: 'Q1ABC:r1:a0', signature: received }, req.rawBody), false);
      assert.equal(verifies({ timestamp, key: 'Q1ABC:r1:a0-replayed', signature: received }, req.rawBody), false);
      assert.equal(verifies({ timestamp, key: '', signature: received }, req.rawBody), false);
      assert.equal(verifies({ timestamp, key: 'Q1ABC:r1', signature: received }, `:a0\n${req.rawBody}`), false);
      assert.equal(verifies({ timestamp, key: 'Q1ABC:r1:a0', signature: received }, req.rawBody.replace('restart', 'reboot')), false);
      assert.notEqual(received, `v1=${createHmac('sha256', secret).update(`${timestamp}.`).update(req.rawBody).digest('hex')}`);
      assert.equal(received, signWebhookBody(timestamp, 'Q1ABC:r1:a0', req.rawBody, secret));
    });

    it('signs an empty key when a delivery carries none, and a swapped-in key does not verify', async () => {
      const secret = 'whsec_test';
      await sendWebhook({ url: `${peer.url}/hook`, body: { a: 1 }, secret });
      const req = peer.requests[0]!;
      assert.equal(req.headers['idempotency-key'], undefined);
      const timestamp = String(req.headers['x-selfheal-timestamp']);
      assert.equal(req.headers['x-selfheal-signature'], signWebhookBody(timestamp, '', req.rawBody, secret));
      assert.notEqual(req.headers['x-selfheal-signature'], signWebhookBody(timestamp, 'injected', req.rawBody, secret));
    });

    it("a 303 See Other to the url's own origin is delivered; to another origin, or without a Location (or a blank one), it fails once naming that origin only; neither is followed", async () => {
      const elsewhere = await startHttpPeer([{ method: 'GET', path: /.*/, handle: () => ({ status: 200, text: 'elsewhere' }) }, { method: 'POST', path: /.*/, handle: () => ({ status: 200, text: 'ok' }) }]);
      // The receiver's own origin, spelled out with its port (known once it listens).
      let own = '';
      const receiver = await startHttpPeer([
        { method: 'POST', path: '/hook/relative', handle: () => ({ status: 303, headers: { location: '/deliveries/1?token=SAMEORIGINSECRET' }, text: '' }) },
        { method: 'POST', path: '/hook/absolute', handle: () => ({ status: 303, headers: { location: `${own}/deliveries/2` }, text: '' }) },
        { method: 'POST', path: '/hook/cross', handle: () => ({ status: 303, headers: { location: `${elsewhere.url}/sso/login?ticket=CROSSSECRET` }, text: '' }) },
        { method: 'POST', path: '/hook/none', handle: () => ({ status: 303, text: '' }) },
        // A blank Location resolves to the url itself; it names nowhere and is no receipt either.
        { method: 'POST', path: '/hook/blank', handle: () => ({ status: 303, headers: { location: ' ' }, text: '' }) },
        { method: 'GET', path: /.*/, handle: () => ({ status: 200, text: 'result' }) },
      ]);
      own = receiver.url;
      try {
        assert.deepEqual(await sendWebhook({ url: `${receiver.url}/hook/relative`, body: { a: 1 } }), { status: 303 });
        assert.deepEqual(await sendWebhook({ url: `${receiver.url}/hook/absolute`, body: { a: 1 } }), { status: 303 });
        const host = new URL(receiver.url).host;
        for (const [path, target] of [
          ['cross', `its own host (http, port ${new URL(elsewhere.url).port}) (path withheld)`],
          ['none', '(no Location)'],
          ['blank', '(no Location)'],
        ] as const) {
          const err = await sendWebhook({ url: `${receiver.url}/hook/${path}`, body: { a: 1 } }).then(
            () => assert.fail(`${path}: a 303 elsewhere is not delivered`),
            (e: unknown) => e as HttpCallError,
          );
          assert.ok(err instanceof HttpCallError, String(err));
          assert.equal(
            err.message,
            `webhook ${host}: HTTP 303 (redirect, not followed) to ${target}: a 303 counts as delivered only when it points to the url's own origin (scheme, host and port), and this one does not, so the post is not counted as delivered; change the action's url to the address that answers (a webhook is posted once, to that address only)`,
          );
          assert.doesNotMatch(err.message, /CROSSSECRET|sso|ticket/);
          assert.deepEqual([err.retryable, err.status, whatHappened(err)], [false, null, 'nothing'], path);
        }
        // One post each, never a GET of where the 303 pointed.
        assert.deepEqual(
          receiver.requests.map((r) => `${r.method} ${r.path}`),
          ['POST /hook/relative', 'POST /hook/absolute', 'POST /hook/cross', 'POST /hook/none', 'POST /hook/blank'],
        );
        assert.deepEqual(elsewhere.requests, [], 'the cross-origin 303 is not followed');
      } finally {
        await Promise.all([elsewhere.close(), receiver.close()]);
      }
    });

    it('a 301, 302, 307 or 308 fails once, not followed, naming the status and where it pointed as its origin only (its own origin in words), never its path, query or user part', async () => {
      // Before, these said "(redirect, not followed; the answer is not recorded)" and nothing of where.
      let own = '';
      const receiver = await startHttpPeer([
        { method: 'POST', path: /^\/cross\/(?<status>\d{3})$/, handle: (req) => ({ status: Number(req.params.status), headers: { location: 'https://svc:PASSSECRET@sso.example/login/PATHSECRET?ticket=QUERYSECRET#FRAGSECRET' }, text: '' }) },
        { method: 'POST', path: /^\/own\/(?<status>\d{3})$/, handle: (req) => ({ status: Number(req.params.status), headers: { location: `${own}/moved/PATHSECRET?token=QUERYSECRET` }, text: '' }) },
      ]);
      own = receiver.url;
      try {
        const host = new URL(receiver.url).host;
        for (const status of [301, 302, 307, 308]) {
          for (const [path, target] of [
            ['cross', '"https://sso.example" (path withheld)'],
            ['own', 'its own origin (path withheld)'],
          ] as const) {
            const err = await sendWebhook({ url: `${receiver.url}/${path}/${status}`, body: { a: 1 } }).then(
              () => assert.fail(`${path} ${status}: a redirect is not delivered`),
              (e: unknown) => e as HttpCallError,
            );
            assert.equal(
              err.message,
              `webhook ${host}: HTTP ${status} (redirect, not followed) to ${target}; change the action's url to the address that answers (a webhook is posted once, to that address only)`,
            );
            assert.doesNotMatch(err.message, /SECRET|svc|login|moved/, `${path} ${status}`);
            assert.deepEqual([err.retryable, err.status, whatHappened(err)], [false, null, 'nothing'], `${path} ${status}`);
          }
        }
        assert.ok(receiver.requests.every((r) => r.method === 'POST' && /^\/(cross|own)\/\d{3}$/.test(r.path)), 'no Location was followed');
      } finally {
        await receiver.close();
      }
    });

    it('omits the signature without a secret and maps errors', async () => {
      await sendWebhook({ url: `${peer.url}/hook`, body: { a: 1 } });
      assert.equal(peer.requests[0]!.headers['x-selfheal-signature'], undefined);
      await assert.rejects(sendWebhook({ url: `${peer.url}/nope`, body: {} }), (err: Error) => err instanceof HttpCallError && err.status === 404 && !err.retryable);
      peer.failNext({ status: 502 });
      await assert.rejects(sendWebhook({ url: `${peer.url}/hook`, body: {} }), (err: Error) => err instanceof HttpCallError && err.retryable);
    });
  });
});
