/**
 * The operator's destination lists: where rule-directed messages may go. A `write` token chooses whom a
 * `notify.email` action mails, which host a `notify.webhook` posts to and which GitHub repository a work
 * item is filed in, and all of them carry incident titles, alert payloads and script output. Without a
 * list any destination may be named, so such a token could have every incident of a service sent outside
 * the company (a GitHub token may even open issues in any public repository). Each list is checked when
 * a rule or job is saved (src/services) and again by the worker before it contacts the peer
 * (src/integrations.ts). An empty list allows anything.
 *
 * - NOTIFY_EMAIL_ALLOW: an address (`oncall@example.com`, any case), a domain (`example.com`: any
 *   address at exactly that domain) or `*.example.com` (any address at a subdomain of it, not at it).
 * - NOTIFY_WEBHOOK_ALLOW: a host (`hooks.example.com`, or an IP address) or `*.example.com`.
 * - GITHUB_REPOS_ALLOW: `owner/name` or `owner/*`, any case (as GitHub compares them).
 *
 * Domains are compared in their ASCII (punycode) form, as the WHATWG URL parser writes a host, so a
 * look-alike Unicode domain is another domain. Only plain addresses pass (`local@domain`, no comma, angle
 * bracket, quote or space): the mail library parses a recipient string itself, and
 * "a@ours.example, b@theirs.example" would be two.
 *
 * Pure: no I/O.
 */

export const EMAIL_ALLOW_VAR = 'NOTIFY_EMAIL_ALLOW';
export const WEBHOOK_ALLOW_VAR = 'NOTIFY_WEBHOOK_ALLOW';
export const GITHUB_REPOS_ALLOW_VAR = 'GITHUB_REPOS_ALLOW';

/** Hosts: exact names (ASCII, lower-cased) and parents whose subdomains are allowed (`*.example.com` → `example.com`). */
export interface HostList {
  hosts: ReadonlySet<string>;
  parents: readonly string[];
}

export interface EmailRecipientPolicy extends HostList {
  /** Whole addresses, lower-cased, domain in ASCII. */
  addresses: ReadonlySet<string>;
}

export interface GitHubRepoPolicy {
  /** `owner/name`, lower-cased. */
  repos: ReadonlySet<string>;
  /** Owners whose every repository is allowed, lower-cased. */
  owners: ReadonlySet<string>;
}

/** A parsed list: its policy (undefined when empty: anything goes) or the first entry's problem. */
export type Parsed<P> = { policy: P | undefined } | { problem: string };

