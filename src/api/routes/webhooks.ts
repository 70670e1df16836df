import type { Kysely } from 'kysely';
import { z } from '../../domain/zod.js';
import type { Database } from '../../db/database.js';
import { historyPurgedBefore } from '../../db/repositories/backtests.js';
import { eventExists, insertEventOnce } from '../../db/repositories/incidents.js';
import { classifyEvent, incidentIdOf, parseWebhookJson, webhookBodySchema } from '../../pagerduty/webhook.js';
import { verifySignature } from '../../pagerduty/signature.js';
import { incidentEventMessage, serviceIdOf, signalIncident } from '../../temporal/incident-signal.js';
import { incidentWorkflowId } from '../../temporal/names.js';
import { withTimeout } from '../../timeout.js';
import { MAX_WEBHOOK_BYTES, parseBoundedJson } from '../body.js';
import type { AppDeps, WebhookOutcome } from '../env.js';
import { problem } from '../problem.js';
import { json, newRouter, op, open, problemResponse } from '../router.js';

const anyStatus = z.object({ status: z.enum(['accepted', 'ignored', 'duplicate']), eventId: z.string() }).loose();

/** Postgres is a best-effort helper here (duplicate detection, recording ignored events), never a dependency. */
const DB_BUDGET_MS = 250;

/** Slack between "older than the history kept" and the purge, for a PagerDuty clock ahead of ours. */
const STALE_MARGIN_MS = 3_600_000;

/**
 * Why a signed incident event is too old to act on, or undefined. PagerDuty signs the body only (no
 * timestamp), so a captured delivery stays valid forever; what stops its replay is the duplicate lookup
 * on the event id, and the retention purge deletes those rows (by `received_at`) after
 * SELFHEAL_RETENTION_DAYS. An event that occurred before then could be one whose row is gone, so it is
 * refused instead of run again. A timestamp that does not parse is left to the workflow, which rejects it.
 */
export function staleEvent(occurredAt: string, retentionDays: number, now = Date.now(), purgedBefore: Date | null = null): string | undefined {
  const at = Date.parse(occurredAt);
  if (Number.isNaN(at)) return undefined;
  // The purge runs in the worker, with the worker's setting: what it has actually purged counts too.
  const kept = now - retentionDays * 86_400_000;
  const purged = purgedBefore?.getTime() ?? Number.NEGATIVE_INFINITY;
  if (at >= Math.max(kept, purged) + STALE_MARGIN_MS) return undefined;
  const history = purged > kept ? `the history kept (events before ${purgedBefore!.toISOString()} were purged)` : `the ${retentionDays} days of history kept (SELFHEAL_RETENTION_DAYS)`;
  return `occurred_at ${occurredAt.slice(0, 64)} is older than ${history}, less an hour: its delivery cannot be told from a replay of an event already handled and purged, so it is not acted on`;
}

/** How long the purge's watermark, read for the stale check, is reused (ms). */
const WATERMARK_TTL_MS = 60_000;

/**
 * PagerDuty Webhooks V3 → signalWithStart of the incident's workflow. Answers in milliseconds. Each answer
 * records its outcome on the context (`webhook`); the metrics middleware counts it and logs it on the
 * request's one access-log line.
 *
 * Fails closed: without PAGERDUTY_WEBHOOK_SECRETS every delivery is refused (503, saying how to configure
 * it) unless PAGERDUTY_WEBHOOK_ALLOW_UNSIGNED=true opts in. The body arrives bounded (256 KiB, enforced
 * while it streams by the app's body limit) before the signature is checked, and is parsed with the
 * API's depth limit after.
 */
