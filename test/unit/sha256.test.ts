import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { sha256Hex } from '../../src/domain/sha256.js';

// src/domain's SHA-256 (@noble/hashes: no node:crypto there) against node:crypto's.
describe('sha256Hex', function () {
  it('is the SHA-256 of the text as UTF-8, as node:crypto computes it, at every length around a block and of megabytes', function () {
    const texts = ['', 'abc', 'é€😀', ...[55, 56, 63, 64, 65, 119, 120, 128].map((n) => 'x'.repeat(n)), `P${'Ω'.repeat(600_000)}`];
    for (const t of texts) assert.equal(sha256Hex(t), createHash('sha256').update(t, 'utf8').digest('hex'), `${t.length} characters`);
    assert.equal(sha256Hex('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});