const PLAIN_ADDRESS = /^[^\s@,;<>"()[\]\\:]+@[^\s@,;<>"()[\]\\:]+$/;
const DOMAIN = /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$/;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** `host` as the URL parser writes it (ASCII, lower case), or undefined when it is not a host name or address. */
function asciiHost(host: string, opts: { ip?: boolean } = {}): string | undefined {
  if (!/^[^/?#@\s%\\]+$/.test(host) || !URL.canParse(`http://${host}/`)) return undefined;
  const url = new URL(`http://${host}/`);
  if (url.port !== '') return undefined;
  if (opts.ip && (IPV4.test(url.hostname) || url.hostname.startsWith('['))) return url.hostname;
  return DOMAIN.test(url.hostname) ? url.hostname : undefined;
}

/** `address` as compared (`local@ascii-domain`, lower-cased), or undefined when it is not a plain address. */
export function normalAddress(address: string): string | undefined {
  if (!PLAIN_ADDRESS.test(address)) return undefined;
  const at = address.lastIndexOf('@');
  const domain = asciiHost(address.slice(at + 1));
  return domain === undefined ? undefined : `${address.slice(0, at).toLowerCase()}@${domain}`;
}

/** Adds a host entry (`name` or `*.name`) to `hosts`/`parents`; false when it is neither. */
function addHost(entry: string, hosts: Set<string>, parents: string[], opts: { ip?: boolean } = {}): boolean {
  const wildcard = entry.startsWith('*.');
  const host = asciiHost(wildcard ? entry.slice(2) : entry, wildcard ? {} : opts);
  if (host === undefined) return false;
  if (wildcard) parents.push(host);
  else hosts.add(host);
  return true;
}

const onList = (host: string, list: HostList) => list.hosts.has(host) || list.parents.some((p) => host.endsWith(`.${p}`));

export function parseEmailAllow(entries: readonly string[]): Parsed<EmailRecipientPolicy> {
  if (entries.length === 0) return { policy: undefined };
  const addresses = new Set<string>();
  const hosts = new Set<string>();
  const parents: string[] = [];
  for (const entry of entries) {
    if (entry.includes('@')) {
      const address = normalAddress(entry);
      if (address === undefined) return { problem: `"${entry}" is not a plain email address` };
      addresses.add(address);
    } else if (!addHost(entry, hosts, parents)) {
      return { problem: `"${entry}" is neither an email address, a domain nor *.domain` };
    }
  }
  return { policy: { addresses, hosts, parents } };
}

/** Why `address` may not be emailed under `policy`, or undefined when it may (always, without a policy). */
export function recipientRefused(address: string, policy: EmailRecipientPolicy | undefined): string | undefined {
  if (policy === undefined) return undefined;
  const normal = normalAddress(address);
  if (normal === undefined) return `"${address}" is not a plain email address (local@domain)`;
  if (policy.addresses.has(normal) || onList(normal.slice(normal.lastIndexOf('@') + 1), policy)) return undefined;
  return `${address} is not a recipient ${EMAIL_ALLOW_VAR} allows (an address, a domain or *.domain on the list)`;
}

export function parseWebhookAllow(entries: readonly string[]): Parsed<HostList> {
  if (entries.length === 0) return { policy: undefined };
  const hosts = new Set<string>();
  const parents: string[] = [];
  for (const entry of entries) {
    if (!addHost(entry, hosts, parents, { ip: true })) return { problem: `"${entry}" is neither a host name, an IP address nor *.domain (no scheme, port or path)` };
  }
  return { policy: { hosts, parents } };
}

/** Why `url` may not be posted to under `policy`, or undefined when it may (always, without a policy). */
export function webhookRefused(url: string, policy: HostList | undefined): string | undefined {
  if (policy === undefined) return undefined;
  if (!URL.canParse(url)) return `"${url}" is not a URL`;
  const host = new URL(url).hostname;
  if (onList(host, policy)) return undefined;
  return `${host} is not a host ${WEBHOOK_ALLOW_VAR} allows (a host or *.domain on the list)`;
}

const REPO_PART = /^[A-Za-z0-9_.-]+$/;

export function parseRepoAllow(entries: readonly string[]): Parsed<GitHubRepoPolicy> {
  if (entries.length === 0) return { policy: undefined };
  const repos = new Set<string>();
  const owners = new Set<string>();
  for (const entry of entries) {
    const [owner = '', name, ...rest] = entry.split('/');
    if (name === undefined || rest.length > 0 || !REPO_PART.test(owner) || (name !== '*' && !REPO_PART.test(name)) || [owner, name].some((p) => p === '.' || p === '..')) {
      return { problem: `"${entry}" is neither owner/name nor owner/*` };
    }
    if (name === '*') owners.add(owner.toLowerCase());
    else repos.add(`${owner}/${name}`.toLowerCase());
  }
  return { policy: { repos, owners } };
}

/** Why issues may not be filed in `repo` (owner/name) under `policy`, or undefined when they may (always, without a policy). */
export function repoRefused(repo: string, policy: GitHubRepoPolicy | undefined): string | undefined {
  if (policy === undefined) return undefined;
  const lower = repo.toLowerCase();
  if (policy.repos.has(lower) || policy.owners.has(lower.split('/')[0] ?? '')) return undefined;
  return `${repo} is not a repository ${GITHUB_REPOS_ALLOW_VAR} allows (owner/name or owner/* on the list)`;
}

/** The refusals of `refused` among `found` (each with its path), as field errors. */
export function refusals<T extends { path: string }>(found: readonly T[], refused: (item: T) => string | undefined): { path: string; message: string }[] {
  return found.flatMap((item) => {
    const message = refused(item);
    return message === undefined ? [] : [{ path: item.path, message }];
  });
}
