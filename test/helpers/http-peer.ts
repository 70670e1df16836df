// Local stand-ins for the SaaS APIs actions call (Slack incoming webhooks, Jira, GitHub, IBM EWM), each on the
// recording peer of http-recorder.ts (re-exported here, so tests import every peer from this module): they
// check what Self-healing sends the way the real API would and keep what it created.
import { expectShape, startHttpPeer, type RecordedRequest, type PeerResponse, type RouteHandler, type HttpPeer } from './http-recorder.js';

export * from './http-recorder.js';

function header(req: RecordedRequest, name: string): string {
  const value = req.headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(',') : (value ?? '');
}

function expectJson(req: RecordedRequest): Record<string, unknown> {
  expectShape(header(req, 'content-type').startsWith('application/json'), 'Content-Type must be application/json');
  expectShape(typeof req.json === 'object' && req.json !== null && !Array.isArray(req.json), 'body must be a JSON object');
  return req.json as Record<string, unknown>;
}

function expectBasic(req: RecordedRequest, user: string, password: string): void {
  const expected = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  if (header(req, 'authorization') !== expected) throw new AuthError();
}

class AuthError extends Error {}

/** Wraps a handler so a failed credential check answers 401 (not a shape violation). */
function authed(check: (req: RecordedRequest) => void, handle: RouteHandler): RouteHandler {
  return (req) => {
    try {
      check(req);
    } catch (err) {
      if (err instanceof AuthError) return { status: 401, json: { message: 'unauthorized' } };
      throw err;
    }
    return handle(req);
  };
}

// ------------------------------------------------------------------ Slack incoming webhook

export interface SlackPeer extends HttpPeer {
  webhookUrl: string;
  messages: Array<{ text: string; blocks?: unknown[] }>;
}

export async function startSlackPeer(): Promise<SlackPeer> {
  const hookPath = '/services/T000TEST/B000TEST/secretpart';
  const messages: SlackPeer['messages'] = [];
  const peer = await startHttpPeer([
    {
      method: 'POST',
      path: /^\/services\/[^/]+\/[^/]+\/[^/]+$/,
      handle: (req) => {
        if (req.path !== hookPath) return { status: 404, text: 'no_service' };
        const body = expectJson(req);
        expectShape(typeof body.text === 'string' && body.text !== '', 'text must be a non-empty string');
        expectShape(body.blocks === undefined || Array.isArray(body.blocks), 'blocks must be an array');
        messages.push({ text: body.text, ...(Array.isArray(body.blocks) ? { blocks: body.blocks } : {}) });
        return { status: 200, text: 'ok' };
      },
    },
  ]);
  return Object.assign(peer, { webhookUrl: `${peer.url}${hookPath}`, messages });
}

// ------------------------------------------------------------------ Jira Cloud REST v3

export interface JiraIssue {
  id: string;
  key: string;
  fields: Record<string, unknown> & { labels: string[]; summary: string };
}

export interface JiraPeer extends HttpPeer {
  baseUrl: string;
  email: string;
  token: string;
  issues: JiraIssue[];
}

function isAdfDoc(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const doc = value as Record<string, unknown>;
  if (doc.type !== 'doc' || doc.version !== 1 || !Array.isArray(doc.content)) return false;
  const validNode = (node: unknown): boolean => {
    if (typeof node !== 'object' || node === null) return false;
    const n = node as Record<string, unknown>;
    if (typeof n.type !== 'string') return false;
    if (n.type === 'text') return typeof n.text === 'string' && n.text !== '';
    return n.content === undefined || (Array.isArray(n.content) && n.content.every(validNode));
  };
  return doc.content.every(validNode);
}

/**
 * `indexLagMs`: JQL search shows an issue only that long after it was created, as Jira Cloud's search
 * index does ("Search After Write with Search And Reconcile": seconds to minutes).
 */
