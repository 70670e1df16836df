// POST /api/rules/backtest: what a rule (new, edited or stored) would have done over the stored incident
// history, with the diff against the stored rule's current version and the decisions recorded at the time.
// POST /api/rules/{id}/backtest attaches a backtest of the current version to that version (stored, and in
// the audit log); GET /api/rules/{id}/backtests lists them.
//
// Cost is bounded before and during the run: the window's events are counted first (over the cap: 400 with
// a window that fits), and the engine stops at the time budget (400 saying how far it got). Long results
// are paged with a cursor that pins the window, so every page is the same backtest.
import { createHash } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { Database } from '../../db/database.js';
import { writeAudit } from '../../db/queries/audit.js';
import { historyPurgedBefore, insertRuleBacktest, listRuleBacktests } from '../../db/queries/backtests.js';
import { countHistory, loadEnvironmentWindows, loadOtherRules, loadRuleVersions, oldestEventAt, readHistory } from '../../db/repositories/history.js';
import { findRule } from '../../db/queries/rules.js';
import {
  BacktestLimitError,
  definitionLane,
  formatDuration,
  MAX_WINDOW_SECONDS,
  parseDuration,
  runBacktest,
  versionsLane,
  warmupSeconds,
  type BacktestResult,
  type BacktestSummary,
  type ItemFilter,
  type LaneSpec,
} from '../../domain/backtest/index.js';
import { canonicalJson } from '../../domain/json-diff.js';
import { ruleInputSchema, ruleIssues, type RuleInput } from '../../domain/rules/index.js';
import type { Kysely } from 'kysely';
import type { AppDeps, AppEnv } from '../app.js';
import { requireScope } from '../auth.js';
import { badRequest, notFound, ProblemError } from '../problem.js';

// ---- request schemas (they also generate the OpenAPI document) ---------------------------------------

const serviceId = z.string().regex(/^[A-Za-z0-9]{1,32}$/, 'must be a PagerDuty service id');
const environmentName = z.string().min(1).max(64);

const windowShape = {
  since: z
    .string()
    .max(16)
    .optional()
    .describe('How far back from `to` (or now): `30d`, `12h`, `90m`, `2w`. Default 30d when neither since nor from is given.'),
  from: z.iso.datetime({ offset: true }).optional().describe('Window start (instead of since).'),
  to: z.iso.datetime({ offset: true }).optional().describe('Window end (default now).'),
  services: z.array(serviceId).min(1).max(100).optional().describe('Report only incidents of these PagerDuty services (the simulation still sees every event).'),
  environments: z.array(environmentName).min(1).max(100).optional().describe('Report only incidents whose extracted environment is one of these.'),
  asLive: z.boolean().optional().describe('Simulate a dry-run rule as if it ran for real (its policies included).'),
  assumedRunSeconds: z
    .number()
    .int()
    .min(1)
    .max(86_400)
    .optional()
    .describe('How long a simulated run holds its target when no run of that incident on that target was recorded (default 300).'),
  maxEvents: z.number().int().min(1).optional().describe('Event cap for this request (at most SELFHEAL_BACKTEST_MAX_EVENTS).'),
  timeBudgetSeconds: z.number().int().min(1).optional().describe('Time budget for this request (at most SELFHEAL_BACKTEST_TIME_BUDGET_SECONDS).'),
};

export const backtestRequestSchema = z
  .strictObject({
    rule: ruleInputSchema.optional().describe('The rule to backtest (new or edited). Without it, the stored rule `ruleId` is backtested.'),
    ruleId: z.string().min(1).max(64).optional().describe('A stored rule: the diff compares with its current version and its recorded decisions.'),
    replay: z
      .enum(['current', 'as-recorded'])
      .optional()
      .describe('Without `rule`: replay the current version (default), or each event with the version that was live then (this reproduces the recorded decisions).'),
    ...windowShape,
    only: z
      .enum(['all', 'applies', 'matched', 'changed'])
      .optional()
      .describe('Which events to list: changed (default with a diff), matched (default otherwise), applies (service and event type fit), all.'),
    limit: z.number().int().min(1).max(500).optional().describe('Events per page (default 50).'),
    cursor: z.string().max(4000).optional().describe('nextCursor of the previous page; the rest of the request must be the same.'),
  })
  .meta({ id: 'BacktestRequest', description: 'A rule and a window of stored history to replay it over.' });

