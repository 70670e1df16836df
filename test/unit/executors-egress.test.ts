import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:net';
import { ConfigError, loadConfig } from '../../src/config.js';
import { createEgressPolicy, egressFetch, MAX_RESPONSE_BYTES } from '../../src/executors/egress.js';
import { HttpCallError } from '../../src/executors/errors.js';
import { sendWebhook } from '../../src/executors/notify.js';
import { createIntegrations } from '../../src/integrations.js';
import { startHttpPeer, type HttpPeer } from '../helpers/http-peer.js';

const refused = (pattern: RegExp) => (err: unknown) => err instanceof HttpCallError && !err.retryable && err.status === null && pattern.test(err.message);

// Rule authors choose where notify.webhook posts; the worker sits inside the network.
describe('egress guard for rule-directed calls (notify.webhook, Slack hooks)', function () {
  let peer: HttpPeer;
  beforeEach(async () => {
    peer = await startHttpPeer([
      { method: 'POST', path: '/hook', handle: () => ({ status: 202, json: { accepted: true } }) },
      { method: 'POST', path: '/empty', handle: () => ({ status: 204 }) },
      { method: 'POST', path: '/huge', handle: () => ({ status: 200, text: 'x'.repeat(MAX_RESPONSE_BYTES + 1) }) },
    ]);
  });
  afterEach(async () => {
    await peer.close();
  });
  const port = () => new URL(peer.url).port;

  it('delivers a signed webhook through the guarded connection, byte for byte', async function () {
    const fetch = egressFetch(createEgressPolicy());
    const body = { incident: 'Q1EGRESS', note: 'ünïcode ✓ '.repeat(50) };
    const { status } = await sendWebhook({ url: `${peer.url}/hook`, body, secret: 'whsec_egress' }, { fetch });
    assert.equal(status, 202);
    const req = peer.requests[0]!;
    assert.deepEqual(req.json, body);
    assert.equal(req.headers['content-type'], 'application/json');
    const t = String(req.headers['x-selfheal-timestamp']);
    assert.equal(req.headers['x-selfheal-signature'], `v1=${createHmac('sha256', 'whsec_egress').update(`${t}.${req.rawBody}`).digest('hex')}`);
    // A 204 answer has no body; an error answer maps as with the platform fetch.
    assert.equal((await sendWebhook({ url: `${peer.url}/empty`, body: {} }, { fetch })).status, 204);
    await assert.rejects(sendWebhook({ url: `${peer.url}/nope`, body: {} }, { fetch }), (err: unknown) => err instanceof HttpCallError && err.status === 404 && !err.retryable);
    // An endpoint that answers with more than a status and a line or two is cut off, not buffered whole.
    await assert.rejects(sendWebhook({ url: `${peer.url}/huge`, body: {} }, { fetch }), (err: unknown) => err instanceof HttpCallError && /answer larger than 1048576 bytes/.test(err.message));
  });

  it('refuses link-local and cloud metadata addresses, however written, before connecting', async function () {
    const fetch = egressFetch(createEgressPolicy());
    for (const url of ['http://169.254.169.254/latest/meta-data/', 'http://[::ffff:169.254.169.254]/', 'http://[fe80::1]:8080/', 'http://[fd00:ec2::254]/', 'http://0.0.0.0:8080/']) {
      await assert.rejects(sendWebhook({ url, body: { probe: true } }, { fetch }), refused(/^webhook .*: destination refused: \S+ is (link-local|a cloud metadata address|unspecified)/), url);
    }
  });

  it('refuses ACTION_EGRESS_DENY ranges on the address connected to, also when a name resolves there', async function () {
    const integrations = createIntegrations(loadConfig({ ACTION_EGRESS_DENY: '127.0.0.0/8, ::1/128' }));
    for (const host of ['127.0.0.1', 'localhost']) {
      await assert.rejects(
        integrations.webhook({ url: `http://${host}:${port()}/hook`, body: '{"a":1}', idempotencyKey: 'k1' }),
        refused(/destination refused: (127\.0\.0\.1|::1) is in ACTION_EGRESS_DENY/),
        host,
      );
    }
    await assert.rejects(integrations.slack({ webhookUrl: `http://localhost:${port()}/hook`, text: 'x' }), refused(/destination refused/));
    assert.equal(peer.requests.length, 0, 'nothing reached the denied peer');

    // Without the range, the same integrations reach it by name (through the guarded DNS lookup).
    await createIntegrations(loadConfig({})).webhook({ url: `http://localhost:${port()}/hook`, body: '{"a":1}', idempotencyKey: 'k2' });
    assert.equal(peer.requests.length, 1);
    assert.equal(peer.requests[0]!.headers['idempotency-key'], 'k2');
  });

  it('keeps network failures retryable', async function () {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const { port: closedPort } = closed.address() as { port: number };
    await new Promise<void>((r) => closed.close(() => r()));
    await assert.rejects(
      sendWebhook({ url: `http://127.0.0.1:${closedPort}/hook`, body: {} }, { fetch: egressFetch(createEgressPolicy()) }),
      (err: unknown) => err instanceof HttpCallError && err.retryable && /ECONNREFUSED/.test(err.message),
    );
  });

  it('names ACTION_EGRESS_DENY when an entry is not a CIDR', function () {
    for (const value of ['10.0.0.0/33', 'internal.example.com', '10.0.0.0/8,fd00::/200']) {
      assert.throws(
        () => loadConfig({ ACTION_EGRESS_DENY: value }),
        (err: unknown) => err instanceof ConfigError && err.variable === 'ACTION_EGRESS_DENY' && /ACTION_EGRESS_DENY must be comma-separated CIDRs or addresses/.test(err.message),
        value,
      );
    }
    assert.deepEqual(loadConfig({ ACTION_EGRESS_DENY: '10.0.0.0/8, 192.168.1.10' }).egressDeny, ['10.0.0.0/8', '192.168.1.10']);
  });
});