export async function startJiraPeer(opts: { email?: string; token?: string; projects?: string[]; indexLagMs?: number } = {}): Promise<JiraPeer> {
  const email = opts.email ?? 'sre@example.com';
  const token = opts.token ?? 'jira-test-token';
  const projects = opts.projects ?? ['OPS'];
  const issues: JiraIssue[] = [];
  const createdAt = new Map<string, number>();
  const check = (req: RecordedRequest): void => {
    expectBasic(req, email, token);
  };
  const peerRef: { url: string } = { url: '' };
  const peer = await startHttpPeer([
    {
      method: 'POST',
      path: '/rest/api/3/issue',
      handle: authed(check, (req) => {
        const body = expectJson(req);
        const fields = body.fields as Record<string, unknown> | undefined;
        expectShape(typeof fields === 'object' && fields !== null, 'fields must be an object');
        const project = fields.project as Record<string, unknown> | undefined;
        expectShape(typeof project?.key === 'string' || typeof project?.id === 'string', 'fields.project.key or .id required');
        const issuetype = fields.issuetype as Record<string, unknown> | undefined;
        expectShape(typeof issuetype?.name === 'string' || typeof issuetype?.id === 'string', 'fields.issuetype.name or .id required');
        expectShape(typeof fields.summary === 'string' && fields.summary.trim() !== '' && fields.summary.length <= 255, 'fields.summary must be a 1-255 char string');
        // Jira: 400 "The summary is invalid because it contains newline characters."
        expectShape(!/[\r\n]/.test(fields.summary as string), 'fields.summary must not contain newline characters');
        expectShape(fields.description === undefined || isAdfDoc(fields.description), 'fields.description must be an ADF document (v3 API)');
        const labels = fields.labels ?? [];
        expectShape(Array.isArray(labels) && labels.every((l) => typeof l === 'string' && l !== '' && !/\s/.test(l)), 'fields.labels must be strings without spaces');
        if (typeof project.key === 'string' && !projects.includes(project.key)) {
          return { status: 400, json: { errorMessages: [], errors: { project: 'valid project is required' } } };
        }
        const id = String(10000 + issues.length);
        const key = `${String(project.key ?? projects[0])}-${issues.length + 1}`;
        issues.push({ id, key, fields: { ...fields, labels: labels as string[], summary: fields.summary } });
        createdAt.set(key, Date.now());
        return { status: 201, json: { id, key, self: `${peerRef.url}/rest/api/3/issue/${id}` } };
      }),
    },
    ...['/rest/api/3/search/jql', '/rest/api/3/search'].map((path) => ({
      method: 'GET',
      path,
      handle: authed(check, (req: RecordedRequest): PeerResponse => {
        const jql = req.query.get('jql') ?? '';
        const m = /^labels\s*=\s*"([^"]+)"/.exec(jql);
        expectShape(m, `unsupported jql in test peer: ${jql}`);
        const indexedBefore = Date.now() - (opts.indexLagMs ?? 0);
        const found = issues.filter((i) => i.fields.labels.includes(m[1]!) && (createdAt.get(i.key) ?? 0) <= indexedBefore);
        const max = Number(req.query.get('maxResults') ?? '50');
        return { status: 200, json: { issues: found.slice(0, max).map((i) => ({ id: i.id, key: i.key, fields: { summary: i.fields.summary } })), isLast: true } };
      }),
    })),
  ]);
  peerRef.url = peer.url;
  return Object.assign(peer, { baseUrl: peer.url, email, token, issues });
}

// ------------------------------------------------------------------ GitHub Issues REST

export interface GitHubIssue {
  number: number;
  title: string;
  body: string;
  labels: string[];
  html_url: string;
  created_at: string;
  updated_at: string;
}

export interface GitHubPeer extends HttpPeer {
  apiUrl: string;
  owner: string;
  repo: string;
  token: string;
  issues: GitHubIssue[];
}