export const attachBacktestSchema = z.strictObject(windowShape).meta({ id: 'AttachBacktestRequest', description: 'The window of the backtest to attach to the current version.' });

const anyObject = z.record(z.string(), z.unknown());

export const backtestResponseSchema = z
  .object({
    summary: anyObject.describe(
      'window, events (read, reported, stale), candidate and baseline lane summaries (decisions, suppressedBy, firings, actions, peakPerHour, perHour, byService, byEnvironment, assumptions), vsCurrent and vsRecorded diffs (counts, incidents, agreement), retention and limits.',
    ),
    items: z.array(anyObject).describe('Per event: the incident, the extracted environment and target, candidate (and baseline) outcome with explanation, decision, policy and rendered actions, the recorded decision, and the changes.'),
    totalItems: z.number().int(),
    nextCursor: z.string().nullable(),
  })
  .meta({ id: 'BacktestResult' });

export const ruleBacktestViewSchema = z
  .object({ id: z.string(), ruleId: z.string(), version: z.number().int(), actor: z.string(), window: z.object({ from: z.string(), to: z.string() }), summary: anyObject, createdAt: z.string() })
  .meta({ id: 'RuleBacktest', description: 'A backtest attached to a rule version: the summary its author saw.' });

// ---- helpers ---------------------------------------------------------------------------------------------

type Db = Kysely<Database>;
type WindowInput = z.output<z.ZodObject<typeof windowShape>>;

async function jsonBody(c: Context<AppEnv>): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw badRequest('the body is not valid JSON', [{ path: '(body)', message: 'invalid JSON' }]);
  }
}

function parseWith<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  const r = schema.safeParse(body);
  if (!r.success) throw badRequest('the request is not valid', ruleIssues(r.error, body).map((i) => ({ path: i.path || '(body)', message: i.message })));
  return r.data;
}

interface Cursor {
  v: 1;
  offset: number;
  from: string;
  to: string;
  hash: string;
}

const encodeCursor = (c: Cursor) => Buffer.from(JSON.stringify(c)).toString('base64url');

function decodeCursor(text: string): Cursor {
  try {
    const c = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Cursor;
    if (c.v === 1 && Number.isInteger(c.offset) && c.offset >= 0 && typeof c.from === 'string' && typeof c.to === 'string' && typeof c.hash === 'string') return c;
  } catch {
    // fall through
  }
  throw badRequest('the cursor is not one this API gave', [{ path: 'cursor', message: 'not a cursor' }]);
}

/** The request without its paging, as a hash: a cursor is only good for the request that made it. */
function requestHash(input: Record<string, unknown>): string {
  const { cursor: _c, limit: _l, ...rest } = input;
  return createHash('sha256').update(canonicalJson(rest)).digest('base64url').slice(0, 22);
}

interface ResolvedWindow {
  from: Date;
  to: Date;
  requested: { from: Date; to: Date };
  retention: { days: number; purgedBefore: string | null; oldestEvent: string | null; clamped: boolean; note?: string };
}

