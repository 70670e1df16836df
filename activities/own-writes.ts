// What Self-healing writes to PagerDuty never matches a rule again.
//
// Every write goes through `withOwnWrites(client)`, which records it in pagerduty_writes before the request
// leaves and completes the row with what PagerDuty answers (the note id, the user the write was made as).
// `isOwnWrite` then tells, for an incoming webhook event, whether that event is the echo of one of them:
//   incident.annotated   the note id (`data.id`) is one we were given back; or, for a note whose answer
//                        has not arrived (yet, or ever), its text is the text of a note we sent;
//   incident.acknowledged / .resolved / .priority_updated / .escalated
//                        a write of that event type and value (status, priority id) sent before the event
//                        happened and answered after it, made as the same PagerDuty user when known.
// Each write explains at most one event, so a person doing the same thing (the same note text, another
// acknowledgement) still matches the rules. Not a text prefix: a rule's own note can say anything.
//
// Notes also get a marker line and go through side effects (activities/side-effects.ts), so a retry after
// a lost answer finds the note on the incident instead of posting it twice.
import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../src/db/database.js';
import {
  claimNoteByContent,
  claimUpdateEcho,
  isOwnNoteId,
  recordNoteFound,
  recordWriteAnswered,
  recordWriteFailed,
  recordWriteStart,
} from '../src/db/repositories/pagerduty-writes.js';
import { whilePostgresUnavailable } from '../src/db/unavailable.js';
import type { Logger } from '../src/logger.js';
import type { CallOptions, IncidentNote, IncidentUpdate, PagerDutyClient, PagerDutyIncident } from '../src/pagerduty/rest-client.js';
import { activityKey, createSideEffects, whatHappened, type EffectResult, type SideEffects } from './side-effects.js';

/** The V3 webhook event type each kind of write causes. */
export const ECHO_EVENT_TYPES: Readonly<Record<string, string>> = {
  note: 'incident.annotated',
  acknowledged: 'incident.acknowledged',
  resolved: 'incident.resolved',
  priority: 'incident.priority_updated',
  escalation: 'incident.escalated',
};
const ECHO_TYPES = new Set(Object.values(ECHO_EVENT_TYPES));

/** The line appended to every note Self-healing writes: how a retry finds a note whose answer was lost. */
export function noteMarker(key: string): string {
  return `(self-healing ref ${createHash('sha256').update(key).digest('hex').slice(0, 16)})`;
}

export interface OwnWriteOptions extends CallOptions {
  /**
   * The side effect's key (an action run id). Without one, the key of the calling activity is used (the
   * same on each of its retries); outside an activity the write is recorded but not deduplicated.
   */
  key?: string | undefined;
  /** At most this long for the write's attempt (activities/side-effects.ts, SideEffectSpec.maxBudgetMs). */
  maxBudgetMs?: number | undefined;
  /** Asked right before the write is sent: a reason returned stops it (SideEffectSpec.mayCall). */
  mayCall?: (() => Promise<string | undefined>) | undefined;
}

/** What a keyed write returns: the object, and whether this call wrote it, found it or read the record. */
export type Written<T> = T & { via?: EffectResult['via'] };

export interface OwnWritesClient extends PagerDutyClient {
  addNote(incidentId: string, content: string, options?: OwnWriteOptions): Promise<Written<IncidentNote>>;
  updateIncident(incidentId: string, update: IncidentUpdate, options?: OwnWriteOptions): Promise<Written<PagerDutyIncident>>;
}

export interface OwnWritesDeps {
  db: Kysely<Database>;
  logger: Logger;
  sideEffects?: SideEffects;
}

const WRAPPED = Symbol('selfheal.ownWrites');

/** How long the record of PagerDuty's answer waits for Postgres (the reserve an attempt keeps after its calls). */
const ANSWER_WAIT_MS = 5_000;

/**
 * PagerDuty answered a write whose answer could not be recorded (Postgres out of reach for longer than
 * {@link ANSWER_WAIT_MS}): the write took effect, so the side effect is uncertain (`maybeSent`, see
 * whatHappened) and the next attempt looks for it before it writes.
 */
