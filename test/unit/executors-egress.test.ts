import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:net';
import { ConfigError, loadConfig } from '../../src/config.js';
import { createEgressPolicy, egressFetch, MAX_RESPONSE_BYTES } from '../../src/executors/egress.js';
import { HttpCallError } from '../../src/executors/errors.js';
import { sendSlack, sendWebhook } from '../../src/executors/notify.js';
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
      { method: 'POST', path: '/secret-500', handle: () => ({ status: 500, text: 'db password=hunter2-secret' }) },
    ]);
  });
  afterEach(async () => {
    await peer.close();
  });
  const port = () => new URL(peer.url).port;

  const loopbackAllowed = () => egressFetch(createEgressPolicy({ allow: ['127.0.0.1'] }));

  it('delivers a signed webhook through the guarded connection, byte for byte', async function () {
    const fetch = loopbackAllowed();
    const body = { incident: 'Q1EGRESS', note: 'ünïcode ✓ '.repeat(50) };
    const { status } = await sendWebhook({ url: `${peer.url}/hook`, body, secret: 'whsec_egress' }, { fetch });
    assert.equal(status, 202);
    const req = peer.requests[0]!;
    assert.deepEqual(req.json, body);
    assert.equal(req.headers['content-type'], 'application/json');
    const t = String(req.headers['x-selfheal-timestamp']);
    assert.equal(req.headers['x-selfheal-signature'], `v2=${createHmac('sha256', 'whsec_egress').update(`${t}\n\n${req.rawBody}`).digest('hex')}`);
    // A 204 answer has no body; an error answer maps as with the platform fetch.
    assert.equal((await sendWebhook({ url: `${peer.url}/empty`, body: {} }, { fetch })).status, 204);
    await assert.rejects(sendWebhook({ url: `${peer.url}/nope`, body: {} }, { fetch }), (err: unknown) => err instanceof HttpCallError && err.status === 404 && !err.retryable);
    // The answer's body is never repeated in the error: only the status and a fixed reason.
    await assert.rejects(sendWebhook({ url: `${peer.url}/secret-500`, body: {} }, { fetch }), (err: unknown) => {
      assert.ok(err instanceof HttpCallError && err.status === 500 && err.retryable);
      assert.equal(err.message, `webhook 127.0.0.1:${port()}: HTTP 500 (the receiver failed; the answer is not recorded)`);
      return true;
    });
    // An endpoint that answers with more than a status and a line or two is cut off, not buffered whole.
    await assert.rejects(sendWebhook({ url: `${peer.url}/huge`, body: {} }, { fetch }), (err: unknown) => err instanceof HttpCallError && /answer larger than 1048576 bytes/.test(err.message));
  });

  it('refuses every non-public range by default, however written, before connecting', async function () {
    const fetch = egressFetch(createEgressPolicy());
    const cases: [string, RegExp][] = [
      ['http://127.0.0.1:8080/', /127\.0\.0\.1 is loopback/],
      ['http://127.1:8080/', /127\.0\.0\.1 is loopback/],
      ['http://2130706433:8080/', /127\.0\.0\.1 is loopback/],
      ['http://[::1]:8080/', /::1 is loopback/],
      ['http://[::ffff:127.0.0.1]:8080/', /127\.0\.0\.1 is loopback/],
      ['http://[::ffff:7f00:1]:8080/', /127\.0\.0\.1 is loopback/],
      ['http://10.1.2.3/', /10\.1\.2\.3 is private \(RFC 1918\)/],
      ['http://172.16.0.1/', /172\.16\.0\.1 is private/],
      ['http://172.31.255.255/', /172\.31\.255\.255 is private/],
      ['http://192.168.1.1/', /192\.168\.1\.1 is private/],
      ['http://169.254.1.1/', /169\.254\.1\.1 is link-local/],
      ['http://[fe80::1]:8080/', /fe80::1 is link-local/],
      ['http://100.64.0.1/', /100\.64\.0\.1 is carrier-grade NAT/],
      ['http://[fc00::1]/', /fc00::1 is unique local/],
      ['http://[fd12:3456::1]/', /fd12:3456::1 is unique local/],
      ['http://224.0.0.1/', /224\.0\.0\.1 is multicast/],
      ['http://[ff02::1]/', /ff02::1 is multicast/],
      ['http://[64:ff9b::a00:1]/', /NAT64/],
      ['http://[2002:a00:1::]/', /6to4/],
      ['http://169.254.169.254/latest/meta-data/', /169\.254\.169\.254 is a cloud metadata address/],
      ['http://[::ffff:169.254.169.254]/', /169\.254\.169\.254 is a cloud metadata address/],
      ['http://[fd00:ec2::254]/', /fd00:ec2::254 is a cloud metadata address/],
      ['http://100.100.100.200/', /a cloud metadata address/],
      ['http://0.0.0.0:8080/', /unspecified/],
      ['http://[::]:8080/', /unspecified/],
    ];
    for (const [url, reason] of cases) {
      await assert.rejects(sendWebhook({ url, body: { probe: true } }, { fetch }), (err: unknown) => refused(/^webhook .*: destination refused: /)(err) && reason.test((err as Error).message), url);
    }
  });

  it('allows what ACTION_EGRESS_ALLOW names, never a metadata address, and ACTION_EGRESS_DENY wins', function () {
    const policy = createEgressPolicy({ allow: ['10.0.0.0/8', '127.0.0.1', '169.254.0.0/16', 'fd00::/8'], deny: ['10.9.0.0/16'] });
    assert.equal(policy.denied('10.1.2.3'), undefined);
    assert.equal(policy.denied('::ffff:10.1.2.3'), undefined, 'IPv4-mapped forms follow their IPv4 address');
    assert.equal(policy.denied('127.0.0.1'), undefined);
    assert.match(policy.denied('127.0.0.2') ?? '', /loopback; add it to ACTION_EGRESS_ALLOW/);
    assert.match(policy.denied('10.9.1.1') ?? '', /in ACTION_EGRESS_DENY/);
    assert.equal(policy.denied('169.254.1.1'), undefined);
    assert.match(policy.denied('169.254.169.254') ?? '', /cloud metadata address, never reachable/);
    assert.match(policy.denied('fd00:ec2::254') ?? '', /cloud metadata address/);
    assert.equal(policy.denied('93.184.216.34'), undefined, 'public addresses need no allow list');
    assert.match(createEgressPolicy({ deny: ['93.184.216.0/24'] }).denied('93.184.216.34') ?? '', /ACTION_EGRESS_DENY/);
  });

  it('with NAT64 allowed, judges the IPv4 address a NAT64, 6to4 or Teredo address carries: metadata, deny list and special ranges', async function () {
    // An IPv6-only cluster with DNS64 allows the NAT64 prefix to reach IPv4-only receivers; before, that
    // also let rules reach the metadata service, private and loopback IPv4 through the translator.
    const policy = createEgressPolicy({ allow: ['64:ff9b::/96', '64:ff9b:1::/48', '2002::/16', '2001::/32'], deny: ['198.51.100.0/24'] });
    const cases: [string, RegExp][] = [
      ['64:ff9b::a9fe:a9fe', /cloud metadata address, carried by 64:ff9b::a9fe:a9fe \(169\.254\.169\.254\), never reachable/],
      ['64:ff9b::169.254.169.254', /cloud metadata address/],
      ['64:ff9b::a9fe:aa02', /cloud metadata address/],
      ['64:ff9b::a00:5', /carries 10\.0\.0\.5, which is private \(RFC 1918\); add 10\.0\.0\.5 to ACTION_EGRESS_ALLOW/],
      ['64:ff9b::7f00:1', /carries 127\.0\.0\.1, which is loopback/],
      ['64:ff9b::c633:6401', /carries 198\.51\.100\.1, which is in ACTION_EGRESS_DENY/],
      ['64:ff9b:1::a9fe:a9fe', /cloud metadata address/],
      ['64:ff9b:1:abcd::c0a8:101', /carries 192\.168\.1\.1, which is private/],
      ['64:ff9b:1:a9fe:a9:fe00:5db8:d822', /cloud metadata address/], // the /48 layout of RFC 6052
      ['::ffff:0:a9fe:a9fe', /cloud metadata address/],
      ['2002:a9fe:a9fe::1', /cloud metadata address/],
      ['2002:a00:5::1', /carries 10\.0\.0\.5, which is private/],
      ['2001:0:a00:5::', /carries 10\.0\.0\.5, which is private/],
      ['2001:0:4136:e378:8000:63bf:5601:5601', /carries 169\.254\.169\.254|cloud metadata/],
    ];
    for (const [address, reason] of cases) assert.match(policy.denied(address) ?? 'allowed', reason, address);
    // Public IPv4 behind the translator is what the allow list is for.
    assert.equal(policy.denied('64:ff9b::5db8:d822'), undefined, '93.184.216.34 through NAT64');
    assert.equal(policy.denied('64:ff9b:1:abcd::5db8:d822'), undefined);
    assert.equal(policy.denied('2002:5db8:d822::1'), undefined);
    // Allowing the IPv4 range too lets its NAT64 form through; metadata stays refused whatever is allowed.
    const wide = createEgressPolicy({ allow: ['64:ff9b::/96', '10.0.0.0/8', '169.254.0.0/16'] });
    assert.equal(wide.denied('64:ff9b::a00:5'), undefined);
    assert.match(wide.denied('64:ff9b::a9fe:a9fe') ?? 'allowed', /cloud metadata address/);
    // On the wire: refused before connecting (a permanent refusal, not a network failure).
    const fetch = egressFetch(policy);
    for (const url of ['http://[64:ff9b::a9fe:a9fe]/latest/meta-data/', 'http://[64:ff9b::7f00:1]:8080/']) {
      await assert.rejects(sendWebhook({ url, body: {} }, { fetch }), refused(/destination refused: /), url);
    }
  });

  it('status-only mode: resolves on the status line and never reads the body, even a huge one', async function () {
    const fetch = egressFetch(createEgressPolicy({ allow: ['127.0.0.1'] }), { statusOnly: true });
    assert.equal((await sendWebhook({ url: `${peer.url}/huge`, body: {} }, { fetch })).status, 200);
    assert.equal((await sendWebhook({ url: `${peer.url}/hook`, body: { a: 1 } }, { fetch })).status, 202);
    await assert.rejects(sendWebhook({ url: `${peer.url}/secret-500`, body: {} }, { fetch }), (err: unknown) => err instanceof HttpCallError && err.status === 500 && !/hunter2/.test(err.message));
    await assert.rejects(sendWebhook({ url: 'http://10.1.2.3/', body: {} }, { fetch }), refused(/10\.1\.2\.3 is private/));
  });

  it('checks the address a name resolves to, on the connection itself', async function () {
    const integrations = createIntegrations(loadConfig({}));
    await assert.rejects(integrations.webhook({ url: `http://localhost:${port()}/hook`, body: '{"a":1}', idempotencyKey: 'k1' }), refused(/destination refused: (127\.0\.0\.1|::1) is loopback/));
    await assert.rejects(integrations.slack({ webhookUrl: `http://localhost:${port()}/hook`, text: 'x' }), refused(/destination refused/));
    assert.equal(peer.requests.length, 0, 'nothing reached the refused peer');

    // Allowed by the operator, the same integrations reach it by name (through the guarded DNS lookup)…
    await createIntegrations(loadConfig({ ACTION_EGRESS_ALLOW: '127.0.0.0/8,::1' })).webhook({ url: `http://localhost:${port()}/hook`, body: '{"a":1}', idempotencyKey: 'k2' });
    assert.equal(peer.requests.length, 1);
    assert.equal(peer.requests[0]!.headers['idempotency-key'], 'k2');
    // …unless ACTION_EGRESS_DENY names it too.
    const denied = createIntegrations(loadConfig({ ACTION_EGRESS_ALLOW: '127.0.0.0/8,::1', ACTION_EGRESS_DENY: '127.0.0.0/8, ::1/128' }));
    await assert.rejects(denied.webhook({ url: `http://localhost:${port()}/hook`, body: '{}', idempotencyKey: 'k3' }), refused(/is in ACTION_EGRESS_DENY/));
    assert.equal(peer.requests.length, 1);
  });

  it('a receiver answering a status outside 200-599 fails the call, and nothing else (before, the worker process crashed)', async function () {
    // Node's parser reads any three digits as a status; Response refuses one outside 200-599, and the
    // throw came from the parser's event, where nothing caught it: the worker exited, and Temporal's retry
    // of notify.webhook took the next worker down too.
    const odd = createServer((socket) => {
      socket.once('data', (d) => {
        const status = /^POST \/(\d+)/.exec(d.toString())?.[1] ?? '600';
        socket.end(`HTTP/1.1 ${status} Weird\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok`);
      });
    });
    await new Promise<void>((r) => odd.listen(0, '127.0.0.1', r));
    const { port: oddPort } = odd.address() as { port: number };
    try {
      for (const statusOnly of [false, true]) {
        const fetch = egressFetch(createEgressPolicy({ allow: ['127.0.0.1'] }), { statusOnly });
        for (const status of [600, 999]) {
          await assert.rejects(
            sendWebhook({ url: `http://127.0.0.1:${oddPort}/${status}`, body: {} }, { fetch }),
            (err: unknown) => err instanceof HttpCallError && new RegExp(`answered with status ${status}, which is not an HTTP status`).test(err.message),
            `status ${status}, statusOnly ${statusOnly}`,
          );
        }
        assert.equal((await sendWebhook({ url: `http://127.0.0.1:${oddPort}/201`, body: {} }, { fetch })).status, 201);
      }
      await assert.rejects(sendSlack({ webhookUrl: `http://127.0.0.1:${oddPort}/600`, text: 'x' }, { fetch: loopbackAllowed() }), /slack webhook: request failed/);
    } finally {
      await new Promise<void>((r) => odd.close(() => r()));
    }
  });

  it('keeps network failures retryable', async function () {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const { port: closedPort } = closed.address() as { port: number };
    await new Promise<void>((r) => closed.close(() => r()));
    await assert.rejects(
      sendWebhook({ url: `http://127.0.0.1:${closedPort}/hook`, body: {} }, { fetch: loopbackAllowed() }),
      (err: unknown) => err instanceof HttpCallError && err.retryable && /ECONNREFUSED/.test(err.message),
    );
  });

  it('names ACTION_EGRESS_ALLOW / ACTION_EGRESS_DENY when an entry is not a CIDR', function () {
    for (const variable of ['ACTION_EGRESS_ALLOW', 'ACTION_EGRESS_DENY']) {
      for (const value of ['10.0.0.0/33', 'internal.example.com', '10.0.0.0/8,fd00::/200', '127.1', '10.0.0.0/8/8']) {
        assert.throws(
          () => loadConfig({ [variable]: value }),
          (err: unknown) => err instanceof ConfigError && err.variable === variable && new RegExp(`${variable} must be comma-separated CIDRs or addresses`).test(err.message),
          `${variable}=${value}`,
        );
      }
    }
    assert.deepEqual(loadConfig({ ACTION_EGRESS_DENY: '10.0.0.0/8, 192.168.1.10' }).egressDeny, ['10.0.0.0/8', '192.168.1.10']);
    assert.deepEqual(loadConfig({ ACTION_EGRESS_ALLOW: '127.0.0.1/32, ::1' }).egressAllow, ['127.0.0.1/32', '::1']);
  });
});
