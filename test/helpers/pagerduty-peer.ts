// A local stand-in for PagerDuty's REST API (the endpoints Self-healing calls). Every request is
// checked against PagerDuty's official OpenAPI document: method and path, auth token, the header,
// path and query parameters the operation declares, and the JSON body against the operation's
// requestBody schema (ajv, $refs resolved inside the document). Bad requests get 400 with the
// validation errors, in PagerDuty's error shape; every request is recorded for assertions.
//
// Like PagerDuty, it can send V3 webhooks (signed `X-PagerDuty-Signature: v1=<HMAC-SHA256>`) for what
// happens to its incidents: `incident.annotated` for each note, `incident.acknowledged|resolved|
// priority_updated|escalated` for each update, with `agent` the user the write was made as (From). Their
// shape follows PagerDuty's samples (developer docs' webhook overview; zulip fixtures annotated_v3,
// escalate_v3, priority_updated_v3, resolved_v3). People's notes and updates come from `humanNote` and
// `humanUpdate`. A write's answer can be lost after the write took effect (`loseNextAnswer`).
//
// Over ~400 lines on purpose: one stand-in for one API, all its endpoints validated against one OpenAPI
// document and sharing one incident store, from which its webhooks are sent.
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Ajv } from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

// PagerDuty's REST document, cut to the paths the peer serves (see test/fixtures/pagerduty/README.md).
const OPENAPI_URL = new URL('../fixtures/pagerduty/openapi/rest-openapiv3.cut.json', import.meta.url);
const DOC_ID = 'pagerduty-rest';

type Json = Record<string, unknown>;

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | undefined>;
  body: unknown;
  rawBody: string;
  operationId: string | undefined;
  status: number;
  errors: string[];
  /** When the request arrived (Date.now()). */
  at: number;
}

export interface PeerNote {
  id: string;
  content: string;
  from: string;
  /** PagerDuty user id of `from`. */
  userId: string;
  created_at: string;
}

export interface PeerIncident {
  id: string;
  status: 'triggered' | 'acknowledged' | 'resolved';
  priority: { id: string } | null;
  escalation_level: number;
  resolution?: string;
}

/** What the peer knows of an incident beyond its state: what its webhooks and answers carry. */
interface IncidentMeta {
  serviceId: string;
  title: string;
  /** Email of whoever last changed the status. */
  lastStatusChangeBy?: string;
  /** When the status last changed (ISO), as GET /incidents/{id} gives it in `last_status_change_at`. */
  lastStatusChangeAt?: string;
}

export interface PeerWebhookDelivery {
  eventId: string;
  eventType: string;
  incidentId: string;
  /** Who the event says acted: the user id of the write's From address. */
  agentId: string;
  /** Final HTTP status (0: no answer). */
  status: number;
}

export type IncidentChange = { status?: 'acknowledged' | 'resolved' | 'triggered'; priorityId?: string; escalationLevel?: number };

export interface PagerDutyPeer {
  url: string;
  requests: RecordedRequest[];
  /** Alerts returned by GET /incidents/{id}/alerts for this incident (default: none). */
  seedAlerts(incidentId: string, alerts: unknown[]): void;
  /**
   * Answer the next `times` matching requests with `status` instead of handling them; a 429 says
   * `Retry-After: 1`, or `retryAfter` seconds when given (then any status says it).
   */
  failNext(status: number, times?: number, match?: { method?: string; pathPrefix?: string; retryAfter?: number }): void;
  /**
   * Answer the next `times` matching requests with the redirect `status` (a proxy, or an API moved), its
   * Location the same path under `/moved`. A 301, 302, 307 or 308 does nothing (the request is not handled);
   * a 303 See Other to a write is what a server answers after it made the write: the write takes effect and
   * the answer points to where its result is. `location` replaces that Location (a 301, 302, 307 or 308 only).
   */
  redirectNext(status: 301 | 302 | 303 | 307 | 308, times?: number, match?: { method?: string; pathPrefix?: string; location?: string }): void;
  notes(incidentId: string): PeerNote[];
  incident(incidentId: string): PeerIncident | undefined;
  /** When the incident's status last changed, as GET /incidents/{id} answers it (without making that request). */
  lastStatusChangeAt(incidentId: string): string | undefined;
  webhookSubscriptions(): Json[];
  /** Service and title the incident's webhook payloads carry. */
  seedIncident(incidentId: string, fields: { serviceId: string; title?: string }): void;
  /** From now on, send V3 webhooks for every change to `url`, signed with `secret`. */
  sendWebhooksTo(url: string, secret: string): void;
  /** Webhooks sent so far, in order. */
  deliveries: PeerWebhookDelivery[];
  /** Resolves once no webhook is waiting to be sent. */
  webhooksSent(): Promise<void>;
  /** A person (not the API caller) adds a note in PagerDuty's UI: the note and its webhook. */
  humanNote(incidentId: string, content: string, email?: string): PeerNote;
  /** A person changes the incident in PagerDuty's UI: the change and its webhooks. */
  humanUpdate(incidentId: string, change: IncidentChange, email?: string): void;
  /**
   * The next write matching `match` takes effect (note created, incident updated, webhook sent) and its
   * answer is lost: 'drop' closes the connection; { delayMs } answers that much later.
   */
  loseNextAnswer(how: 'drop' | { delayMs: number }, match?: { method?: string; pathPrefix?: string }): void;
  close(): Promise<void>;
}

