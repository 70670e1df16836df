// PagerDuty REST API v2 client for the few calls Self-healing makes: read an incident, its alerts and
// notes, write back (note, acknowledge/resolve, priority, escalation) and manage the V3 webhook
// subscription. PagerDuty's writes take no idempotency key (the OpenAPI document lists only Accept,
// Content-Type and From for createIncidentNote and updateIncident): activities/side-effects.ts and
// activities/own-writes.ts make them exactly-once and recognisable.
// Responses are parsed tolerantly (unknown fields kept). The API token never appears in errors, and a
// redirect is never followed: the token and the request go to PAGERDUTY_API_URL only.
import { z } from '../domain/zod.js';
import { trimTrailingSlashes } from '../domain/text.js';
import { askedPauseMs, readBodyCapped, redirectTarget } from '../http-body.js';

/** PagerDuty's pages (100 alerts or notes) are well under this; reading stops here (undici's text() has no limit). */
const MAX_ANSWER_BYTES = 8 * 1024 * 1024;

export interface PagerDutyClientOptions {
  /** e.g. `https://api.pagerduty.com` */
  baseUrl: string;
  token: string;
  /** Email of a valid user on the account; PagerDuty requires it (`From`) on writes. */
  fromEmail: string;
  fetch?: typeof globalThis.fetch;
  /** Per-request timeout; default 15 s for a request made without an attempt's `signal` (CallOptions). */
  timeoutMs?: number;
  /** Pagination cap for list calls; default 10 pages of 100. */
  maxPages?: number;
}

export interface IncidentUpdate {
  status?: 'acknowledged' | 'resolved';
  priorityId?: string;
  escalationLevel?: number;
  /** Only meaningful with `status: 'resolved'`: added to the resolve log entry. */
  resolution?: string;
}

/**
 * Per-call options: a signal that aborts the call (an activity attempt's deadline). It bounds the call
 * alone: the action's `timeoutSeconds` may allow PagerDuty more than the 15 s default.
 */
export interface CallOptions {
  signal?: AbortSignal | undefined;
}

export interface WebhookSubscriptionInput {
  url: string;
  events: string[];
  filter: { type: 'account_reference' } | { type: 'service_reference' | 'team_reference'; id: string };
  description?: string;
  customHeaders?: { name: string; value: string }[];
  active?: boolean;
}

const looseRecord = z.looseObject({});
const alertSchema = z.looseObject({ id: z.string() });
const alertsPageSchema = z.looseObject({
  alerts: z.array(alertSchema),
  more: z.boolean().nullish(),
  limit: z.number().nullish(),
  offset: z.number().nullish(),
});
const userRefSchema = z.looseObject({ id: z.string(), type: z.string().optional() });
const noteSchema = z.looseObject({ id: z.string(), content: z.string().optional(), user: userRefSchema.nullish(), created_at: z.string().optional() });
const noteResponseSchema = z.looseObject({ note: noteSchema });
const notesResponseSchema = z.looseObject({ notes: z.array(noteSchema) });
const incidentResponseSchema = z.looseObject({
  incident: z.looseObject({
    id: z.string(),
    status: z.string().optional(),
    priority: z.looseObject({ id: z.string() }).nullish(),
    last_status_change_by: userRefSchema.nullish(),
  }),
});
const subscriptionSchema = z.looseObject({
  id: z.string(),
  type: z.string().optional(),
  active: z.boolean().optional(),
  events: z.array(z.string()).optional(),
  delivery_method: z.looseObject({ url: z.string().optional(), secret: z.string().nullish() }).optional(),
  filter: looseRecord.optional(),
});
const subscriptionResponseSchema = z.looseObject({ webhook_subscription: subscriptionSchema });
const subscriptionsPageSchema = z.looseObject({ webhook_subscriptions: z.array(subscriptionSchema), more: z.boolean().nullish() });
const errorBodySchema = z.looseObject({
  error: z.looseObject({ message: z.string().optional(), code: z.number().optional(), errors: z.array(z.unknown()).optional() }),
});