/** The window asked for, clamped to what retention kept; a window that only covers purged history is a 400. */
async function resolveWindow(db: Db, input: WindowInput, retentionDays: number, pinned?: { from: string; to: string }): Promise<ResolvedWindow> {
  if (input.since !== undefined && input.from !== undefined) throw badRequest('give since or from, not both', [{ path: 'since', message: 'not with from' }]);
  let to: Date;
  let from: Date;
  if (pinned) {
    from = new Date(pinned.from);
    to = new Date(pinned.to);
  } else {
    to = input.to ? new Date(input.to) : new Date();
    if (input.from) from = new Date(input.from);
    else {
      const seconds = parseDuration(input.since ?? '30d');
      if (seconds === undefined) throw badRequest('since must be a duration such as 30d, 12h, 90m or 2w', [{ path: 'since', message: 'not a duration' }]);
      from = new Date(to.getTime() - seconds * 1000);
    }
  }
  if (from.getTime() >= to.getTime()) throw badRequest('the window is empty: from must be before to', [{ path: 'from', message: 'not before to' }]);
  if (to.getTime() - from.getTime() > MAX_WINDOW_SECONDS * 1000) {
    throw badRequest(`the window is longer than ${MAX_WINDOW_SECONDS / 86_400} days`, [{ path: input.from ? 'from' : 'since', message: `at most ${MAX_WINDOW_SECONDS / 86_400}d` }]);
  }
  const [purgedBefore, oldest] = await Promise.all([historyPurgedBefore(db), oldestEventAt(db)]);
  const retention: ResolvedWindow['retention'] = {
    days: retentionDays,
    purgedBefore: purgedBefore?.toISOString() ?? null,
    oldestEvent: oldest?.toISOString() ?? null,
    clamped: false,
  };
  const requested = { from, to };
  if (purgedBefore && from < purgedBefore) {
    if (to <= purgedBefore) {
      throw badRequest(
        `no history in this window: events before ${purgedBefore.toISOString()} were purged (SELFHEAL_RETENTION_DAYS=${retentionDays}); the history goes back to ${purgedBefore.toISOString()}`,
        [{ path: input.from ? 'from' : 'since', message: `the history goes back to ${purgedBefore.toISOString()}` }],
      );
    }
    retention.clamped = true;
    retention.note = `events before ${purgedBefore.toISOString()} were purged (retention ${retentionDays} days): the backtest covers ${purgedBefore.toISOString()} to ${to.toISOString()}, not the ${formatDuration((to.getTime() - from.getTime()) / 1000)} asked for`;
    from = purgedBefore;
  }
  return { from, to, requested, retention };
}

// ---- routes ----------------------------------------------------------------------------------------------