/** The PagerDuty user id the peer gives an email address (stable, like a real account's user). */
export function peerUserId(email: string): string {
  return `PU${createHash('sha256').update(email).digest('hex').slice(0, 8).toUpperCase()}`;
}

// ---------------------------------------------------------------------------------------------
// OpenAPI document and validators (loaded once per process)

interface Operation {
  method: string;
  template: string;
  operationId: string | undefined;
  pattern: RegExp;
  pathParams: string[];
  headers: { name: string; required: boolean; validate: ValidateFunction }[];
  query: Map<string, { required: boolean; schema: Json; validate: ValidateFunction }>;
  body: { required: boolean; validate: ValidateFunction } | undefined;
}

function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Make `#/...` refs of a schema taken out of the document point back into the document. */
function rehome(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rehome);
  if (typeof value !== 'object' || value === null) return value;
  const out: Json = {};
  for (const [key, inner] of Object.entries(value)) {
    out[key] = key === '$ref' && typeof inner === 'string' && inner.startsWith('#') ? `${DOC_ID}${inner}` : rehome(inner);
  }
  return out;
}

function resolve(doc: Json, value: unknown): Json {
  let current = value as Json;
  for (let depth = 0; depth < 10 && typeof current['$ref'] === 'string'; depth++) {
    const pointer = (current['$ref'] as string).replace(/^#\//, '').split('/');
    let target: unknown = doc;
    for (const raw of pointer) target = (target as Json)[raw.replace(/~1/g, '/').replace(/~0/g, '~')];
    current = target as Json;
  }
  return current;
}

const SUPPORTED: [string, string][] = [
  ['get', '/incidents/{id}/alerts'],
  ['post', '/incidents/{id}/notes'],
  ['get', '/incidents/{id}/notes'],
  ['put', '/incidents/{id}'],
  ['get', '/incidents/{id}'],
  ['get', '/webhook_subscriptions'],
  ['post', '/webhook_subscriptions'],
  ['get', '/webhook_subscriptions/{id}'],
  ['delete', '/webhook_subscriptions/{id}'],
];

let operationsPromise: Promise<Operation[]> | undefined;

async function loadOperations(): Promise<Operation[]> {
  const doc = JSON.parse(await readFile(OPENAPI_URL, 'utf8')) as Json;
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
  addFormats.default(ajv);
  // PagerDuty's document uses `format: url` for delivery URLs; ajv-formats has no such format.
  ajv.addFormat('url', (value: string) => {
    try {
      const parsed = new URL(value);
      return parsed.protocol === 'https:' || parsed.protocol === 'http:';
    } catch {
      return false;
    }
  });
  ajv.addSchema(doc, DOC_ID);
  const paths = doc['paths'] as Record<string, Record<string, Json>>;
  return SUPPORTED.map(([method, template]) => {
    const op = paths[template]?.[method];
    if (!op) throw new Error(`OpenAPI document has no ${method.toUpperCase()} ${template}`);
    const pathParams = [...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
    const pattern = new RegExp(`^${template.replace(/\{\w+\}/g, '([^/]+)')}$`);
    const operation: Operation = {
      method: method.toUpperCase(),
      template,
      operationId: typeof op['operationId'] === 'string' ? op['operationId'] : undefined,
      pattern,
      pathParams,
      headers: [],
      query: new Map(),
      body: undefined,
    };
    for (const rawParam of (op['parameters'] as unknown[] | undefined) ?? []) {
      const param = resolve(doc, rawParam);
      const schema = rehome(param['schema'] ?? {}) as Json;
      const entry = { required: param['required'] === true, schema, validate: ajv.compile(schema) };
      const name = String(param['name']);
      if (param['in'] === 'header') operation.headers.push({ name, ...entry });
      if (param['in'] === 'query') operation.query.set(name, entry);
    }
    const requestBody = op['requestBody'] ? resolve(doc, op['requestBody']) : undefined;
    const bodySchema = (requestBody?.['content'] as Record<string, Json> | undefined)?.['application/json']?.['schema'];
    if (bodySchema) {
      const pointer = `${DOC_ID}#/paths/${escapePointer(template)}/${method}/requestBody/content/${escapePointer('application/json')}/schema`;
      let validate: ValidateFunction;
      try {
        validate = ajv.compile({ $ref: pointer });
      } catch {
        validate = ajv.compile(rehome(bodySchema) as Json);
      }
      operation.body = { required: true, validate };
    }
    return operation;
  });
}

function formatErrors(where: string, errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => `${where}${e.instancePath || ''} ${e.message ?? 'is invalid'}${e.params && 'allowedValues' in e.params ? ` (${(e.params['allowedValues'] as unknown[]).join(', ')})` : ''}`);
}

function coerce(raw: string, schema: Json): unknown {
  switch (schema['type']) {
    case 'integer':
    case 'number':
      return raw.trim() === '' ? raw : Number(raw);
    case 'boolean':
      return raw === 'true' ? true : raw === 'false' ? false : raw;
    default:
      return raw;
  }
}

// ---------------------------------------------------------------------------------------------
// The peer

export interface PagerDutyPeerOptions {
  token: string;
  /** Largest page the peer serves, whatever `limit` asks (PagerDuty's is 100). */
  maxPageSize?: number;
}

export async function startPagerDutyPeer(options: PagerDutyPeerOptions): Promise<PagerDutyPeer> {
  const maxPageSize = options.maxPageSize ?? 100;
  operationsPromise ??= loadOperations();
  const operations = await operationsPromise;
  const requests: RecordedRequest[] = [];
  const alertsByIncident = new Map<string, unknown[]>();
  const notesByIncident = new Map<string, PeerNote[]>();
  const incidents = new Map<string, PeerIncident>();
  const metas = new Map<string, IncidentMeta>();
  const subscriptions = new Map<string, Json>();
  const failures: { status: number; remaining: number; method?: string; pathPrefix?: string; retryAfter?: number }[] = [];
  const redirects: { status: number; remaining: number; method?: string; pathPrefix?: string; location?: string }[] = [];
  const losses: { how: 'drop' | { delayMs: number }; method?: string; pathPrefix?: string }[] = [];
  const delayed = new Set<NodeJS.Timeout>();
  const deliveries: PeerWebhookDelivery[] = [];
  let webhookTarget: { url: string; secret: string } | undefined;
  let outbox: Promise<void> = Promise.resolve();
  let baseUrl = '';

  const incidentState = (id: string): PeerIncident => {
    let incident = incidents.get(id);
    if (!incident) {
      incident = { id, status: 'triggered', priority: null, escalation_level: 1 };
      incidents.set(id, incident);
    }
    return incident;
  };
  const metaOf = (id: string): IncidentMeta => {
    let meta = metas.get(id);
    if (!meta) {
      meta = { serviceId: 'PSERVICE', title: `Incident ${id}` };
      metas.set(id, meta);
    }
    return meta;
  };

  const userRef = (email: string): Json => {
    const id = peerUserId(email);
    return { id, type: 'user_reference', summary: email, self: `${baseUrl}/users/${id}`, html_url: `https://example.pagerduty.com/users/${id}` };
  };
  const incidentRef = (incident: PeerIncident): Json => ({
    id: incident.id,
    type: 'incident_reference',
    self: `${baseUrl}/incidents/${incident.id}`,
    html_url: `https://example.pagerduty.com/incidents/${incident.id}`,
    summary: metaOf(incident.id).title,
  });
  /** `data` of an incident.* event: the incident as V3 webhooks show it. */
  const webhookIncident = (incident: PeerIncident): Json => ({
    id: incident.id,
    type: 'incident',
    self: `${baseUrl}/incidents/${incident.id}`,
    html_url: `https://example.pagerduty.com/incidents/${incident.id}`,
    number: 1,
    status: incident.status,
    incident_key: null,
    created_at: '2024-01-01T00:00:00Z',
    title: metaOf(incident.id).title,
    service: { id: metaOf(incident.id).serviceId, type: 'service_reference', self: `${baseUrl}/services/${metaOf(incident.id).serviceId}`, summary: 'Service' },
    assignees: [],
    escalation_policy: { id: 'PPOLICY', type: 'escalation_policy_reference', self: `${baseUrl}/escalation_policies/PPOLICY`, summary: 'Default' },
    teams: [],
    priority: incident.priority ? { id: incident.priority.id, type: 'priority_reference', summary: incident.priority.id } : null,
    urgency: 'high',
    conference_bridge: null,
    resolve_reason: null,
  });

  /** Queue one V3 webhook (sent in order, retried a few times like PagerDuty on 5xx or no answer). */
  const emit = (incidentId: string, eventType: string, email: string, data: Json): void => {
    if (!webhookTarget) return;
    const target = webhookTarget;
    const eventId = `01${randomBytes(12).toString('hex').toUpperCase()}`;
    const raw = JSON.stringify({
      event: { id: eventId, event_type: eventType, resource_type: 'incident', occurred_at: new Date().toISOString(), agent: userRef(email), client: null, data },
    });
    const delivery: PeerWebhookDelivery = { eventId, eventType, incidentId, agentId: peerUserId(email), status: 0 };
    deliveries.push(delivery);
    outbox = outbox.then(async () => {
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          const res = await fetch(target.url, {
            method: 'POST',
            headers: {
              'Content-Type': 'application/json',
              'User-Agent': 'PagerDuty-Webhook/V3.0',
              'X-PagerDuty-Signature': `v1=${createHmac('sha256', target.secret).update(raw).digest('hex')}`,
              'X-Webhook-Id': randomUUID(),
              'X-Webhook-Subscription': 'PSUBSCR',
            },
            body: raw,
            signal: AbortSignal.timeout(15_000),
          });
          await res.arrayBuffer();
          delivery.status = res.status;
          if (res.status < 500) return;
        } catch {
          delivery.status = 0;
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    });
  };

  const addNote = (incidentId: string, content: string, email: string): PeerNote => {
    const note: PeerNote = { id: `N${randomBytes(4).toString('hex').toUpperCase()}`, content, from: email, userId: peerUserId(email), created_at: new Date().toISOString() };
    const list = notesByIncident.get(incidentId) ?? [];
    list.push(note);
    notesByIncident.set(incidentId, list);
    emit(incidentId, 'incident.annotated', email, { incident: incidentRef(incidentState(incidentId)), id: note.id, content, trimmed: false, type: 'incident_note' });
    return note;
  };
  const noteBody = (note: PeerNote): Json => ({
    id: note.id,
    user: userRef(note.from),
    channel: { summary: 'The PagerDuty website or APIs' },
    content: note.content,
    created_at: note.created_at,
  });

  /** Apply a change; every status, priority or escalation written gives its webhook, as PagerDuty logs each. */
  const applyChange = (incidentId: string, change: IncidentChange, email: string): PeerIncident => {
    const incident = incidentState(incidentId);
    if (change.status) {
      incident.status = change.status;
      metaOf(incidentId).lastStatusChangeBy = email;
      // Whole seconds, as PagerDuty's REST API gives its times (its webhooks carry milliseconds).
      metaOf(incidentId).lastStatusChangeAt = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      const type = { acknowledged: 'incident.acknowledged', resolved: 'incident.resolved', triggered: 'incident.unacknowledged' }[change.status];
      emit(incidentId, type, email, webhookIncident(incident));
    }
    if (change.priorityId !== undefined) {
      incident.priority = { id: change.priorityId };
      emit(incidentId, 'incident.priority_updated', email, webhookIncident(incident));
    }
    if (change.escalationLevel !== undefined) {
      incident.escalation_level = change.escalationLevel;
      emit(incidentId, 'incident.escalated', email, webhookIncident(incident));
    }
    return incident;
  };

  const incidentBody = (incident: PeerIncident): Json => ({
    id: incident.id,
    type: 'incident',
    summary: `[#1] ${metaOf(incident.id).title}`,
    self: `${baseUrl}/incidents/${incident.id}`,
    html_url: `https://example.pagerduty.com/incidents/${incident.id}`,
    incident_number: 1,
    title: metaOf(incident.id).title,
    created_at: '2024-01-01T00:00:00Z',
    updated_at: new Date().toISOString(),
    status: incident.status,
    urgency: 'high',
    priority: incident.priority ? { id: incident.priority.id, type: 'priority_reference', summary: incident.priority.id } : null,
    escalation_level: incident.escalation_level,
    service: { id: metaOf(incident.id).serviceId, type: 'service_reference', summary: 'Service', self: `${baseUrl}/services/${metaOf(incident.id).serviceId}` },
    assignments: [],
    ...(metaOf(incident.id).lastStatusChangeBy ? { last_status_change_by: userRef(metaOf(incident.id).lastStatusChangeBy!) } : {}),
    last_status_change_at: metaOf(incident.id).lastStatusChangeAt ?? '2024-01-01T00:00:00Z',
  });

  function handle(op: Operation, params: Record<string, string>, query: Record<string, string>, body: Json, from: string): [number, unknown] {
    switch (`${op.method} ${op.template}`) {
      case 'GET /incidents/{id}/alerts': {
        const all = alertsByIncident.get(params['id']!) ?? [];
        const limit = Math.min(Math.max(Number(query['limit'] ?? 25), 1), maxPageSize);
        const offset = Math.max(Number(query['offset'] ?? 0), 0);
        const page = all.slice(offset, offset + limit);
        return [200, { alerts: page, limit, offset, more: offset + page.length < all.length, total: query['total'] === 'true' ? all.length : null }];
      }
      case 'POST /incidents/{id}/notes': {
        const note = addNote(params['id']!, String((body['note'] as Json)['content']), from);
        return [200, { note: noteBody(note) }];
      }
      case 'GET /incidents/{id}/notes':
        return [200, { notes: (notesByIncident.get(params['id']!) ?? []).map(noteBody) }];
      case 'PUT /incidents/{id}': {
        const update = body['incident'] as Json;
        const change: IncidentChange = {};
        if (update['status'] === 'triggered' || update['status'] === 'acknowledged' || update['status'] === 'resolved') change.status = update['status'];
        if (update['priority'] && typeof update['priority'] === 'object') change.priorityId = String((update['priority'] as Json)['id']);
        if (typeof update['escalation_level'] === 'number') change.escalationLevel = update['escalation_level'];
        const incident = applyChange(params['id']!, change, from);
        if (typeof update['resolution'] === 'string') incident.resolution = update['resolution'];
        return [200, { incident: incidentBody(incident) }];
      }
      case 'GET /incidents/{id}':
        return [200, { incident: incidentBody(incidentState(params['id']!)) }];
      case 'GET /webhook_subscriptions': {
        let all = [...subscriptions.values()];
        // The list filter says `service`; a subscription's filter says `service_reference`.
        if (query['filter_type']) all = all.filter((s) => (s['filter'] as Json)['type'] === `${query['filter_type']}_reference`);
        if ((query['filter_type'] === 'service' || query['filter_type'] === 'team') && !query['filter_id']) {
          return [400, { error: { message: 'Invalid Input Provided', code: 2001, errors: ['filter_id is required for filter_type service or team'] } }];
        }
        if (query['filter_id']) all = all.filter((s) => (s['filter'] as Json)['id'] === query['filter_id']);
        const limit = Math.min(Math.max(Number(query['limit'] ?? 25), 1), maxPageSize);
        const offset = Math.max(Number(query['offset'] ?? 0), 0);
        const page = all.slice(offset, offset + limit).map(redact);
        return [200, { webhook_subscriptions: page, limit, offset, more: offset + page.length < all.length, total: null }];
      }
      case 'POST /webhook_subscriptions': {
        const input = body['webhook_subscription'] as Json;
        const id = `P${randomBytes(3).toString('hex').toUpperCase()}`;
        const stored: Json = {
          ...input,
          id,
          type: 'webhook_subscription',
          active: input['active'] ?? true,
          delivery_method: { ...(input['delivery_method'] as Json), id: `P${randomBytes(3).toString('hex').toUpperCase()}`, temporarily_disabled: false, secret: randomBytes(24).toString('base64') },
        };
        subscriptions.set(id, stored);
        return [200, { webhook_subscription: stored }];
      }
      case 'GET /webhook_subscriptions/{id}': {
        const found = subscriptions.get(params['id']!);
        return found ? [200, { webhook_subscription: redact(found) }] : notFound();
      }
      case 'DELETE /webhook_subscriptions/{id}':
        return subscriptions.delete(params['id']!) ? [204, undefined] : notFound();
      default:
        return notFound();
    }
  }

  function redact(subscription: Json): Json {
    const method = subscription['delivery_method'] as Json;
    const headers = (method['custom_headers'] as Json[] | undefined)?.map((h) => ({ name: h['name'], value: '-- redacted --' }));
    return { ...subscription, delivery_method: { ...method, secret: null, ...(headers ? { custom_headers: headers } : {}) } };
  }

  function notFound(): [number, unknown] {
    return [404, { error: { message: 'Not Found', code: 2100 } }];
  }

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const rawBody = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', baseUrl);
    const method = (req.method ?? 'GET').toUpperCase();
    const headers: Record<string, string | undefined> = {};
    for (const [name, value] of Object.entries(req.headers)) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    const query = Object.fromEntries(url.searchParams.entries());
    const record: RecordedRequest = { method, path: url.pathname, query, headers, body: undefined, rawBody, operationId: undefined, status: 0, errors: [], at: Date.now() };
    requests.push(record);

    const reply = (status: number, payload: unknown): void => {
      record.status = status;
      if (payload === undefined) {
        res.writeHead(status).end();
        return;
      }
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(payload));
    };

    let params: Record<string, string> = {};
    const op = operations.find((candidate) => {
      if (candidate.method !== method) return false;
      const match = candidate.pattern.exec(url.pathname);
      if (!match) return false;
      params = Object.fromEntries(candidate.pathParams.map((name, i) => [name, decodeURIComponent(match[i + 1]!)]));
      return true;
    });
    if (!op) {
      record.errors.push(`no PagerDuty operation ${method} ${url.pathname} in this peer`);
      reply(404, { error: { message: 'Not Found', code: 2100 } });
      return;
    }
    record.operationId = op.operationId;

    // PagerDuty checks the token before anything else.
    if (headers['authorization'] !== `Token token=${options.token}`) {
      record.errors.push('Authorization must be "Token token=<API key>" with a valid key');
      reply(401, { error: { message: 'Authentication failed', code: 2006 } });
      return;
    }

    const failure = failures.find((f) => f.remaining > 0 && (!f.method || f.method === method) && (!f.pathPrefix || url.pathname.startsWith(f.pathPrefix)));
    if (failure) {
      failure.remaining--;
      if (failure.retryAfter !== undefined || failure.status === 429) res.setHeader('Retry-After', String(failure.retryAfter ?? 1));
      reply(failure.status, { error: { message: failure.status === 429 ? 'Rate Limit Exceeded' : 'Internal Server Error', code: failure.status === 429 ? 2020 : 2001 } });
      return;
    }

    const redirect = redirects.find((r) => r.remaining > 0 && (!r.method || r.method === method) && (!r.pathPrefix || url.pathname.startsWith(r.pathPrefix)));
    if (redirect) redirect.remaining--;
    const moved = `${baseUrl}/moved${url.pathname}`;
    if (redirect && !(redirect.status === 303 && method !== 'GET')) {
      record.status = redirect.status;
      res.writeHead(redirect.status, { Location: redirect.location ?? moved }).end();
      return;
    }

    const errors = record.errors;
    for (const header of op.headers) {
      const raw = headers[header.name.toLowerCase()];
      if (raw === undefined) {
        if (header.required) errors.push(`header ${header.name} is required`);
        continue;
      }
      // Compare media types without parameters (charset) for Content-Type.
      const value = header.name.toLowerCase() === 'content-type' ? raw.split(';')[0]!.trim() : raw;
      if (!header.validate(value)) errors.push(...formatErrors(`header ${header.name}`, header.validate.errors));
    }
    const accept = headers['accept'] ?? '';
    if (!/application\/(json|vnd\.pagerduty\+json)/.test(accept)) errors.push('header Accept must accept application/json');

    for (const [name, raw] of Object.entries(query)) {
      const param = op.query.get(name) ?? op.query.get(name.replace(/\[\]$/, ''));
      if (!param) {
        errors.push(`query parameter ${name} is not defined for ${op.operationId ?? op.template}`);
        continue;
      }
      const value = param.schema['type'] === 'array' ? url.searchParams.getAll(name) : coerce(raw, param.schema);
      if (!param.validate(value)) errors.push(...formatErrors(`query ${name}`, param.validate.errors));
    }
    for (const [name, entry] of op.query) if (entry.required && !(name in query)) errors.push(`query parameter ${name} is required`);

    let body: Json = {};
    if (op.body) {
      if (headers['content-type']?.split(';')[0]?.trim() !== 'application/json') errors.push('Content-Type must be application/json');
      try {
        const parsed: unknown = JSON.parse(rawBody);
        record.body = parsed;
        if (!op.body.validate(parsed)) errors.push(...formatErrors('body', op.body.validate.errors));
        else body = parsed as Json;
      } catch {
        errors.push('body is not valid JSON');
      }
    } else if (rawBody.length > 0) {
      errors.push(`${method} ${op.template} takes no request body`);
    }

    if (errors.length > 0) {
      reply(400, { error: { message: 'Invalid Input Provided', code: 2001, errors } });
      return;
    }
    const [status, payload] = handle(op, params, query, body, headers['from'] ?? '');
    if (redirect && status < 300) {
      // 303 See Other after the write took effect: its result is elsewhere.
      record.status = 303;
      res.writeHead(303, { Location: moved }).end();
      return;
    }
    const loss = losses.findIndex((l) => (!l.method || l.method === method) && (!l.pathPrefix || url.pathname.startsWith(l.pathPrefix)));
    if (loss === -1 || status >= 300) {
      reply(status, payload);
      return;
    }
    // The write took effect; its answer never arrives (or arrives after the caller gave up).
    const [{ how }] = losses.splice(loss, 1) as [{ how: 'drop' | { delayMs: number } }];
    record.status = -1;
    if (how === 'drop') {
      res.socket?.destroy();
      return;
    }
    const timer = setTimeout(() => {
      delayed.delete(timer);
      if (!res.destroyed) reply(status, payload);
    }, how.delayMs);
    delayed.add(timer);
  }

  const server = createServer((req, res) => {
    onRequest(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `peer failure: ${String(error)}`, code: 2001 } }));
    });
  });
  await new Promise<void>((resolvePromise) => server.listen(0, '127.0.0.1', resolvePromise));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: baseUrl,
    requests,
    seedAlerts(incidentId, alerts) {
      alertsByIncident.set(incidentId, [...alerts]);
    },
    failNext(status, times = 1, match = {}) {
      failures.push({ status, remaining: times, ...match });
    },
    redirectNext(status, times = 1, match = {}) {
      redirects.push({ status, remaining: times, ...match });
    },
    notes: (incidentId) => [...(notesByIncident.get(incidentId) ?? [])],
    incident: (incidentId) => incidents.get(incidentId),
    lastStatusChangeAt: (incidentId) => metaOf(incidentId).lastStatusChangeAt,
    webhookSubscriptions: () => [...subscriptions.values()],
    seedIncident(incidentId, fields) {
      const meta = metaOf(incidentId);
      meta.serviceId = fields.serviceId;
      if (fields.title !== undefined) meta.title = fields.title;
    },
    sendWebhooksTo(url, secret) {
      webhookTarget = { url, secret };
    },
    deliveries,
    async webhooksSent() {
      for (let seen: Promise<void> | undefined; seen !== outbox; ) {
        seen = outbox;
        await seen;
      }
    },
    humanNote: (incidentId, content, email = 'oncall.human@example.com') => addNote(incidentId, content, email),
    humanUpdate(incidentId, change, email = 'oncall.human@example.com') {
      applyChange(incidentId, change, email);
    },
    loseNextAnswer(how, match = {}) {
      losses.push({ how, ...match });
    },
    close: () =>
      new Promise<void>((resolvePromise, reject) => {
        for (const timer of delayed) clearTimeout(timer);
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolvePromise()));
      }),
  };
}

/** A fresh alert id-ed like PagerDuty's, for seeding many alerts. */
export function fakeAlertId(): string {
  return `Q${randomUUID().replace(/-/g, '').slice(0, 13).toUpperCase()}`;
}
