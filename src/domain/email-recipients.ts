/**
 * Whom rule actions and job notices may email: the operator's list (NOTIFY_EMAIL_ALLOW), checked when a
 * rule or job is saved and again by the worker just before it speaks to the SMTP relay.
 *
 * A `write` token chooses a `notify.email` action's recipients, and the body may carry incident details
 * and alert payloads. Without a list any address may be named, so such a token could have every incident
 * of a service mailed outside the company. The list confines them. Each entry is one of:
 * - an address, `oncall@example.com`: that address, any case;
 * - a domain, `example.com`: any address at exactly that domain;
 * - `*.example.com`: any address at a subdomain of example.com (`ops.example.com`), not at example.com itself.
 * Domains are compared in their ASCII (punycode) form, so a look-alike Unicode domain is not a match.
 *
 * Only plain addresses are allowed through (`local@domain`, no comma, angle bracket, quote or space): the
 * mail library parses a recipient string itself, and "a@ours.example, b@theirs.example" would be two.
 *
 * Pure: no I/O.
 */

export interface EmailRecipientPolicy {
  /** Whole addresses, lower-cased, domain in ASCII. */
  addresses: ReadonlySet<string>;
  /** Domains whose every address is allowed, ASCII, lower-cased. */
  domains: ReadonlySet<string>;
  /** Parent domains whose subdomains' addresses are allowed (`*.example.com` → `example.com`). */
  parents: readonly string[];
}

/** The variable that holds the list. */
export const EMAIL_ALLOW_VAR = 'NOTIFY_EMAIL_ALLOW';

const PLAIN_ADDRESS = /^[^\s@,;<>"()[\]\\:]+@[^\s@,;<>"()[\]\\:]+$/;
const DOMAIN = /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$/;

/** `domain` in ASCII (IDNA, as the WHATWG URL parser writes a host) and lower case, or undefined when it is not a domain name. */
function asciiDomain(domain: string): string | undefined {
  if (!/^[^/?#:@\s%[\]]+$/.test(domain) || !URL.canParse(`http://${domain}/`)) return undefined;
  const ascii = new URL(`http://${domain}/`).hostname;
  return DOMAIN.test(ascii) ? ascii : undefined;
}

/** `address` as compared (`local@ascii-domain`, lower-cased), or undefined when it is not a plain address. */
export function normalAddress(address: string): string | undefined {
  if (!PLAIN_ADDRESS.test(address)) return undefined;
  const at = address.lastIndexOf('@');
  const domain = asciiDomain(address.slice(at + 1));
  return domain === undefined ? undefined : `${address.slice(0, at).toLowerCase()}@${domain}`;
}

/** The policy of the list's entries, or the first entry's problem. An empty list is no policy: any address. */
export function parseEmailAllow(entries: readonly string[]): { policy: EmailRecipientPolicy | undefined } | { problem: string } {
  if (entries.length === 0) return { policy: undefined };
  const addresses = new Set<string>();
  const domains = new Set<string>();
  const parents: string[] = [];
  for (const entry of entries) {
    if (entry.includes('@')) {
      const address = normalAddress(entry);
      if (address === undefined) return { problem: `"${entry}" is not a plain email address` };
      addresses.add(address);
      continue;
    }
    const wildcard = entry.startsWith('*.');
    const domain = asciiDomain(wildcard ? entry.slice(2) : entry);
    if (domain === undefined) return { problem: `"${entry}" is neither an email address, a domain nor *.domain` };
    if (wildcard) parents.push(domain);
    else domains.add(domain);
  }
  return { policy: { addresses, domains, parents } };
}

/** Why `address` may not be emailed under `policy`, or undefined when it may (always, without a policy). */
export function recipientRefused(address: string, policy: EmailRecipientPolicy | undefined): string | undefined {
  if (policy === undefined) return undefined;
  const normal = normalAddress(address);
  if (normal === undefined) return `"${address}" is not a plain email address (local@domain)`;
  const domain = normal.slice(normal.lastIndexOf('@') + 1);
  if (policy.addresses.has(normal) || policy.domains.has(domain) || policy.parents.some((p) => domain.endsWith(`.${p}`))) return undefined;
  return `${address} is not a recipient ${EMAIL_ALLOW_VAR} allows (an address, a domain or *.domain on the list)`;
}

/** The refusals among `recipients`, with each one's path (`${base}.${index}`). */
export function refusedRecipients(recipients: readonly { path: string; address: string }[], policy: EmailRecipientPolicy | undefined): { path: string; message: string }[] {
  return recipients.flatMap(({ path, address }) => {
    const message = recipientRefused(address, policy);
    return message === undefined ? [] : [{ path, message }];
  });
}
