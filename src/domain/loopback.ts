/**
 * Whether a host names this machine, for the two places that let a credential cross in clear only to it:
 * the CLI's bearer token over plain http (src/cli/http-client.ts, given a URL's hostname) and SMTP
 * credentials without TLS (src/executors/notify.ts, given SMTP_URL's hostname, which an smtp:// URL
 * leaves as written: case kept, IPv4 not normalised).
 *
 * Loopback is `localhost` (any case), an IP literal in 127.0.0.0/8 or ::1, brackets allowed, IPv4-mapped
 * forms (::ffff:127.0.0.1) and the IPv4 spellings the resolver reads as well (127.1, 0x7f.0.0.1,
 * 2130706433: ipaddr.js reads them as getaddrinfo does). Nothing else, where both callers must fail
 * closed:
 * - `localhost.` (a trailing dot): an absolute name, which the resolver asks DNS about rather than
 *   /etc/hosts, and whose answer is whatever DNS says;
 * - 0.0.0.0 and ::, the unspecified addresses: a listener's "every interface", not a destination (Linux
 *   connects them to this machine, other systems refuse them), and the CLI's refusal names only
 *   localhost, 127.0.0.0/8 and ::1;
 * - any other name, `localhost.evil.example` and `127.0.0.1.evil.example` included.
 * Pure code: no I/O.
 */
import ipaddr from 'ipaddr.js';

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  if (h.toLowerCase() === 'localhost') return true;
  return ipaddr.isValid(h) && ipaddr.process(h).range() === 'loopback';
}