export type PagerDutyAlert = z.infer<typeof alertSchema>;
export type IncidentNote = z.infer<typeof noteResponseSchema>['note'];
export type PagerDutyIncident = z.infer<typeof incidentResponseSchema>['incident'];
export type WebhookSubscription = z.infer<typeof subscriptionSchema>;

export class PagerDutyApiError extends Error {
  override readonly name = 'PagerDutyApiError';
  constructor(
    message: string,
    /**
     * HTTP status (a 3xx is a redirect, not followed: only a 303 to a write may follow a write that was made);
     * undefined when no response arrived (network error, timeout, bad response).
     */
    readonly status: number | undefined,
    /** True for 429, 5xx and network failures: the same call may succeed later. */
    readonly retryable: boolean,
    readonly details: { method: string; path: string; code?: number; errors?: string[]; retryAfterMs?: number } = { method: '', path: '' },
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface PagerDutyClient {
  /** The incident's alerts, oldest first; with `max`, reading stops at the page that holds that many. */
  listIncidentAlerts(incidentId: string, options?: { max?: number }): Promise<PagerDutyAlert[]>;
  addNote(incidentId: string, content: string, options?: CallOptions): Promise<IncidentNote>;
  /** Every note of the incident (PagerDuty keeps at most 2000), oldest first. */
  listIncidentNotes(incidentId: string, options?: CallOptions): Promise<IncidentNote[]>;
  getIncident(incidentId: string, options?: CallOptions): Promise<PagerDutyIncident>;
  updateIncident(incidentId: string, update: IncidentUpdate, options?: CallOptions): Promise<PagerDutyIncident>;
  /** Note: the list filter says `service`, where a subscription's own filter says `service_reference`. */
  listWebhookSubscriptions(filter?: { type: 'account' } | { type: 'service' | 'team'; id: string }): Promise<WebhookSubscription[]>;
  /** The response carries `delivery_method.secret`, the signing secret, only this once. */
  createWebhookSubscription(input: WebhookSubscriptionInput): Promise<WebhookSubscription>;
  deleteWebhookSubscription(id: string): Promise<void>;
}

const PAGE_LIMIT = 100;

function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

export function createPagerDutyClient(options: PagerDutyClientOptions): PagerDutyClient {
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const baseUrl = trimTrailingSlashes(options.baseUrl);
  const timeoutMs = options.timeoutMs ?? 15_000;
  // Within an attempt its deadline bounds a request; the default applies only to requests made without one.
  const limited = (signal: AbortSignal | undefined): AbortSignal =>
    !signal ? AbortSignal.timeout(timeoutMs) : options.timeoutMs !== undefined ? AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) : signal;
  const maxPages = options.maxPages ?? 10;
  if (!options.token) throw new Error('PagerDuty client needs an API token');

  async function request<T>(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    schema: z.ZodType<T> | undefined,
    init: { query?: Record<string, string>; body?: unknown; signal?: AbortSignal | undefined } = {},
  ): Promise<T | undefined> {
    const url = new URL(baseUrl + path);
    for (const [key, value] of Object.entries(init.query ?? {})) url.searchParams.set(key, value);
    const headers: Record<string, string> = {
      Authorization: `Token token=${options.token}`,
      Accept: 'application/json',
      'Content-Type': 'application/json',
    };
    if (method !== 'GET') {
      if (!options.fromEmail) {
        throw new PagerDutyApiError(`PagerDuty API ${method} ${path}: no From email configured for writes`, undefined, false, { method, path });
      }
      headers['From'] = options.fromEmail;
    }
    let response: Response;
    try {
      response = await fetchImpl(url, {
        method,
        headers,
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
        // fetch follows a 3xx by default: the request, its body and From, went again wherever the answer
        // pointed, and on the same origin the Authorization header with it. Only PAGERDUTY_API_URL gets them.
        redirect: 'manual',
        signal: limited(init.signal),
      });
    } catch (error) {
      const reason =
        error instanceof Error && error.name === 'TimeoutError' ? `timed out after ${init.signal?.aborted ? 'the attempt deadline' : `${timeoutMs} ms`}` : 'network error';
      throw new PagerDutyApiError(`PagerDuty API ${method} ${path}: ${reason}`, undefined, true, { method, path }, { cause: error });
    }
    if (response.status >= 300 && response.status <= 399) {
      await response.body?.cancel().catch(() => undefined);
      // Not retryable: the same address answers the same until the configuration changes. The status is kept:
      // of the redirects only 303 See Other answers a write that was handled (its result is elsewhere), so a
      // write answered 303 counts as maybe made (activities/side-effects.ts whatHappened: the next attempt looks
      // for it); a 301, 302, 307 or 308 says the request was not handled at this address, so nothing was written.
      // Where it points, as its origin only: a Location's path, user part, query or fragment can carry a token
      // (a sign-on page's return ticket, a secret path segment), and this message is kept in action runs, API
      // answers, logs and notes.
      const location = redirectTarget(response.headers.get('location'), url.href);
      const what =
        method === 'GET'
          ? 'redirects are not followed'
          : response.status === 303
            ? 'the write may have been made (303 See Other); redirects are not followed'
            : 'redirects are not followed, so the write was not made';
      throw new PagerDutyApiError(
        `PagerDuty API ${method} ${path} answered ${response.status}, redirecting to ${location}: ${what}; set PAGERDUTY_API_URL to the address that answers`,
        response.status,
        false,
        { method, path },
      );
    }
    // A body cut off mid-way (the connection dropped after the status line) is an answer we did not get.
    let answer: { text: string; truncated: boolean };
    try {
      answer = await readBodyCapped(response, MAX_ANSWER_BYTES);
    } catch (error) {
      throw new PagerDutyApiError(`PagerDuty API ${method} ${path}: answer cut off`, undefined, true, { method, path }, { cause: error });
    }
    if (answer.truncated) throw new PagerDutyApiError(`PagerDuty API ${method} ${path}: the answer is larger than ${MAX_ANSWER_BYTES} bytes (not read)`, response.status, false, { method, path });
    const text = answer.text;
    if (!response.ok) {
      let message = response.statusText || 'request failed';
      const details: PagerDutyApiError['details'] = { method, path };
      try {
        const parsed = errorBodySchema.safeParse(JSON.parse(text));
        if (parsed.success) {
          if (parsed.data.error.message) message = parsed.data.error.message;
          if (parsed.data.error.code !== undefined) details.code = parsed.data.error.code;
          if (parsed.data.error.errors) details.errors = parsed.data.error.errors.map(String);
        }
      } catch {
        // not JSON: keep the status text
      }
      const after = askedPauseMs(response.headers);
      if (after !== undefined) details.retryAfterMs = after;
      const extra = details.errors?.length ? ` (${details.errors.join('; ')})` : '';
      throw new PagerDutyApiError(
        `PagerDuty API ${method} ${path} failed with ${response.status}: ${message}${extra}`,
        response.status,
        isRetryableStatus(response.status),
        details,
      );
    }
    if (!schema) return undefined;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new PagerDutyApiError(`PagerDuty API ${method} ${path}: response is not JSON`, response.status, true, { method, path }, { cause: error });
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const fields = parsed.error.issues.map((issue) => issue.path.join('.') || '(body)').join(', ');
      throw new PagerDutyApiError(`PagerDuty API ${method} ${path}: unexpected response shape at ${fields}`, response.status, false, { method, path });
    }
    return parsed.data;
  }

