// Work-item providers (IBM EWM/RTC, Jira, GitHub) behind one interface. Over 400 lines on purpose: the
// three share the helpers below and are read side by side; EWM project-area discovery is the largest part.
import { createHash } from 'node:crypto';
import { TRUNCATED } from '../domain/template.js';
import { cutAt, trimTrailingSlashes } from '../domain/text.js';
import { HttpCallError, WorkItemError } from './errors.js';
import { basicAuth, httpRequest, parseJson, type FetchLike } from './http.js';
import { resolveSecretRef } from './secrets.js';

export interface WorkItemInput {
  /** Business key of the action run: `incident:rule:action:event`. */
  idempotencyKey: string;
  title: string;
  description: string;
  /** Work item / issue type (EWM `dcterms:type`, Jira issue type name). */
  type?: string;
  /** EWM category resource URL (`rtc_cm:filedAgainst`). */
  filedAgainst?: string;
  /** Jira project key overriding the provider default. */
  project?: string;
  labels?: string[];
}

export interface WorkItemRef {
  id: string;
  url: string;
}

/** Per-call options: the attempt's deadline, and for lookups how far back an item can have been made. */
export interface WorkItemCall {
  signal?: AbortSignal | undefined;
  /** The item, if it exists, was created after this moment (lets GitHub's list stop early). */
  createdAfter?: Date | undefined;
}

export interface WorkItemProvider {
  readonly kind: 'ewm' | 'jira' | 'github';
  create(input: WorkItemInput, call?: WorkItemCall): Promise<WorkItemRef>;
  /**
   * The item carrying this idempotency key, or null. EWM's OSLC query and GitHub's issue list read the
   * items themselves; Jira's JQL search reads an index that lags writes by seconds to minutes (Atlassian:
   * "Search After Write with Search And Reconcile"), so a miss there proves nothing for a while.
   */
  findByIdempotencyKey(idempotencyKey: string, call?: WorkItemCall): Promise<WorkItemRef | null>;
}

