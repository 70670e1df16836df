import assert from 'node:assert/strict';
import { metadataAddressReason } from '../../src/domain/metadata-address.js';

describe('metadata and link-local addresses (never reached by rule-directed calls)', function () {
  it('names link-local, metadata and unspecified addresses in every IP spelling', function () {
    const denied: [string, RegExp][] = [
      ['169.254.169.254', /link-local/],
      ['169.254.0.1', /link-local/],
      ['[::ffff:169.254.169.254]', /link-local/],
      ['::ffff:a9fe:a9fe', /link-local/],
      ['0:0:0:0:0:ffff:a9fe:a9fe', /link-local/],
      ['fe80::1', /link-local \(fe80::\/10\)/],
      ['FEBF:ffff::1', /link-local/],
      ['fd00:ec2::254', /metadata/],
      ['100.100.100.200', /metadata/],
      ['0.0.0.0', /unspecified/],
      ['::', /unspecified/],
      ['[::]', /unspecified/],
    ];
    for (const [address, reason] of denied) assert.match(metadataAddressReason(address) ?? 'allowed', reason, address);
  });

  it('lets everything else through, names included (the worker checks what they resolve to)', function () {
    for (const address of ['127.0.0.1', '10.0.0.1', '169.255.0.1', '100.100.100.201', '::1', 'fec0::1', 'fd00:ec2::253', '2001:db8::1', '::ffff:10.0.0.1', 'hooks.example.com', 'metadata.google.internal', '1.2.3', '1:2:3:4:5:6:7:8:9', '300.1.1.1']) {
      assert.equal(metadataAddressReason(address), undefined, address);
    }
  });
});