export class WriteAnswerNotRecordedError extends Error {
  readonly maybeSent = true;
  constructor(cause: unknown) {
    super(`PagerDuty took the write, but its answer was not recorded: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'WriteAnswerNotRecordedError';
  }
}

/** The client itself when it already records its writes, else `withOwnWrites(client)`. */
export function ensureOwnWrites(client: PagerDutyClient, deps: OwnWritesDeps): OwnWritesClient {
  return (client as { [WRAPPED]?: true })[WRAPPED] ? (client as OwnWritesClient) : withOwnWrites(client, deps);
}

/** The PagerDuty client every activity uses: each write recorded, notes and status changes exactly once. */
export function withOwnWrites(client: PagerDutyClient, deps: OwnWritesDeps): OwnWritesClient {
  const { db } = deps;
  const effects = deps.sideEffects ?? createSideEffects({ db, logger: deps.logger });

  /**
   * One request to PagerDuty, recorded before it leaves and completed with what PagerDuty answers. Both
   * records wait for Postgres while it is out of reach (activities/side-effects.ts does the same around the
   * call). A failure to record the answer is never "nothing happened": PagerDuty took the write. Thrown as
   * it was, a Postgres refusing connections (ECONNREFUSED, as while it restarts) read as a call that never
   * left, and the next attempt wrote the note, the status or the priority a second time.
   */
  async function recorded<T>(
    row: { incidentId: string; kind: 'note' | 'status' | 'priority' | 'escalation'; eventType: string; value?: string | null; content?: string | null },
    send: () => Promise<T>,
    answer: (r: T) => { noteId?: string | undefined; agentId?: string | undefined },
    signal: AbortSignal | undefined,
  ): Promise<T> {
    const id = await whilePostgresUnavailable(() => recordWriteStart(db, row), { signal });
    let result: T;
    try {
      result = await send();
    } catch (err) {
      if (whatHappened(err) === 'nothing') await recordWriteFailed(db, id).catch(() => undefined);
      throw err;
    }
    try {
      await whilePostgresUnavailable(() => recordWriteAnswered(db, id, answer(result)), { maxWaitMs: ANSWER_WAIT_MS });
    } catch (err) {
      throw new WriteAnswerNotRecordedError(err);
    }
    return result;
  }

  function sendNote(incidentId: string, content: string, signal: AbortSignal | undefined): Promise<IncidentNote> {
    return recorded(
      { incidentId, kind: 'note', eventType: ECHO_EVENT_TYPES.note!, content },
      () => client.addNote(incidentId, content, { signal }),
      (note) => ({ noteId: note.id, agentId: note.user?.id }),
      signal,
    );
  }

  function sendUpdate(incidentId: string, update: IncidentUpdate, signal: AbortSignal | undefined): Promise<PagerDutyIncident> {
    const [kind, eventType, value] =
      update.status !== undefined
        ? (['status', ECHO_EVENT_TYPES[update.status]!, update.status] as const)
        : update.priorityId !== undefined
          ? (['priority', ECHO_EVENT_TYPES.priority!, update.priorityId] as const)
          : (['escalation', ECHO_EVENT_TYPES.escalation!, update.escalationLevel === undefined ? null : String(update.escalationLevel)] as const);
    return recorded(
      // The escalation event carries no level, so only its type and time identify it.
      { incidentId, kind, eventType, value: kind === 'escalation' ? null : value },
      () => client.updateIncident(incidentId, update, { signal }),
      (incident) => ({ agentId: kind === 'status' ? incident.last_status_change_by?.id : undefined }),
      signal,
    );
  }

  const wrapped: OwnWritesClient & { [WRAPPED]: true } = {
    [WRAPPED]: true,
    listIncidentAlerts: (incidentId, options) => client.listIncidentAlerts(incidentId, options),
    listIncidentNotes: (incidentId, options) => client.listIncidentNotes(incidentId, options),
    getIncident: (incidentId, options) => client.getIncident(incidentId, options),
    listWebhookSubscriptions: (filter) => client.listWebhookSubscriptions(filter),
    createWebhookSubscription: (input) => client.createWebhookSubscription(input),
    deleteWebhookSubscription: (id) => client.deleteWebhookSubscription(id),

    async addNote(incidentId, content, options = {}) {
      const key = options.key ?? activityKey('pagerduty.note');
      if (!key) return sendNote(incidentId, content, options.signal);
      const text = `${content}\n\n${noteMarker(key)}`;
      let note: IncidentNote | undefined;
      const r = await effects.run({
        key,
        kind: 'pagerduty.note',
        incidentId,
        maxBudgetMs: options.maxBudgetMs,
        onUncertain: 'lookup',
        async find(ctx) {
          const marker = noteMarker(key);
          // Ours ends with the marker; one that only quotes it (an incident value rendered into another
          // note, a person pasting it) is not ours.
          const found = (await client.listIncidentNotes(incidentId, { signal: ctx.signal })).find((n) => n.content?.trimEnd().endsWith(marker));
          if (!found) return null;
          await recordNoteFound(db, incidentId, text, found.id);
          note = found;
          return { externalId: found.id };
        },
        async perform(ctx) {
          note = await sendNote(incidentId, text, ctx.signal);
          return { externalId: note.id };
        },
      });
      return { ...(note ?? { id: r.externalId ?? '', content: text }), via: r.via };
    },

    async updateIncident(incidentId, update, options = {}) {
      const key = options.key ?? activityKey('pagerduty.update');
      if (!key) return sendUpdate(incidentId, update, options.signal);
      let incident: PagerDutyIncident | undefined;
      // Only the current state is compared: the incident does not say whether a value it no longer shows was
      // ever written (a priority a person changed since, an acknowledgement its timeout undid), and then the
      // write is sent again. At least once in that case (docs/guarantees.md).
      const holds = (i: PagerDutyIncident): boolean =>
        update.status === 'resolved'
          ? i.status === 'resolved'
          : update.status === 'acknowledged'
            ? // Acknowledging a resolved incident would reopen it: resolved counts as done.
              i.status === 'acknowledged' || i.status === 'resolved'
            : update.priorityId !== undefined
              ? i.priority?.id === update.priorityId
              : false;
      const r = await effects.run({
        key,
        kind: update.escalationLevel !== undefined ? 'pagerduty.escalate' : update.priorityId !== undefined ? 'pagerduty.priority' : `pagerduty.${update.status ?? 'update'}`,
        incidentId,
        maxBudgetMs: options.maxBudgetMs,
        // An incident shows its status and priority, not its escalation level: an escalation whose answer
        // was lost is not sent again (that would page the level twice).
        onUncertain: update.escalationLevel !== undefined ? 'refuse' : 'lookup',
        mayCall: options.mayCall,
        async find(ctx) {
          const current = await client.getIncident(incidentId, { signal: ctx.signal });
          if (!holds(current)) return null;
          incident = current;
          return { detail: `already ${update.status ?? `priority ${update.priorityId ?? ''}`}` };
        },
        async perform(ctx) {
          incident = await sendUpdate(incidentId, update, ctx.signal);
          return {};
        },
      });
      return { ...(incident ?? { id: incidentId }), via: r.via };
    },
  };
  return wrapped;
}

interface WebhookEvent {
  id?: unknown;
  event_type?: unknown;
  occurred_at?: unknown;
  agent?: { id?: unknown } | null;
  data?: Record<string, unknown> & { id?: unknown; content?: unknown; trimmed?: unknown; status?: unknown; priority?: { id?: unknown } | null };
}

/**
 * Whether a webhook event is the echo of a write Self-healing made (so it must not match a rule). Claims
 * the write it explains; asking again for the same event gives the same answer.
 */
export async function isOwnWrite(db: Kysely<Database>, incidentId: string, event: Record<string, unknown>): Promise<boolean> {
  const e = event as WebhookEvent;
  const type = typeof e.event_type === 'string' ? e.event_type : '';
  if (!ECHO_TYPES.has(type)) return false;
  const eventId = typeof e.id === 'string' ? e.id : '';
  const parsed = typeof e.occurred_at === 'string' ? new Date(e.occurred_at) : new Date();
  const occurredAt = Number.isNaN(parsed.getTime()) ? new Date() : parsed;
  const data = e.data ?? {};
  if (type === ECHO_EVENT_TYPES.note) {
    const noteId = typeof data.id === 'string' ? data.id : '';
    if (noteId && (await isOwnNoteId(db, incidentId, noteId))) return true;
    if (!noteId || typeof data.content !== 'string') return false;
    return claimNoteByContent(db, { incidentId, noteId, content: data.content, trimmed: data.trimmed === true, occurredAt, eventId });
  }
  if (!eventId) return false;
  const value =
    type === ECHO_EVENT_TYPES.priority
      ? typeof data.priority?.id === 'string'
        ? data.priority.id
        : null
      : type === ECHO_EVENT_TYPES.escalation
        ? null
        : typeof data.status === 'string'
          ? data.status
          : null;
  const agentId = typeof e.agent?.id === 'string' ? e.agent.id : null;
  return claimUpdateEcho(db, { incidentId, eventType: type, value, agentId, occurredAt, eventId });
}
