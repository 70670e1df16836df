// IPv4-compatible IPv6 addresses (::/96 written in hex, ::7f00:1) carry an IPv4 address in their last 32
// bits. ipaddr.js calls them plain unicast (it parses only the dotted spelling ::127.0.0.1 as IPv4-mapped),
// so they must be judged as the IPv4 address they carry, as IPv4-mapped ones are; else a rule's webhook
// could reach loopback or the metadata service as http://[::7f00:1]/ or http://[::a9fe:a9fe]/.
import assert from 'node:assert/strict';
import { createEgressPolicy, egressFetch } from '../../src/executors/egress.js';
import { HttpCallError } from '../../src/executors/errors.js';
import { sendWebhook } from '../../src/executors/notify.js';
import { metadataAddressReason, parseAddress, specialRangeReason } from '../../src/domain/metadata-address.js';

describe('IPv4-compatible IPv6 addresses (::/96) are judged as the IPv4 address they carry', function () {
  it('the egress guard refuses them as loopback, metadata, private…, before connecting', async function () {
    const policy = createEgressPolicy();
    assert.match(policy.denied('::7f00:1') ?? 'allowed', /::7f00:1 carries 127\.0\.0\.1, which is loopback; add 127\.0\.0\.1 to ACTION_EGRESS_ALLOW/);
    assert.match(policy.denied('::a9fe:a9fe') ?? 'allowed', /cloud metadata address, carried by ::a9fe:a9fe \(169\.254\.169\.254\), never reachable/);
    assert.match(policy.denied('0:0:0:0:0:0:a00:5') ?? 'allowed', /carries 10\.0\.0\.5, which is private/);
    assert.match(policy.denied('::a9fe:101') ?? 'allowed', /carries 169\.254\.1\.1, which is link-local/);
    // The same as their dotted spelling, which ipaddr.js reads as IPv4-mapped.
    assert.match(policy.denied('::127.0.0.1') ?? 'allowed', /127\.0\.0\.1 is loopback/);

    const fetch = egressFetch(policy);
    for (const [url, reason] of [
      ['http://[::7f00:1]:8080/', /carries 127\.0\.0\.1, which is loopback/],
      ['http://[::127.0.0.1]:8080/', /carries 127\.0\.0\.1, which is loopback/], // URL serialises it as [::7f00:1]
      ['http://[::a9fe:a9fe]/latest/meta-data/', /cloud metadata address/],
    ] as const) {
      await assert.rejects(
        sendWebhook({ url, body: { probe: true } }, { fetch }),
        (err: unknown) => err instanceof HttpCallError && !err.retryable && err.status === null && /destination refused/.test(err.message) && reason.test(err.message),
        url,
      );
    }
  });

  it('follows the carried IPv4 address through ACTION_EGRESS_ALLOW / ACTION_EGRESS_DENY, like IPv4-mapped forms', function () {
    // A public IPv4 address is allowed in IPv4-compatible form, as in IPv4-mapped form.
    assert.equal(createEgressPolicy().denied('::5db8:d822'), undefined, '93.184.216.34');
    assert.equal(createEgressPolicy().denied('::ffff:5db8:d822'), undefined, '93.184.216.34, IPv4-mapped');
    const policy = createEgressPolicy({ allow: ['127.0.0.1', '169.254.0.0/16'], deny: ['93.184.216.0/24'] });
    assert.equal(policy.denied('::7f00:1'), undefined, 'allowed 127.0.0.1');
    assert.match(policy.denied('::7f00:2') ?? 'allowed', /carries 127\.0\.0\.2, which is loopback/);
    assert.match(policy.denied('::a9fe:a9fe') ?? 'allowed', /cloud metadata address/, 'metadata even with link-local allowed');
    assert.match(policy.denied('::5db8:d822') ?? 'allowed', /carries 93\.184\.216\.34, which is in ACTION_EGRESS_DENY/);
    // :: and ::1 stay unspecified and loopback (not 0.0.0.0 and 0.0.0.1).
    assert.match(createEgressPolicy().denied('::1') ?? 'allowed', /::1 is loopback/);
    assert.equal(createEgressPolicy({ allow: ['::1'] }).denied('::1'), undefined);
    assert.match(createEgressPolicy().denied('::') ?? 'allowed', /unspecified \(::\)/);
  });

  it('the rule-save check refuses the metadata address in IPv4-compatible form', function () {
    assert.match(metadataAddressReason('::a9fe:a9fe') ?? 'allowed', /metadata.*169\.254\.169\.254/);
    assert.match(metadataAddressReason('[::a9fe:aa02]') ?? 'allowed', /metadata.*169\.254\.170\.2/);
    assert.match(metadataAddressReason(new URL('http://[::169.254.169.254]/').hostname) ?? 'allowed', /metadata/);
    assert.equal(metadataAddressReason('::7f00:1'), undefined, 'loopback is left to the egress policy');
    assert.equal(metadataAddressReason('::1'), undefined);
    assert.equal(specialRangeReason(parseAddress('::5db8:d822')!), undefined, 'the IPv6 form itself is not special; what it carries is judged');
  });
});