export async function startGitHubPeer(opts: { owner?: string; repo?: string; token?: string } = {}): Promise<GitHubPeer> {
  const owner = opts.owner ?? 'acme';
  const repo = opts.repo ?? 'ops';
  const token = opts.token ?? 'ghp_testtoken';
  const issues: GitHubIssue[] = [];
  const check = (req: RecordedRequest): void => {
    if (header(req, 'authorization') !== `Bearer ${token}`) throw new AuthError();
    expectShape(header(req, 'accept') === 'application/vnd.github+json', 'Accept must be application/vnd.github+json');
    expectShape(header(req, 'x-github-api-version') === '2022-11-28', 'X-GitHub-Api-Version must be 2022-11-28');
    expectShape(header(req, 'user-agent') !== '', 'User-Agent is required by GitHub');
  };
  const issuesPath = `/repos/${owner}/${repo}/issues`;
  const peer = await startHttpPeer([
    {
      method: 'POST',
      path: issuesPath,
      handle: authed(check, (req) => {
        const body = expectJson(req);
        expectShape(typeof body.title === 'string' && body.title !== '', 'title is required');
        // GitHub's own limits (422 "title is too long (maximum is 256 characters)", "body is too long (maximum is 65536 characters)").
        expectShape([...body.title].length <= 256, 'title is too long (maximum is 256 characters)');
        expectShape(typeof body.body !== 'string' || [...body.body].length <= 65_536, 'body is too long (maximum is 65536 characters)');
        expectShape(body.body === undefined || typeof body.body === 'string', 'body must be a string');
        const labels = body.labels ?? [];
        expectShape(Array.isArray(labels) && labels.every((l) => typeof l === 'string'), 'labels must be strings');
        const number = issues.length + 1;
        const now = new Date().toISOString();
        const issue: GitHubIssue = {
          number,
          title: body.title,
          body: (body.body as string | undefined) ?? '',
          labels: labels as string[],
          html_url: `https://github.com/${owner}/${repo}/issues/${number}`,
          created_at: now,
          updated_at: now,
        };
        issues.push(issue);
        return { status: 201, json: { id: 900000 + number, ...issue, labels: issue.labels.map((name) => ({ name })), state: 'open' } };
      }),
    },
    {
      method: 'GET',
      path: issuesPath,
      handle: authed(check, (req) => {
        const wanted = (req.query.get('labels') ?? '').split(',').filter(Boolean);
        const since = req.query.get('since');
        expectShape(since === null || !Number.isNaN(Date.parse(since)), 'since must be an ISO 8601 timestamp');
        const perPage = Math.min(Number(req.query.get('per_page') ?? '30'), 100);
        const page = Number(req.query.get('page') ?? '1');
        const matching = issues.filter((i) => wanted.every((l) => i.labels.includes(l)) && (since === null || i.updated_at >= new Date(since).toISOString())).reverse();
        const slice = matching.slice((page - 1) * perPage, page * perPage);
        return { status: 200, json: slice.map((i) => ({ ...i, labels: i.labels.map((name) => ({ name })), state: 'open' })) };
      }),
    },
  ]);
  return Object.assign(peer, { apiUrl: peer.url, owner, repo, token, issues });
}

// ------------------------------------------------------------------ IBM EWM / RTC OSLC CM 2.0

export interface EwmWorkItem {
  id: string;
  about: string;
  /** Id of the project area whose creation factory received the POST. */
  projectArea: string;
  properties: Record<string, unknown>;
}

export interface EwmPeer extends HttpPeer {
  /** The work item service provider catalog (`/ccm/oslc/workitems/catalog`). */
  catalogUrl: string;
  /** Project areas served: id (`_abc`) → name (the catalog's `dcterms:title`). */
  projectAreas: Record<string, string>;
  username: string;
  password: string;
  items: EwmWorkItem[];
}

/**
 * EWM as OSLC CM 2.0 discovery shows it (JSON): the catalog lists one service provider per project area;
 * each service provider names its creation factory and query capability
 * (`/ccm/oslc/contexts/<id>/workitems`). Items are created in the project area whose factory got the
 * POST, and a query sees only its own project area's items. A POST or GET to an unknown project area is 404.
 */
