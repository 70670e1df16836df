import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequestRaw, type IncomingMessage } from 'node:http';
import { request as httpsRequestRaw } from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { metadataAddressReason } from '../domain/metadata-address.js';
import { EgressDeniedError } from './errors.js';
import type { FetchLike } from './http.js';

/**
 * Where rule-controlled outbound calls (notify.webhook's URL, a Slack hook) may not go. A rule author
 * with the `write` scope chooses those URLs, and the worker runs inside the network: without a guard a
 * rule could POST to the cloud's instance-metadata service or an internal admin port and read the first
 * lines of its answer back from the action run's error.
 *
 * Always denied: link-local addresses (169.254.0.0/16, fe80::/10: the metadata services of AWS, GCP,
 * Azure and OpenStack live there), AWS's IPv6 metadata address, Alibaba's metadata address and the
 * unspecified addresses (src/domain/metadata-address.ts). ACTION_EGRESS_DENY adds CIDRs (for instance
 * the pod and service ranges, or 127.0.0.0/8). The check applies to the address actually connected to, after DNS, so a name that
 * resolves (or re-resolves) to a denied address is refused too.
 */
export interface EgressPolicy {
  /** Why `address` (an IP literal) may not be connected to, or undefined when it may. */
  denied(address: string): string | undefined;
}

/** A CIDR (`10.0.0.0/8`, `fd00::/8`) or a single address; throws a message naming the bad entry. */
function addRule(list: BlockList, entry: string): void {
  const [address = '', prefix] = entry.split('/');
  const family = isIP(address);
  if (family === 0) throw new Error(`"${entry}" is not an IP address or CIDR`);
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (prefix === undefined) {
    list.addAddress(address, type);
    return;
  }
  const bits = /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
  if (!(bits >= 0 && bits <= (family === 4 ? 32 : 128))) throw new Error(`"${entry}" has an invalid prefix length`);
  list.addSubnet(address, bits, type);
}

/** Parses ACTION_EGRESS_DENY entries; throws on the first invalid one. */
export function validateEgressDeny(entries: readonly string[]): void {
  const scratch = new BlockList();
  for (const e of entries) addRule(scratch, e);
}

export function createEgressPolicy(extraDeny: readonly string[] = []): EgressPolicy {
  const configured = new BlockList();
  for (const e of extraDeny) addRule(configured, e);
  return {
    denied(address) {
      const always = metadataAddressReason(address);
      if (always) return `${address} is ${always}`;
      // BlockList matches an IPv4-mapped IPv6 address (::ffff:10.0.0.1) against the IPv4 rules too.
      if (configured.check(address, isIP(address) === 4 ? 'ipv4' : 'ipv6')) return `${address} is in ACTION_EGRESS_DENY`;
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

const NULL_BODY = new Set([101, 204, 205, 304]);

/** Rule-directed endpoints answer with a status and a line or two; a larger answer is cut off, refused. */
export const MAX_RESPONSE_BYTES = 1024 * 1024;

/**
 * A fetch for one request (method, headers, string body, signal) over node:http(s), whose connection
 * goes only to an address the policy allows: literal hosts are checked before connecting, names in
 * the DNS lookup the socket itself uses. Redirects are not followed (a 3xx is the answer).
 */
export function egressFetch(policy: EgressPolicy): FetchLike {
  const lookup = guardedLookup(policy);
  return ((input: string | URL | Request, init: RequestInit = {}) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') return reject(new TypeError(`unsupported protocol ${url.protocol}`));
      const host = url.hostname.replace(/^\[|\]$/g, '');
      if (isIP(host)) {
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
      const req = send(url, { method: init.method ?? 'GET', headers: outgoing, lookup, ...(init.signal ? { signal: init.signal } : {}) }, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const fail = (cause: Error) => reject(new TypeError('fetch failed', { cause }));
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
        res.on('end', () => {
          const resHeaders = new Headers();
          for (const [k, v] of Object.entries(res.headers)) {
            if (Array.isArray(v)) for (const x of v) resHeaders.append(k, x);
            else if (v !== undefined) resHeaders.set(k, v);
          }
          const status = res.statusCode ?? 0;
          resolve(new Response(NULL_BODY.has(status) ? null : Buffer.concat(chunks), { status, headers: resHeaders }));
        });
      });
      // Like fetch: a network failure is a TypeError whose cause says what went wrong.
      req.on('error', (e) => reject(init.signal?.aborted ? init.signal.reason : new TypeError('fetch failed', { cause: e })));
      req.end(body);
    })) as FetchLike;
}
