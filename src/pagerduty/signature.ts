// PagerDuty V3 webhook signatures: `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>...]`, each an
// HMAC-SHA256 of the raw request body under one of the subscription's signing secrets. During secret
// rotation PagerDuty sends one signature per active secret, so any match against any secret passes.
import { createHmac, timingSafeEqual } from 'node:crypto';

const SCHEME = 'v1';
const SHA256_HEX = /^[0-9a-f]{64}$/i;

function hmac(raw: Uint8Array, secret: string): Buffer {
  return createHmac('sha256', secret).update(raw).digest();
}

/** `v1=<hex HMAC-SHA256 of raw under secret>`, the value PagerDuty would put in the header. */
export function signBody(raw: Uint8Array | string, secret: string): string {
  const bytes = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw;
  return `${SCHEME}=${hmac(bytes, secret).toString('hex')}`;
}

/** The v1 digests carried by a signature header; malformed and other-scheme entries are dropped. */
export function parseSignatureHeader(header: string | undefined): Buffer[] {
  if (!header) return [];
  const digests: Buffer[] = [];
  for (const part of header.split(',')) {
    const entry = part.trim();
    const eq = entry.indexOf('=');
    if (eq <= 0) continue;
    if (entry.slice(0, eq).trim().toLowerCase() !== SCHEME) continue;
    const hex = entry.slice(eq + 1).trim();
    if (!SHA256_HEX.test(hex)) continue;
    digests.push(Buffer.from(hex, 'hex'));
  }
  return digests;
}

/**
 * True when any v1 signature in `header` is a valid HMAC-SHA256 of `rawBody` under any of `secrets`.
 * Comparison is constant-time per candidate; empty secrets are ignored (they would sign anything).
 */
export function verifySignature(rawBody: Uint8Array | Buffer, header: string | undefined, secrets: string[]): boolean {
  const provided = parseSignatureHeader(header);
  if (provided.length === 0) return false;
  let ok = false;
  for (const secret of secrets) {
    if (!secret) continue;
    const expected = hmac(rawBody, secret);
    for (const candidate of provided) {
      // Lengths are fixed by the regex above, but never hand timingSafeEqual unequal buffers.
      if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) ok = true;
    }
  }
  return ok;
}