export async function startEwmPeer(opts: { username?: string; password?: string; projectAreas?: Record<string, string> } = {}): Promise<EwmPeer> {
  const username = opts.username ?? 'ewm-bot';
  const password = opts.password ?? 'ewm-secret';
  const projectAreas = opts.projectAreas ?? { _projArea1: 'JKE Banking', _projArea2: 'Platform Operations' };
  const items: EwmWorkItem[] = [];
  const base: { url: string } = { url: '' };
  const ctx = (id: string) => `${base.url}/ccm/oslc/contexts/${id}/workitems`;
  const check = (req: RecordedRequest): void => {
    expectBasic(req, username, password);
    expectShape(header(req, 'oslc-core-version') === '2.0', 'OSLC-Core-Version: 2.0 is required');
    expectShape(header(req, 'accept').includes('application/json'), 'Accept must include application/json');
  };
  const unknownArea = (id: string): PeerResponse | null =>
    projectAreas[id] === undefined ? { status: 404, json: { 'oslc:message': `project area ${id} not found` } } : null;
  const peer = await startHttpPeer([
    {
      method: 'GET',
      path: '/ccm/oslc/workitems/catalog',
      handle: authed(check, () => ({
        status: 200,
        json: {
          'rdf:about': `${base.url}/ccm/oslc/workitems/catalog`,
          'oslc:serviceProvider': Object.entries(projectAreas).map(([id, title]) => ({
            'rdf:about': `${ctx(id)}/services.xml`,
            'dcterms:title': title,
            'oslc:details': { 'rdf:resource': `${base.url}/ccm/process/project-areas/${id}` },
          })),
        },
      })),
    },
    {
      method: 'GET',
      path: /^\/ccm\/oslc\/contexts\/(?<area>[^/]+)\/workitems\/services\.xml$/,
      handle: authed(check, (req) => {
        const id = req.params.area!;
        return (
          unknownArea(id) ?? {
            status: 200,
            json: {
              'rdf:about': `${ctx(id)}/services.xml`,
              'oslc:service': [
                {
                  'oslc:domain': { 'rdf:resource': 'http://open-services.net/ns/cm#' },
                  'oslc:creationFactory': [
                    // A type-specific factory listed first: the default one must be chosen.
                    { 'dcterms:title': 'Location for creation of Defect change requests', 'oslc:creation': { 'rdf:resource': `${ctx(id)}/defect` } },
                    {
                      'dcterms:title': 'Location for creation of change requests',
                      'oslc:usage': [{ 'rdf:resource': 'http://open-services.net/ns/core#default' }],
                      'oslc:resourceType': [{ 'rdf:resource': 'http://open-services.net/ns/cm#ChangeRequest' }],
                      'oslc:creation': { 'rdf:resource': ctx(id) },
                    },
                  ],
                  'oslc:queryCapability': [
                    {
                      'dcterms:title': 'Change request queries',
                      'oslc:usage': [{ 'rdf:resource': 'http://open-services.net/ns/core#default' }],
                      'oslc:queryBase': { 'rdf:resource': ctx(id) },
                    },
                  ],
                },
              ],
            },
          }
        );
      }),
    },
    {
      method: 'POST',
      path: /^\/ccm\/oslc\/contexts\/(?<area>[^/]+)\/workitems$/,
      handle: authed(check, (req) => {
        const area = req.params.area!;
        const missing = unknownArea(area);
        if (missing) return missing;
        const body = expectJson(req);
        expectShape(typeof body['dcterms:title'] === 'string' && body['dcterms:title'] !== '', 'dcterms:title is required');
        expectShape(body['dcterms:description'] === undefined || typeof body['dcterms:description'] === 'string', 'dcterms:description must be a string');
        expectShape(body['dcterms:type'] === undefined || typeof body['dcterms:type'] === 'string', 'dcterms:type must be a string');
        const filed = body['rtc_cm:filedAgainst'] as Record<string, unknown> | undefined;
        expectShape(filed === undefined || (typeof filed === 'object' && typeof filed['rdf:resource'] === 'string'), 'rtc_cm:filedAgainst must be {"rdf:resource": "<category URL>"}');
        expectShape(body['dcterms:subject'] === undefined || typeof body['dcterms:subject'] === 'string', 'dcterms:subject (tags) must be a string');
        const id = String(100 + items.length);
        const about = `${base.url}/ccm/resource/itemName/com.ibm.team.workitem.WorkItem/${id}`;
        items.push({ id, about, projectArea: area, properties: body });
        return { status: 201, headers: { Location: about }, json: { 'rdf:about': about, 'dcterms:identifier': id, ...body } };
      }),
    },
    {
      method: 'GET',
      path: /^\/ccm\/oslc\/contexts\/(?<area>[^/]+)\/workitems$/,
      handle: authed(check, (req) => {
        const area = req.params.area!;
        const missing = unknownArea(area);
        if (missing) return missing;
        const where = req.query.get('oslc.where') ?? '';
        const m = /^dcterms:subject="([^"]+)"$/.exec(where);
        expectShape(m, `unsupported oslc.where in test peer: ${where}`);
        const found = items.filter((i) => i.projectArea === area && String(i.properties['dcterms:subject'] ?? '').split(/\s*,\s*/).includes(m[1]!));
        return { status: 200, json: { 'oslc:responseInfo': { 'oslc:totalCount': found.length }, 'oslc:results': found.map((i) => ({ 'rdf:about': i.about, 'dcterms:identifier': i.id })) } };
      }),
    },
  ]);
  base.url = peer.url;
  return Object.assign(peer, { catalogUrl: `${peer.url}/ccm/oslc/workitems/catalog`, projectAreas, username, password, items });
}
