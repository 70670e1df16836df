import { strict as assert } from 'node:assert';
import { createHmac } from 'node:crypto';
import { signBody, verifySignature } from '../../src/pagerduty/signature.js';

const body = Buffer.from('{"event":{"id":"01BZ","event_type":"pagey.ping"}}', 'utf8');

function pagerDutySignature(raw: Buffer, secret: string): string {
  // Independent of signBody: what PagerDuty's docs describe.
  return `v1=${createHmac('sha256', secret).update(raw).digest('hex')}`;
}

describe('PagerDuty webhook signature', () => {
  it('accepts a body signed with the configured secret', () => {
    assert.equal(verifySignature(body, pagerDutySignature(body, 's3cret'), ['s3cret']), true);
  });

  it('signBody produces what PagerDuty sends', () => {
    assert.equal(signBody(body, 's3cret'), pagerDutySignature(body, 's3cret'));
    assert.equal(signBody(body.toString('utf8'), 's3cret'), pagerDutySignature(body, 's3cret'));
    assert.match(signBody(body, 'x'), /^v1=[0-9a-f]{64}$/);
  });

  it('accepts Uint8Array bodies', () => {
    const bytes = new Uint8Array(body);
    assert.equal(verifySignature(bytes, signBody(bytes, 'k'), ['k']), true);
  });

  it('rejects a wrong secret, a tampered body, a missing or empty header', () => {
    const header = signBody(body, 's3cret');
    assert.equal(verifySignature(body, header, ['other']), false);
    const tampered = Buffer.from(body.toString('utf8').replace('ping', 'pong'));
    assert.equal(verifySignature(tampered, header, ['s3cret']), false);
    assert.equal(verifySignature(body, undefined, ['s3cret']), false);
    assert.equal(verifySignature(body, '', ['s3cret']), false);
  });

  it('rejects everything when no secret is configured, and ignores empty secrets', () => {
    assert.equal(verifySignature(body, signBody(body, ''), []), false);
    assert.equal(verifySignature(body, signBody(body, ''), ['']), false);
  });

  it('during rotation accepts any signature that matches any secret', () => {
    const header = `${signBody(body, 'old')},${signBody(body, 'new')}`;
    assert.equal(verifySignature(body, header, ['new']), true);
    assert.equal(verifySignature(body, header, ['old']), true);
    assert.equal(verifySignature(body, header, ['unrelated', 'new']), true);
    assert.equal(verifySignature(body, header, ['unrelated']), false);
    // Whitespace around entries is tolerated.
    assert.equal(verifySignature(body, ` ${signBody(body, 'a')} , ${signBody(body, 'b')} `, ['b']), true);
  });

  it('ignores entries of other schemes and malformed digests', () => {
    const good = signBody(body, 'k');
    const hex = good.slice(3);
    assert.equal(verifySignature(body, `v0=${hex}`, ['k']), false);
    assert.equal(verifySignature(body, `v2=${hex},${good}`, ['k']), true);
    assert.equal(verifySignature(body, `v1=${hex.slice(0, 10)}`, ['k']), false);
    assert.equal(verifySignature(body, `v1=${hex}00`, ['k']), false);
    assert.equal(verifySignature(body, `v1=${'z'.repeat(64)}`, ['k']), false);
    assert.equal(verifySignature(body, hex, ['k']), false);
    assert.equal(verifySignature(body, 'v1=,=,,', ['k']), false);
  });

  it('accepts an upper-case hex digest', () => {
    assert.equal(verifySignature(body, `v1=${signBody(body, 'k').slice(3).toUpperCase()}`, ['k']), true);
  });
});