  async function required<T>(promise: Promise<T | undefined>): Promise<T> {
    const value = await promise;
    if (value === undefined) throw new Error('unreachable: response schema given');
    return value;
  }

  const id = (value: string): string => {
    if (!value) throw new PagerDutyApiError('PagerDuty API: empty id', undefined, false);
    return encodeURIComponent(value);
  };

  return {
    async listIncidentAlerts(incidentId, options) {
      const path = `/incidents/${id(incidentId)}/alerts`;
      const alerts: PagerDutyAlert[] = [];
      for (let page = 0; page < maxPages; page++) {
        const body = await required(
          request('GET', path, alertsPageSchema, { query: { limit: String(PAGE_LIMIT), offset: String(alerts.length) } }),
        );
        alerts.push(...body.alerts);
        if (!body.more || body.alerts.length === 0 || (options?.max !== undefined && alerts.length >= options.max)) break;
      }
      return alerts;
    },

    async addNote(incidentId, content, options) {
      const body = await required(
        request('POST', `/incidents/${id(incidentId)}/notes`, noteResponseSchema, { body: { note: { content } }, signal: options?.signal }),
      );
      return body.note;
    },

    async listIncidentNotes(incidentId, options) {
      const body = await required(request('GET', `/incidents/${id(incidentId)}/notes`, notesResponseSchema, { signal: options?.signal }));
      return body.notes;
    },

    async getIncident(incidentId, options) {
      const body = await required(request('GET', `/incidents/${id(incidentId)}`, incidentResponseSchema, { signal: options?.signal }));
      return body.incident;
    },

    async updateIncident(incidentId, update, options) {
      const incident: Record<string, unknown> = { type: 'incident_reference' };
      if (update.status) incident['status'] = update.status;
      if (update.priorityId) incident['priority'] = { id: update.priorityId, type: 'priority_reference' };
      if (update.escalationLevel !== undefined) {
        if (!Number.isInteger(update.escalationLevel) || update.escalationLevel < 1) {
          throw new PagerDutyApiError('PagerDuty API: escalationLevel must be a positive integer', undefined, false);
        }
        incident['escalation_level'] = update.escalationLevel;
      }
      if (update.resolution !== undefined) incident['resolution'] = update.resolution;
      const body = await required(request('PUT', `/incidents/${id(incidentId)}`, incidentResponseSchema, { body: { incident }, signal: options?.signal }));
      return body.incident;
    },

    async listWebhookSubscriptions(filter) {
      const subscriptions: WebhookSubscription[] = [];
      for (let page = 0; page < maxPages; page++) {
        const query: Record<string, string> = { limit: String(PAGE_LIMIT), offset: String(subscriptions.length) };
        if (filter) {
          query['filter_type'] = filter.type;
          if ('id' in filter) query['filter_id'] = filter.id;
        }
        const body = await required(request('GET', '/webhook_subscriptions', subscriptionsPageSchema, { query }));
        subscriptions.push(...body.webhook_subscriptions);
        if (!body.more || body.webhook_subscriptions.length === 0) break;
      }
      return subscriptions;
    },

    async createWebhookSubscription(input) {
      const deliveryMethod: Record<string, unknown> = { type: 'http_delivery_method', url: input.url };
      if (input.customHeaders?.length) deliveryMethod['custom_headers'] = input.customHeaders;
      const subscription: Record<string, unknown> = {
        type: 'webhook_subscription',
        delivery_method: deliveryMethod,
        events: input.events,
        filter: input.filter,
      };
      if (input.description !== undefined) subscription['description'] = input.description;
      if (input.active !== undefined) subscription['active'] = input.active;
      const body = await required(
        request('POST', '/webhook_subscriptions', subscriptionResponseSchema, { body: { webhook_subscription: subscription } }),
      );
      return body.webhook_subscription;
    },

    async deleteWebhookSubscription(subscriptionId) {
      await request('DELETE', `/webhook_subscriptions/${id(subscriptionId)}`, undefined);
    },
  };
}
