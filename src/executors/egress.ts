import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequestRaw, type IncomingMessage } from 'node:http';
import { request as httpsRequestRaw } from 'node:https';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { embeddedIPv4, inCidr, metadataAddressReason, parseAddress, specialRangeReason, type IpAddress } from '../domain/metadata-address.js';
import { EgressDeniedError } from './errors.js';
import type { FetchLike } from './http.js';

/**
 * Where rule-controlled outbound calls (notify.webhook's URL, a Slack hook) may go. A rule author with the
 * `write` scope chooses those URLs, and the worker runs inside the network: without a guard a rule could
 * POST to the cloud's instance-metadata service, an internal admin port or a loopback-only service.
 *
 * Refused by default: every address that is not public unicast (loopback, RFC 1918 private, link-local,
 * unique local fc00::/7, carrier-grade NAT 100.64.0.0/10, unspecified, multicast, broadcast, reserved,
 * NAT64/6to4/Teredo forms), IPv4-mapped IPv6 forms of these included. ACTION_EGRESS_ALLOW names CIDRs
 * of those that may be reached after all (a webhook receiver on 10.1.2.3, a test peer on 127.0.0.1).
 * A NAT64/6to4/Teredo address is also judged as the IPv4 address it carries (metadata, deny list, special
 * ranges), so allowing the NAT64 prefix opens public IPv4 only; so is an IPv4-compatible one (::7f00:1 is
 * 127.0.0.1), which, like an IPv4-mapped one, is reachable when that IPv4 address is.
 * Cloud metadata addresses (src/domain/metadata-address.ts) are refused even then, and
 * ACTION_EGRESS_DENY refuses more (it wins over the allow list). Everything is checked on the address
 * actually connected to, after DNS, so a name that resolves (or re-resolves) to a refused address is
 * refused too. Redirects are not followed.
 */
export interface EgressPolicy {
  /** Why `address` (an IP literal) may not be connected to, or undefined when it may. */
  denied(address: string): string | undefined;
}

export interface EgressLists {
  /** ACTION_EGRESS_ALLOW: CIDRs or addresses of otherwise refused ranges that may be reached. */
  allow?: readonly string[];
  /** ACTION_EGRESS_DENY: CIDRs or addresses refused on top of the defaults. */
  deny?: readonly string[];
}

/** A CIDR (`10.0.0.0/8`, `fd00::/8`) or a single address; throws a message naming the bad entry. */
function parseEntry(entry: string): [IpAddress, number] {
  const [address = '', prefix, extra] = entry.split('/');
  if (extra !== undefined) throw new Error(`"${entry}" is not an IP address or CIDR`);
  const v4 = ipaddr.IPv4.isValidFourPartDecimal(address);
  if (!v4 && !ipaddr.IPv6.isValid(address)) throw new Error(`"${entry}" is not an IP address or CIDR`);
  const max = v4 ? 32 : 128;
  const bits = prefix === undefined ? max : /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
  if (!(bits >= 0 && bits <= max)) throw new Error(`"${entry}" has an invalid prefix length`);
  const ip = ipaddr.parse(address);
  // An IPv4-mapped entry (::ffff:10.0.0.0/104) means the IPv4 range it carries.
  if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) return [(ip as ipaddr.IPv6).toIPv4Address(), bits - 96];
  return [ip, bits];
}

/** Parses ACTION_EGRESS_ALLOW / ACTION_EGRESS_DENY entries; throws on the first invalid one. */
export function validateEgressCidrs(entries: readonly string[]): void {
  for (const e of entries) parseEntry(e);
}

export function createEgressPolicy(lists: EgressLists = {}): EgressPolicy {
  const allow = (lists.allow ?? []).map(parseEntry);
  const deny = (lists.deny ?? []).map(parseEntry);
  return {
    denied(address) {
      const ip = parseAddress(address);
      if (!ip) return `${address} is not an IP address`;
      const shown = ip.toString();
      const always = metadataAddressReason(shown);
      if (always) return `${shown} is ${always}, never reachable by rule-directed calls`;
      if (deny.some((cidr) => inCidr(ip, cidr))) return `${shown} is in ACTION_EGRESS_DENY`;
      const special = specialRangeReason(ip);
      if (special && !allow.some((cidr) => inCidr(ip, cidr))) return `${shown} is ${special}; add it to ACTION_EGRESS_ALLOW to let rules reach it`;
      // A NAT64, 6to4, Teredo or IPv4-compatible address reaches the IPv4 address it carries: allowing the
      // translator's prefix does not allow what lies behind it (64:ff9b::a00:5 is 10.0.0.5, 64:ff9b::7f00:1
      // and ::7f00:1 are loopback).
      for (const v4 of embeddedIPv4(ip)) {
        const carried = v4.toString();
        if (deny.some((cidr) => inCidr(v4, cidr))) return `${shown} carries ${carried}, which is in ACTION_EGRESS_DENY`;
        const inner = specialRangeReason(v4);
        if (inner && !allow.some((cidr) => inCidr(v4, cidr))) return `${shown} carries ${carried}, which is ${inner}; add ${carried} to ACTION_EGRESS_ALLOW to let rules reach it`;
      }
      return undefined;
    },
  };
}