/** `clock` (milliseconds) is what the time budget is measured on; tests pass their own. */
export function backtestRoutes(deps: AppDeps, opts: { clock?: () => number } = {}) {
  const app = new Hono<AppEnv>();
  const clock = opts.clock ?? (() => Date.now());
  const auth = { db: deps.db, adminToken: deps.config.adminToken };
  const read = requireScope(auth, 'read');
  const write = requireScope(auth, 'write');
  const db = deps.db;
  const limits = deps.config.backtest;

  interface RunInput {
    candidate: LaneSpec;
    baseline?: LaneSpec | undefined;
    ruleId?: string | undefined;
    window: ResolvedWindow;
    input: WindowInput;
    page: { offset: number; limit: number; only: ItemFilter };
  }

  async function run(r: RunInput): Promise<BacktestResult & { limits: { maxEvents: number; timeBudgetSeconds: number; events: number } }> {
    const maxEvents = Math.min(r.input.maxEvents ?? limits.maxEvents, limits.maxEvents);
    const budgetSeconds = Math.min(r.input.timeBudgetSeconds ?? limits.timeBudgetSeconds, limits.timeBudgetSeconds);
    const started = clock();
    const { from, to } = r.window;
    const purged = r.window.retention.purgedBefore ? new Date(r.window.retention.purgedBefore) : null;
    let warmupFrom = new Date(from.getTime() - warmupSeconds([r.candidate, r.baseline]) * 1000);
    if (purged && warmupFrom < purged) warmupFrom = purged;
    const events = await countHistory(db, warmupFrom, to);
    const span = to.getTime() - from.getTime();
    if (events > maxEvents) {
      // Events are spread unevenly, so the suggestion is proportional and rounded down.
      const fits = Math.max(60, Math.floor(((span / 1000) * maxEvents) / events));
      throw new ProblemError(
        400,
        'Bad Request',
        `the window holds ${events} events (warm-up included), more than the cap of ${maxEvents}: narrow it, e.g. since ${formatDuration(fits)} (or a later from, an earlier to)`,
        { errors: [{ path: r.input.from ? 'from' : 'since', message: `at most about ${formatDuration(fits)} of history fits the cap` }], events, maxEvents, suggestedSince: formatDuration(fits) },
      );
    }
    const candidateServices = new Set<string>();
    for (const lane of [r.candidate, r.baseline]) for (const v of lane?.versions ?? []) for (const s of v.rule.services) candidateServices.add(s);
    const [environmentWindows, otherRules] = await Promise.all([loadEnvironmentWindows(db), loadOtherRules(db)]);
    const history = readHistory(db, { from: warmupFrom, to, services: candidateServices.has('*') ? undefined : [...candidateServices] });
    const deadline = started + budgetSeconds * 1000;
    try {
      const result = await runBacktest(history, {
        candidate: r.candidate,
        baseline: r.baseline,
        ruleId: r.ruleId,
        from,
        to,
        warmupFrom,
        extractors: deps.extractors ?? {},
        environmentWindows,
        otherRules,
        assumedRunSeconds: r.input.assumedRunSeconds ?? 300,
        filters: { services: r.input.services ? new Set(r.input.services) : undefined, environments: r.input.environments ? new Set(r.input.environments) : undefined },
        page: r.page,
        budget: { maxEvents, deadline, clock },
      });
      return { ...result, limits: { maxEvents, timeBudgetSeconds: budgetSeconds, events } };
    } catch (err) {
      if (!(err instanceof BacktestLimitError)) throw err;
      const doneMs = err.reachedAt ? err.reachedAt.getTime() - warmupFrom.getTime() : 0;
      const fits = Math.max(60, Math.floor((doneMs / 1000) * 0.8));
      const detail =
        err.limit === 'time'
          ? `the backtest did not finish within its time budget of ${budgetSeconds} s: it had replayed ${err.processed} of ${events} events (up to ${err.reachedAt?.toISOString() ?? 'the start'}); narrow the window, e.g. since ${formatDuration(fits)}`
          : `the window holds more than the cap of ${maxEvents} events: narrow it, e.g. since ${formatDuration(fits)}`;
      throw new ProblemError(400, 'Bad Request', detail, {
        errors: [{ path: r.input.from ? 'from' : 'since', message: `at most about ${formatDuration(fits)} of history fits` }],
        limit: err.limit,
        processed: err.processed,
        events,
        suggestedSince: formatDuration(fits),
      });
    }
  }

  async function storedRule(id: string) {
    const row = await findRule(db, id);
    if (!row) throw notFound(`rule ${id} is not known`);
    return row;
  }

  const summaryWith = (result: Awaited<ReturnType<typeof run>>, window: ResolvedWindow): BacktestSummary & Record<string, unknown> => ({
    ...result.summary,
    requestedWindow: { from: window.requested.from.toISOString(), to: window.requested.to.toISOString() },
    retention: window.retention,
    limits: result.limits,
  });

  app.post('/api/rules/backtest', read, async (c) => {
    const body = await jsonBody(c);
    const input = parseWith(backtestRequestSchema, body);
    if (!input.rule && !input.ruleId) throw badRequest('give the rule to backtest, or the id of a stored rule', [{ path: 'rule', message: 'required without ruleId' }]);
    if (input.rule && input.replay) throw badRequest('replay applies to a stored rule without an edited definition', [{ path: 'replay', message: 'not with rule' }]);
    const hash = requestHash(body as Record<string, unknown>);
    const cursor = input.cursor ? decodeCursor(input.cursor) : undefined;
    if (cursor && cursor.hash !== hash) throw badRequest('the cursor belongs to another request: send the same request with it', [{ path: 'cursor', message: 'from another request' }]);
    const window = await resolveWindow(db, input, deps.config.retention.days, cursor);

    let candidate: LaneSpec;
    let baseline: LaneSpec | undefined;
    const stored = input.ruleId ? await storedRule(input.ruleId) : undefined;
    const asLive = { asLive: input.asLive === true };
    if (input.rule) {
      candidate = definitionLane(input.rule as RuleInput, { id: stored?.id ?? 'unsaved', version: 0 }, asLive);
      if (stored) baseline = definitionLane(stored.definition as RuleInput, { id: stored.id, version: stored.version }, asLive);
    } else if (input.replay === 'as-recorded') {
      const versions = await loadRuleVersions(db, stored!.id);
      candidate = versions.length > 0 ? versionsLane(stored!.id, versions) : definitionLane(stored!.definition as RuleInput, { id: stored!.id, version: stored!.version });
    } else {
      candidate = definitionLane(stored!.definition as RuleInput, { id: stored!.id, version: stored!.version }, asLive);
    }
    const only: ItemFilter = input.only ?? (baseline ? 'changed' : 'matched');
    const limit = input.limit ?? 50;
    const offset = cursor?.offset ?? 0;
    const result = await run({ candidate, baseline, ruleId: stored?.id, window, input, page: { offset, limit, only } });
    const next = offset + result.items.length < result.totalItems ? encodeCursor({ v: 1, offset: offset + result.items.length, from: window.from.toISOString(), to: window.to.toISOString(), hash }) : null;
    c.get('logger').info({ ruleId: stored?.id, events: result.summary.events.read, window: result.summary.window }, 'backtest');
    return c.json({ summary: summaryWith(result, window), items: result.items, totalItems: result.totalItems, nextCursor: next });
  });

  app.post('/api/rules/:id/backtest', write, async (c) => {
    const id = c.req.param('id');
    const input = parseWith(attachBacktestSchema, await jsonBody(c));
    const stored = await storedRule(id);
    const window = await resolveWindow(db, input, deps.config.retention.days);
    const candidate = definitionLane(stored.definition as RuleInput, { id: stored.id, version: stored.version }, { asLive: input.asLive === true });
    const result = await run({ candidate, ruleId: stored.id, window, input, page: { offset: 0, limit: 0, only: 'matched' } });
    const summary = summaryWith(result, window);
    const actor = c.get('actor')!;
    const row = await db.transaction().execute(async (trx) => {
      const saved = await insertRuleBacktest(trx, { ruleId: id, version: stored.version, actor, from: window.from, to: window.to, summary });
      const s = result.summary.candidate;
      await writeAudit(trx, {
        actor,
        action: 'rule.backtest',
        entityType: 'rule',
        entityId: id,
        after: {
          version: stored.version,
          backtestId: saved.id,
          window: result.summary.window,
          enabled: stored.enabled,
          dryRun: (stored.definition as RuleInput).dryRun,
          matched: s.matched,
          decisions: s.decisions,
          suppressedBy: s.suppressedBy,
          peakPerHour: s.peakPerHour,
        },
      });
      return saved;
    });
    return c.json(backtestView(row), 201);
  });

  app.get('/api/rules/:id/backtests', read, async (c) => {
    const id = c.req.param('id');
    const row = await findRule(db, id, { includeDeleted: true });
    if (!row) throw notFound(`rule ${id} is not known`);
    return c.json({ items: (await listRuleBacktests(db, id)).map(backtestView) });
  });

  return app;
}

function backtestView(r: { id: string; rule_id: string; version: number; actor: string; window_from: Date; window_to: Date; summary: unknown; created_at: Date }) {
  return { id: String(r.id), ruleId: r.rule_id, version: r.version, actor: r.actor, window: { from: r.window_from.toISOString(), to: r.window_to.toISOString() }, summary: r.summary, createdAt: r.created_at.toISOString() };
}