export interface ProviderDeps {
  fetch?: FetchLike;
  /** Environment secret references are resolved against. Default process.env. */
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/**
 * Opens the work item unless one with the same idempotency key is found. The activity does not use it:
 * it only looks after an attempt whose answer was lost (activities/side-effects.ts), since a Jira search
 * may not show an item created seconds ago.
 */
export async function createWorkItemOnce(provider: WorkItemProvider, input: WorkItemInput): Promise<WorkItemRef & { created: boolean }> {
  const existing = await provider.findByIdempotencyKey(input.idempotencyKey);
  if (existing) return { ...existing, created: false };
  const created = await provider.create(input);
  return { ...created, created: true };
}

const KEY_PATTERN = /^[A-Za-z0-9:._@/+-]{1,200}$/;

function checkKey(key: string): string {
  if (!KEY_PATTERN.test(key)) throw new WorkItemError('idempotency key must be 1-200 chars of [A-Za-z0-9:._@/+-]', false);
  return key;
}

/** A label/tag derived from the idempotency key, safe for Jira labels and EWM tags. */
export function idempotencyLabel(key: string): string {
  return `selfheal-${createHash('sha256').update(checkKey(key)).digest('hex').slice(0, 20)}`;
}

/** The hidden marker put on the first line of GitHub issue bodies (and looked for only there). */
export function idempotencyMarker(key: string): string {
  return `<!-- selfheal:${checkKey(key)} -->`;
}

// Titles and descriptions are rendered from incidents, whose titles, alert bodies and details anyone with a
// PagerDuty integration key (or a monitored system) writes. Each provider gets them as inert text (GitHub's
// values are made inert as they are rendered: src/domain/template.ts githubEscape).

const XML_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/**
 * Plain text as the content of an OSLC XMLLiteral (the XHTML that EWM's `dcterms:title` and
 * `dcterms:description` hold, in JSON too): `&`, `<`, `>` and quotes escaped, a character XML 1.0 cannot
 * carry (a control character, a lone surrogate) as U+FFFD, and with `lineBreaks` each line ending as `<br/>`.
 */
export function xmlLiteral(text: string, lineBreaks = false): string {
  const escape = (line: string) => line.replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '\uFFFD').replace(/[&<>"']/g, (c) => XML_ESCAPES[c] ?? c);
  return lineBreaks ? text.split(/\r\n|\r|\n/).map(escape).join('<br/>') : escape(text);
}

/**
 * Whether an issue body is the one we wrote under `marker`: its first line is the marker. A body an earlier
 * release wrote ends with it instead (its answer lost before an upgrade, looked up after): that form counts
 * only when the first line is no marker of ours at all, so a description can still not pass for one.
 */
function isOurs(body: string, marker: string): boolean {
  const lines = body.split('\n').map((l) => l.replace(/\r$/, ''));
  if (lines[0] === marker) return true;
  if (lines[0]!.startsWith('<!-- selfheal:')) return false;
  return lines.filter((l) => l.trim() !== '').at(-1) === marker;
}

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const LINE_BREAKS_AND_CONTROLS = /[\u0000-\u001f\u007f\u2028\u2029]+/g;

/** GitHub's limits on an issue's title and body, in characters. */
const GITHUB_MAX_TITLE = 256;
const GITHUB_MAX_BODY = 65_536;

/** `text` in at most `n` UTF-16 units (at least as many characters), ending with the truncation marker when cut. */
function fitted(text: string, n: number): string {
  return text.length <= n ? text : cutAt(text, n - TRUNCATED.length) + TRUNCATED;
}

function trimSlash(url: string): string {
  return trimTrailingSlashes(url);
}

/**
 * What a redirect's error tells the operator to change (src/executors/http.ts): the setting the provider's
 * addresses come from (EWM's factory and query URLs are discovered from its catalog), or for GitHub also the
 * action's repository, which GitHub answers with a 301 or 307 once it was renamed or moved.
 */
const REDIRECT_FIX = {
  ewm: 'set EWM_CATALOG_URL to the address that answers',
  jira: 'set JIRA_BASE_URL to the address that answers',
  github: "set GITHUB_API_URL to the address that answers (or the action's repo to where the repository moved)",
} as const;

function http(kind: keyof typeof REDIRECT_FIX, deps: ProviderDeps, call: WorkItemCall = {}): { fetch?: FetchLike; timeoutMs?: number; signal?: AbortSignal; redirectFix: string } {
  const out: { fetch?: FetchLike; timeoutMs?: number; signal?: AbortSignal; redirectFix: string } = { redirectFix: REDIRECT_FIX[kind] };
  if (deps.fetch) out.fetch = deps.fetch;
  if (deps.timeoutMs !== undefined) out.timeoutMs = deps.timeoutMs;
  if (call.signal) out.signal = call.signal;
  return out;
}

function asRecord(value: unknown, label: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new WorkItemError(`${label}: unexpected response shape`, false);
  return value as Record<string, unknown>;
}

function asString(value: unknown): string | undefined {
  if (typeof value === 'string' && value !== '') return value;
  if (typeof value === 'number') return String(value);
  return undefined;
}

// ---------------------------------------------------------------- IBM EWM / RTC (OSLC CM 2.0)

export interface EwmConfig {
  /**
   * The OSLC CM service provider catalog, one service provider per project area (EWM:
   * `https://host/ccm/oslc/workitems/catalog`, the `oslc_cm:cmServiceProviders` of `/ccm/rootservices`).
   */
  catalogUrl: string;
  /** The project area the items go to: its name (the catalog entry's `dcterms:title`) or its id (`_abc…`). */
  projectArea: string;
  usernameRef: string;
  passwordRef: string;
  /** Default `dcterms:type` when the input has none (e.g. `task`, or a type URI). */
  defaultType?: string;
}

/** Where one project area takes new change requests and answers queries (from its service provider). */
export interface EwmEndpoints {
  serviceProviderUrl: string;
  creationFactoryUrl: string;
  queryCapabilityUrl: string;
}

const OSLC_DEFAULT_USAGE = 'http://open-services.net/ns/core#default';
const OSLC_CHANGE_REQUEST = 'http://open-services.net/ns/cm#ChangeRequest';

/** OSLC JSON gives a single value or an array for a multi-valued property. */
function many(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

/** A resource reference: `{"rdf:resource": url}`, `{"rdf:about": url}` or a plain string. */
function resourceOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value !== 'object' || value === null) return undefined;
  const r = value as Record<string, unknown>;
  return asString(r['rdf:resource']) ?? asString(r['rdf:about']);
}

function refsOf(value: unknown): string[] {
  return many(value)
    .map(resourceOf)
    .filter((v): v is string => v !== undefined);
}

/**
 * Picks the capability meant for change requests: the one marked `oslc:usage` default, else one whose
 * resource type is a change request, else the first.
 */
function pickCapability(list: Record<string, unknown>[]): Record<string, unknown> | undefined {
  return (
    list.find((c) => refsOf(c['oslc:usage']).includes(OSLC_DEFAULT_USAGE)) ??
    list.find((c) => refsOf(c['oslc:resourceType']).includes(OSLC_CHANGE_REQUEST)) ??
    list[0]
  );
}

/**
 * Finds the named project area in the catalog and reads its service provider for the creation factory
 * and query capability. Every URL found must be on the catalog's origin: the credentials go there.
 */
export async function discoverEwmProjectArea(config: EwmConfig, deps: ProviderDeps = {}, call: WorkItemCall = {}, headers: Record<string, string> = {}): Promise<EwmEndpoints> {
  const label = 'ewm';
  const origin = new URL(config.catalogUrl).origin;
  const sameOrigin = (url: string, what: string): string => {
    let parsed: URL;
    try {
      parsed = new URL(url, config.catalogUrl);
    } catch {
      throw new WorkItemError(`${label}: ${what} is not a URL`, false);
    }
    if (parsed.origin !== origin) throw new WorkItemError(`${label}: ${what} is on another server than the catalog; refused`, false);
    return parsed.toString();
  };
  const catalogRes = await httpRequest({ method: 'GET', url: config.catalogUrl, label, headers, ...http('ewm', deps, call) });
  const catalog = asRecord(parseJson(catalogRes, label), label);
  const wanted = config.projectArea;
  const providers = many(catalog['oslc:serviceProvider']).filter((p): p is Record<string, unknown> => typeof p === 'object' && p !== null);
  const match = providers.find((p) => asString(p['dcterms:title']) === wanted) ?? providers.find((p) => (resourceOf(p) ?? '').includes(`/contexts/${wanted}/`));
  const providerUrl = match ? resourceOf(match) : undefined;
  if (!providerUrl) throw new WorkItemError(`${label}: no project area named ${JSON.stringify(wanted.slice(0, 200))} in the service provider catalog`, false);
  const serviceProviderUrl = sameOrigin(providerUrl, 'the service provider');
  const spRes = await httpRequest({ method: 'GET', url: serviceProviderUrl, label, headers, ...http('ewm', deps, call) });
  const sp = asRecord(parseJson(spRes, label), label);
  const services = many(sp['oslc:service']).filter((s): s is Record<string, unknown> => typeof s === 'object' && s !== null);
  const capabilities = (key: string) => services.flatMap((s) => many(s[key])).filter((c): c is Record<string, unknown> => typeof c === 'object' && c !== null);
  const factory = resourceOf(pickCapability(capabilities('oslc:creationFactory'))?.['oslc:creation']);
  const query = resourceOf(pickCapability(capabilities('oslc:queryCapability'))?.['oslc:queryBase']);
  if (!factory) throw new WorkItemError(`${label}: the project area's service provider has no creation factory`, false);
  if (!query) throw new WorkItemError(`${label}: the project area's service provider has no query capability`, false);
  return { serviceProviderUrl, creationFactoryUrl: sameOrigin(factory, 'the creation factory'), queryCapabilityUrl: sameOrigin(query, 'the query capability') };
}

/**
 * EWM/RTC through OSLC CM 2.0 with JSON. The project area's creation factory and query capability are
 * discovered from the catalog (once per provider; a failed discovery is tried again on the next call).
 * The change request is POSTed to that factory; the idempotency label is stored as a tag
 * (`dcterms:subject`) and found with an `oslc.where` query on the same project area. Title and description
 * are XHTML (OSLC XMLLiterals) to EWM, so they go escaped ({@link xmlLiteral}).
 */
export function createEwmProvider(config: EwmConfig, deps: ProviderDeps = {}): WorkItemProvider {
  const label = 'ewm';
  const headers = async (): Promise<Record<string, string>> => ({
    Authorization: basicAuth(await resolveSecretRef(config.usernameRef, deps.env), await resolveSecretRef(config.passwordRef, deps.env)),
    'OSLC-Core-Version': '2.0',
    Accept: 'application/json',
  });
  let discovered: Promise<EwmEndpoints> | undefined;
  const endpoints = async (call: WorkItemCall | undefined): Promise<EwmEndpoints> => {
    discovered ??= headers().then((h) => discoverEwmProjectArea(config, deps, call, h));
    try {
      return await discovered;
    } catch (err) {
      discovered = undefined;
      throw err;
    }
  };
  /** A 404/410 from a discovered URL (the project area moved or was archived): discover again next time. */
  const rediscoverOn = (err: unknown): never => {
    if (err instanceof HttpCallError && (err.status === 404 || err.status === 410)) discovered = undefined;
    throw err;
  };
  const refOf = (item: Record<string, unknown>, location: string | null): WorkItemRef => {
    const url = asString(item['rdf:about']) ?? location ?? undefined;
    if (!url) throw new WorkItemError(`${label}: response has neither rdf:about nor Location`, false);
    const id = asString(item['dcterms:identifier']) ?? asString(item['oslc:shortId']) ?? url.split('/').filter(Boolean).pop() ?? url;
    return { id, url };
  };
  return {
    kind: 'ewm',
    async create(input, call) {
      const tag = idempotencyLabel(input.idempotencyKey);
      const { creationFactoryUrl } = await endpoints(call);
      const body: Record<string, unknown> = {
        // XMLLiterals: a title such as `<a href="https://evil.example">Fix</a>` stays text, `a & b` stays valid.
        'dcterms:title': xmlLiteral(input.title),
        'dcterms:description': xmlLiteral(input.description, true),
        'dcterms:subject': [tag, ...(input.labels ?? [])].join(', '),
      };
      const type = input.type ?? config.defaultType;
      if (type !== undefined) body['dcterms:type'] = type;
      if (input.filedAgainst !== undefined) body['rtc_cm:filedAgainst'] = { 'rdf:resource': input.filedAgainst };
      const res = await httpRequest({
        method: 'POST',
        url: creationFactoryUrl,
        label,
        headers: { ...(await headers()), 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
        ...http('ewm', deps, call),
      }).catch(rediscoverOn);
      const location = res.headers.get('location');
      const parsed = res.text.trim() === '' ? {} : asRecord(parseJson(res, label), label);
      return refOf(parsed, location);
    },
    async findByIdempotencyKey(key, call) {
      const tag = idempotencyLabel(key);
      const url = new URL((await endpoints(call)).queryCapabilityUrl);
      url.searchParams.set('oslc.where', `dcterms:subject="${tag}"`);
      url.searchParams.set('oslc.select', 'dcterms:identifier');
      const res = await httpRequest({ method: 'GET', url: url.toString(), label, headers: await headers(), ...http('ewm', deps, call) }).catch(rediscoverOn);
      const parsed = asRecord(parseJson(res, label), label);
      const results = parsed['oslc:results'] ?? parsed['rdfs:member'];
      if (!Array.isArray(results)) throw new WorkItemError(`${label}: query response without oslc:results`, false);
      const first = results[0] as unknown;
      if (first === undefined) return null;
      const item = asRecord(first, label);
      const resource = asString(item['rdf:resource']);
      return refOf(resource ? { ...item, 'rdf:about': resource } : item, null);
    },
  };
}

// ---------------------------------------------------------------- Jira Cloud

export interface JiraConfig {
  /** e.g. https://your-domain.atlassian.net */
  baseUrl: string;
  email: string;
  apiTokenRef: string;
  projectKey: string;
  /** Default issue type name. Default `Task`. */
  issueType?: string;
}

/** Atlassian Document Format for plain text: one paragraph per blank-line-separated block. */
export function toAdf(text: string): Record<string, unknown> {
  const paragraphs = text
    .split(/\n\s*\n/)
    .map((p) => p.trim())
    .filter((p) => p !== '')
    .map((p) => ({
      type: 'paragraph',
      content: p.split('\n').flatMap((line, i) => [...(i > 0 ? [{ type: 'hardBreak' }] : []), ...(line === '' ? [] : [{ type: 'text', text: line }])]),
    }));
  return { type: 'doc', version: 1, content: paragraphs };
}

/** Jira Cloud REST v3: issues carry a label derived from the idempotency key, found again with JQL. */
export function createJiraProvider(config: JiraConfig, deps: ProviderDeps = {}): WorkItemProvider {
  const base = trimSlash(config.baseUrl);
  const label = 'jira';
  const headers = async (): Promise<Record<string, string>> => ({
    Authorization: basicAuth(config.email, await resolveSecretRef(config.apiTokenRef, deps.env)),
    Accept: 'application/json',
  });
  return {
    kind: 'jira',
    async create(input, call) {
      const keyLabel = idempotencyLabel(input.idempotencyKey);
      const labels = [...new Set([...(input.labels ?? []).map((l) => l.replace(/\s+/g, '-')), keyLabel])];
      const body = {
        fields: {
          project: { key: input.project ?? config.projectKey },
          issuetype: { name: input.type ?? config.issueType ?? 'Task' },
          // Jira refuses, for good (400), a summary with a line break ("contains newline characters"), and a
          // title rendered from an incident may hold one: line breaks and other controls become spaces.
          summary: cutAt(input.title.replace(LINE_BREAKS_AND_CONTROLS, ' '), 255),
          description: toAdf(input.description),
          labels,
        },
      };
      const res = await httpRequest({
        method: 'POST',
        url: `${base}/rest/api/3/issue`,
        label,
        headers: { ...(await headers()), 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
        ...http('jira', deps, call),
      });
      const parsed = asRecord(parseJson(res, label), label);
      const key = asString(parsed.key);
      if (!key) throw new WorkItemError(`${label}: create response without key`, false);
      return { id: key, url: `${base}/browse/${key}` };
    },
    async findByIdempotencyKey(key, call) {
      const url = new URL(`${base}/rest/api/3/search/jql`);
      url.searchParams.set('jql', `labels = "${idempotencyLabel(key)}" ORDER BY created ASC`);
      url.searchParams.set('fields', 'summary');
      url.searchParams.set('maxResults', '1');
      const res = await httpRequest({ method: 'GET', url: url.toString(), label, headers: await headers(), ...http('jira', deps, call) });
      const parsed = asRecord(parseJson(res, label), label);
      if (!Array.isArray(parsed.issues)) throw new WorkItemError(`${label}: search response without issues`, false);
      const first = parsed.issues[0] as unknown;
      if (first === undefined) return null;
      const issueKey = asString(asRecord(first, label).key);
      if (!issueKey) throw new WorkItemError(`${label}: search result without key`, false);
      return { id: issueKey, url: `${base}/browse/${issueKey}` };
    },
  };
}

// ---------------------------------------------------------------- GitHub Issues

export interface GitHubConfig {
  /** Default https://api.github.com (GitHub Enterprise: https://host/api/v3). */
  apiUrl?: string;
  owner: string;
  repo: string;
  tokenRef: string;
  /** Label put on every issue and used to list candidates. Default `selfheal`. */
  label?: string;
  /** How many pages of 100 issues to scan for the marker. Default 10. */
  maxPages?: number;
}

/**
 * GitHub Issues: a hidden `<!-- selfheal:<key> -->` marker on the body's first line, found by listing
 * labelled issues. The description follows it, its incident values made inert as it was rendered
 * (`githubEscape`): a marker it carries is not on the first line, so it cannot pass the issue off as
 * another incident's.
 */
export function createGitHubProvider(config: GitHubConfig, deps: ProviderDeps = {}): WorkItemProvider {
  const api = trimSlash(config.apiUrl ?? 'https://api.github.com');
  const repoPath = `/repos/${encodeURIComponent(config.owner)}/${encodeURIComponent(config.repo)}`;
  const marker = config.label ?? 'selfheal';
  const label = 'github';
  const headers = async (): Promise<Record<string, string>> => ({
    Authorization: `Bearer ${await resolveSecretRef(config.tokenRef, deps.env)}`,
    Accept: 'application/vnd.github+json',
    'X-GitHub-Api-Version': '2022-11-28',
    'User-Agent': 'selfheal',
  });
  const refOf = (issue: Record<string, unknown>): WorkItemRef => {
    const number = asString(issue.number);
    const url = asString(issue.html_url);
    if (!number || !url) throw new WorkItemError(`${label}: issue without number or html_url`, false);
    return { id: number, url };
  };
  return {
    kind: 'github',
    async create(input, call) {
      const head = `${idempotencyMarker(input.idempotencyKey)}\n\n`;
      const body = {
        // GitHub refuses (422, for good) a title over 256 characters and a body over 65,536: a long incident
        // title rendered in would have failed every attempt. Cut, the body saying so at its end.
        title: cutAt(input.title, GITHUB_MAX_TITLE),
        body: head + fitted(input.description, GITHUB_MAX_BODY - head.length),
        labels: [...new Set([marker, ...(input.labels ?? [])])],
      };
      const res = await httpRequest({
        method: 'POST',
        url: `${api}${repoPath}/issues`,
        label,
        headers: { ...(await headers()), 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
        ...http('github', deps, call),
      });
      return refOf(asRecord(parseJson(res, label), label));
    },
    async findByIdempotencyKey(key, call) {
      const needle = idempotencyMarker(key);
      const maxPages = config.maxPages ?? 10;
      for (let page = 1; page <= maxPages; page++) {
        const url = new URL(`${api}${repoPath}/issues`);
        url.searchParams.set('labels', marker);
        url.searchParams.set('state', 'all');
        url.searchParams.set('sort', 'created');
        url.searchParams.set('direction', 'desc');
        url.searchParams.set('per_page', '100');
        url.searchParams.set('page', String(page));
        // An issue made after `createdAfter` was updated after it too (10 min of clock skew allowed): the
        // list leaves out older ones.
        if (call?.createdAfter) url.searchParams.set('since', new Date(call.createdAfter.getTime() - 600_000).toISOString());
        const res = await httpRequest({ method: 'GET', url: url.toString(), label, headers: await headers(), ...http('github', deps, call) });
        const list = parseJson(res, label);
        if (!Array.isArray(list)) throw new WorkItemError(`${label}: issue list is not an array`, false);
        for (const entry of list) {
          const issue = asRecord(entry, label);
          if (issue.pull_request !== undefined) continue;
          // Only the first line is ours; the rest is the description, written by whoever wrote the incident.
          if (typeof issue.body === 'string' && isOurs(issue.body, needle)) return refOf(issue);
        }
        if (list.length < 100) return null;
      }
      return null;
    },
  };
}