export function webhookRoutes(deps: AppDeps) {
  const app = newRouter();
  // The body is documented, not validated by the router: the signature is checked on the raw bytes first.
  app.openAPIRegistry.register('PagerDutyWebhook', webhookBodySchema);
  const secrets = deps.config.pagerduty.webhookSecrets;
  const unsignedAllowed = secrets.length === 0 && deps.config.pagerduty.webhookAllowUnsigned;
  const maxInFlight = deps.config.pagerduty.webhookMaxInFlight;
  // How far the purge has gone (historyPurgedBefore), read at most once a minute, by one delivery at a time;
  // unknown while the database does not answer (the configured retention still bounds).
  let watermark: { purgedBefore: Date | null; readAt: number } | undefined;
  let reading: Promise<void> | undefined;
  const purgedBefore = async (): Promise<Date | null> => {
    if (!watermark || Date.now() - watermark.readAt > WATERMARK_TTL_MS) {
      reading ??= bestEffort(deps.db, historyPurgedBefore)
        .then((read) => {
          if (read !== undefined) watermark = { purgedBefore: read, readAt: Date.now() };
        })
        .finally(() => {
          reading = undefined;
        });
      await reading;
    }
    return watermark?.purgedBefore ?? null;
  };
  // Deliveries between the duplicate lookup and Temporal's answer. Past the bound, an overloaded ack
  // path answers 503 at once (PagerDuty retries) instead of queueing every delivery into the timeout.
  let inFlight = 0;

  const route = op(open(), {
    method: 'post',
    path: '/webhooks/pagerduty',
    tags: ['webhooks'],
    summary: 'PagerDuty V3 webhook',
    description: 'Signed with `X-PagerDuty-Signature: v1=<hex>` (several, comma-separated, during secret rotation). Starts or signals the incident workflow.',
    request: {
      headers: z.object({ 'x-pagerduty-signature': z.string().optional().describe('v1=<hex HMAC-SHA256 of the raw body>; required unless PAGERDUTY_WEBHOOK_ALLOW_UNSIGNED=true.') }),
      body: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/PagerDutyWebhook' } } } },
    },
    responses: {
      202: json('Accepted (or ignored: not an incident event).', anyStatus),
      200: json('Duplicate event: already accepted.', anyStatus),
      400: problemResponse('Malformed body.'),
      401: problemResponse('Bad or missing signature.'),
      403: problemResponse('Unsigned webhooks accepted (local development) and the request came from a browser (Origin or Sec-Fetch-Site): a web page may not post incidents.'),
      413: problemResponse('Body too large.'),
      422: problemResponse('A signed incident event older than SELFHEAL_RETENTION_DAYS (less an hour): its duplicate record may be purged, so it is refused as a possible replay.'),
      503: problemResponse('Temporal unavailable, or PAGERDUTY_WEBHOOK_MAX_IN_FLIGHT deliveries already in flight (with Retry-After); PagerDuty retries.'),
    },
  });

  app.openapi(route, async (c) => {
    const log = c.get('logger');
    const record = (outcome: string, fields: Omit<WebhookOutcome, 'outcome'> = {}) => c.set('webhook', { outcome, ...fields });
    if (secrets.length === 0 && !unsignedAllowed) {
      record('not_configured');
      return problem(
        c,
        503,
        'Service Unavailable',
        'webhook signing secrets are not configured: set PAGERDUTY_WEBHOOK_SECRETS to the V3 subscription secrets (comma-separated), or PAGERDUTY_WEBHOOK_ALLOW_UNSIGNED=true for local development',
      );
    }
    // Unsigned deliveries are a laptop's convenience for curl and tools. A browser's are refused: any page the
    // developer opens could post incidents to 127.0.0.1 and fire the laptop's rules (a text/plain POST needs
    // no CORS preflight, and a DNS-rebound name is even same-origin). Browsers mark their requests with
    // Origin or Sec-Fetch-Site, which a page cannot remove; curl and PagerDuty send neither.
    if (unsignedAllowed && (c.req.header('origin') !== undefined || c.req.header('sec-fetch-site') !== undefined)) {
      record('from_browser');
      return problem(c, 403, 'Forbidden', 'unsigned webhooks are not taken from a browser (the request has Origin or Sec-Fetch-Site): post them with curl or a tool, or set PAGERDUTY_WEBHOOK_SECRETS');
    }
    // At most MAX_WEBHOOK_BYTES: the app's body limit answered 413 already for anything larger.
    const raw = new Uint8Array(await c.req.arrayBuffer());

    if (!unsignedAllowed) {
      const header = c.req.header('x-pagerduty-signature');
      if (!header || !verifySignature(raw, header, secrets)) {
        record('bad_signature');
        log.warn({ reason: header ? 'mismatch' : 'missing' }, 'webhook signature rejected');
        return problem(c, 401, 'Unauthorized', header ? 'X-PagerDuty-Signature does not match any configured secret' : 'X-PagerDuty-Signature header is missing');
      }
    }

    const json = parseBoundedJson(new TextDecoder().decode(raw), MAX_WEBHOOK_BYTES);
    const parsed = json.ok ? parseWebhookJson(json.value) : { ok: false as const, detail: json.detail, fields: [] };
    if (!parsed.ok) {
      record('malformed');
      return problem(c, 400, 'Bad Request', parsed.detail, { errors: parsed.fields.map((f) => ({ path: f, message: 'missing or invalid' })) });
    }
    const event = parsed.event;
    const webhookId = c.req.header('x-webhook-id') ?? undefined;
    const incidentId = classifyEvent(event) === 'incident' ? incidentIdOf(event) : undefined;
    const about = { eventId: event.id, eventType: event.event_type, ...(incidentId ? { incidentId } : {}) };

    if (!incidentId) {
      await bestEffort(deps.db, (db) =>
        insertEventOnce(db, {
          eventId: event.id,
          webhookId,
          incidentId: null,
          eventType: event.event_type,
          resourceType: event.resource_type,
          occurredAt: event.occurred_at,
          disposition: 'ignored',
          payload: { event },
        }),
      );
      record('ignored', about);
      return c.json({ status: 'ignored', eventId: event.id, eventType: event.event_type }, 202);
    }

    const stale = unsignedAllowed ? undefined : staleEvent(event.occurred_at, deps.config.retention.days, Date.now(), await purgedBefore());
    if (stale) {
      record('stale', about);
      log.warn({ ...about, occurredAt: event.occurred_at.slice(0, 64) }, 'signed webhook event older than the history kept: refused as a possible replay');
      return problem(c, 422, 'Unprocessable Content', stale, { errors: [{ path: 'event.occurred_at', message: `older than ${deps.config.retention.days} days (SELFHEAL_RETENTION_DAYS)` }] });
    }

    if (inFlight >= maxInFlight) {
      record('overloaded', about);
      c.header('Retry-After', '1');
      return problem(c, 503, 'Service Unavailable', `${maxInFlight} deliveries are already being handed to Temporal (PAGERDUTY_WEBHOOK_MAX_IN_FLIGHT); PagerDuty will retry`, { retryable: true });
    }
    inFlight += 1;
    try {
      if (await bestEffort(deps.db, (db) => eventExists(db, event.id))) {
        record('duplicate', about);
        return c.json({ status: 'duplicate', eventId: event.id, incidentId }, 200);
      }

      const msg = incidentEventMessage(event, webhookId);
      const workflowId = incidentWorkflowId(incidentId);
      try {
        await signalIncident(deps.temporal, deps.config.temporal.taskQueue, incidentId, msg, serviceIdOf(event));
      } catch (err) {
        record('temporal_unavailable', about);
        log.error({ err: { message: (err as Error).message }, incidentId }, 'signalWithStart failed');
        return problem(c, 503, 'Service Unavailable', 'workflow service unavailable; PagerDuty will retry', { retryable: true });
      }
      record('accepted', { ...about, workflowId });
      return c.json({ status: 'accepted', eventId: event.id, incidentId, workflowId }, 202);
    } finally {
      inFlight -= 1;
    }
  });

  return app;
}

async function bestEffort<T>(db: Kysely<Database>, fn: (db: Kysely<Database>) => Promise<T>): Promise<T | undefined> {
  try {
    return await withTimeout(fn(db), DB_BUDGET_MS);
  } catch {
    return undefined;
  }
}