/** dns.lookup that fails when any address the name resolves to is denied. */
function guardedLookup(policy: EgressPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return (callback as (e: Error) => void)(err);
      for (const a of addresses) {
        const reason = policy.denied(a.address);
        if (reason) return (callback as (e: Error) => void)(new EgressDeniedError(reason));
      }
      if (options.all) return (callback as (e: null, a: LookupAddress[]) => void)(null, addresses);
      const first = addresses[0];
      if (!first) return (callback as (e: Error) => void)(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }));
      (callback as (e: null, a: string, f: number) => void)(null, first.address, first.family);
    });
  };
}

/** The refusal of a URL that is not http(s), in words that repeat nothing of it. */
export const NOT_HTTP_URL = 'not an http or https URL';

const NULL_BODY = new Set([101, 204, 205, 304]);

function headersOf(res: IncomingMessage): Headers {
  const headers = new Headers();
  for (const [k, v] of Object.entries(res.headers)) {
    if (Array.isArray(v)) for (const x of v) headers.append(k, x);
    else if (v !== undefined) headers.set(k, v);
  }
  return headers;
}

/** Rule-directed endpoints answer with a status and a line or two; a larger answer is cut off, refused. */
export const MAX_RESPONSE_BYTES = 1024 * 1024;

export interface EgressFetchOptions {
  /**
   * Resolve as soon as the status line and headers arrive, with a null body, and drop the connection: the
   * answer's body is never read. For calls whose answer only counts by its status (notify.webhook), so a
   * receiver answering 200 with a large or slow body is still a delivery, not a failure to re-send.
   */
  statusOnly?: boolean;
}

/**
 * A fetch for one request (method, headers, string body, signal) over node:http(s), whose connection
 * goes only to an address the policy allows: literal hosts are checked before connecting, names in
 * the DNS lookup the socket itself uses. Redirects are not followed (a 3xx is the answer). The body is
 * read up to MAX_RESPONSE_BYTES, or not at all with `statusOnly`.
 */
export function egressFetch(policy: EgressPolicy, options: EgressFetchOptions = {}): FetchLike {
  const lookup = guardedLookup(policy);
  return ((input: string | URL | Request, init: RequestInit = {}) =>
    new Promise<Response>((resolve, reject) => {
      // Refusals here say nothing of the URL: a Slack hook's URL is a secret, and a value that is not a
      // URL (`svc-user:pa55`) parses as one whose "protocol" is the secret's first part.
      const url = input instanceof URL ? input : URL.parse(typeof input === 'string' ? input : input.url);
      if (url?.protocol !== 'http:' && url?.protocol !== 'https:') return reject(new TypeError('fetch failed', { cause: new EgressDeniedError(NOT_HTTP_URL) }));
      const host = url.hostname.replace(/^\[|\]$/g, '');
      if (parseAddress(host)) {
        const reason = policy.denied(host);
        if (reason) return reject(new TypeError('fetch failed', { cause: new EgressDeniedError(reason) }));
      }
      const headers = new Headers(init.headers);
      if (init.body != null && typeof init.body !== 'string') return reject(new TypeError('egressFetch sends string bodies only'));
      const body = init.body ?? undefined;
      const outgoing: Record<string, string> = {};
      headers.forEach((v, k) => (outgoing[k] = v));
      if (body !== undefined) outgoing['content-length'] = String(Buffer.byteLength(body));
      const send = url.protocol === 'https:' ? httpsRequestRaw : httpRequestRaw;
      // agent: false → a new connection per call, so every call's address goes through the guard (a pooled
      // socket would skip the lookup).
      const req = send(url, { method: init.method ?? 'GET', headers: outgoing, lookup, agent: false, ...(init.signal ? { signal: init.signal } : {}) }, (res: IncomingMessage) => {
        const fail = (cause: Error) => reject(new TypeError('fetch failed', { cause }));
        // Settles with the answer as a Response, or fails the call when it cannot be one. This runs in the
        // parser's event, outside the promise: a throw here (Response refuses a status outside 200-599,
        // which Node's parser reads from any three digits) took the whole worker process down.
        const answer = (body: Buffer | null) => {
          const status = res.statusCode ?? 0;
          if (status < 200 || status > 599) return fail(new Error(`answered with status ${status}, which is not an HTTP status (200-599)`));
          try {
            resolve(new Response(NULL_BODY.has(status) ? null : body, { status, headers: headersOf(res) }));
          } catch (err) {
            fail(err as Error);
          }
        };
        if (options.statusOnly) {
          // The status is the answer: settle now, then drop the connection without reading a byte of body.
          res.on('error', () => undefined);
          answer(null);
          res.destroy();
          req.destroy();
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) {
            fail(new Error(`answer larger than ${MAX_RESPONSE_BYTES} bytes`));
            req.destroy();
          } else chunks.push(c);
        });
        res.on('error', fail);
        // An answer cut off mid-body (or destroyed above) settles too; after 'end' this is a no-op.
        res.on('close', () => {
          if (!res.complete) fail(new Error('answer cut off'));
        });
        res.on('end', () => answer(Buffer.concat(chunks)));
      });
      // Like fetch: a network failure is a TypeError whose cause says what went wrong.
      req.on('error', (e) => reject(init.signal?.aborted ? init.signal.reason : new TypeError('fetch failed', { cause: e })));
      req.end(body);
    })) as FetchLike;
}
