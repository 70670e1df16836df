import assert from 'node:assert/strict';
import { metadataAddressReason, parseAddress, specialRangeReason } from '../../src/domain/metadata-address.js';

describe('addresses rule-directed calls may not reach', function () {
  it('names cloud metadata and unspecified addresses in every IP spelling (never reachable)', function () {
    const denied: [string, RegExp][] = [
      ['169.254.169.254', /metadata/],
      ['[::ffff:169.254.169.254]', /metadata/],
      ['::ffff:a9fe:a9fe', /metadata/],
      ['0:0:0:0:0:ffff:a9fe:a9fe', /metadata/],
      ['169.254.170.2', /metadata/],
      ['fd00:ec2::254', /metadata/],
      ['FD00:EC2:0:0:0:0:0:254', /metadata/],
      ['100.100.100.200', /metadata/],
      ['168.63.129.16', /metadata/],
      ['0.0.0.0', /unspecified/],
      ['::', /unspecified/],
      ['[::]', /unspecified/],
      // Carried through a translator or a tunnel (NAT64, IPv4-translated, 6to4, Teredo): judged as what they carry.
      ['64:ff9b::a9fe:a9fe', /metadata.*169\.254\.169\.254/],
      ['[64:ff9b::169.254.169.254]', /metadata/],
      ['64:ff9b:1::a9fe:a9fe', /metadata/],
      ['::ffff:0:a9fe:a9fe', /metadata/],
      ['2002:a9fe:a9fe::', /metadata/],
      ['2001:0:a9fe:a9fe::', /metadata/],
      ['64:ff9b::', /unspecified/],
    ];
    for (const [address, reason] of denied) assert.match(metadataAddressReason(address) ?? 'allowed', reason, address);
  });

  it('leaves other addresses and names to the egress policy (the worker checks what names resolve to)', function () {
    for (const address of ['127.0.0.1', '10.0.0.1', '169.254.0.1', '100.100.100.201', '::1', 'fd00:ec2::253', '2001:db8::1', 'hooks.example.com', 'metadata.google.internal', '1.2.3', '1:2:3:4:5:6:7:8:9', '300.1.1.1', '64:ff9b::5db8:d822', '64:ff9b:1::a00:1']) {
      assert.equal(metadataAddressReason(address), undefined, address);
    }
  });

  it('tells public unicast from every special range, IPv4-mapped forms included', function () {
    const reason = (a: string) => specialRangeReason(parseAddress(a)!);
    assert.equal(reason('93.184.216.34'), undefined);
    assert.equal(reason('2606:4700::1111'), undefined);
    assert.match(reason('127.0.0.1') ?? '', /loopback/);
    assert.match(reason('::ffff:127.0.0.1') ?? '', /loopback/);
    assert.match(reason('::1') ?? '', /loopback/);
    assert.match(reason('10.0.0.1') ?? '', /private/);
    assert.match(reason('172.16.5.4') ?? '', /private/);
    assert.match(reason('192.168.0.1') ?? '', /private/);
    assert.match(reason('169.254.0.1') ?? '', /link-local/);
    assert.match(reason('fe80::1') ?? '', /link-local/);
    assert.match(reason('100.64.0.1') ?? '', /carrier-grade NAT/);
    assert.match(reason('fc00::1') ?? '', /unique local/);
    assert.match(reason('239.1.1.1') ?? '', /multicast/);
    assert.match(reason('2001:db8::1') ?? '', /reserved/);
    assert.equal(parseAddress('1.2.3'), undefined, 'shorthand IPv4 is not taken as an address here (URLs normalise it first)');
  });
});
