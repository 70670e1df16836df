// Backtests: what a rule (new, edited or stored) would have done over the stored incident history, with
// the diff against the stored rule's current version and the decisions recorded at the time; and
// backtests attached to a rule version (stored, and in the audit log; the summary stored within
// MAX_STORED_SUMMARY_BYTES, src/domain/backtest/bounds.ts).
//
// Cost is bounded before and during the run: the window's events are counted first (over the cap: 400 with
// a window that fits), an as-recorded replay reads only the rule versions its window meets, counted and
// measured first (over either cap: 400 naming from), and the engine stops at the time budget (400 saying
// how far it got).
import type { Kysely } from 'kysely';
import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import { DEFAULT_TEAM } from '../domain/teams.js';
import { countHistory, loadEnvironmentTeams, loadEnvironmentWindows, loadOtherRules, loadRuleVersions, measureRuleVersions, readHistory } from '../db/repositories/history.js';
import { writeAudit } from '../db/repositories/audit.js';
import { inTransaction } from '../db/repositories/transactions.js';
import { insertRuleBacktest, listRuleBacktestPage } from '../db/repositories/backtests.js';
import { findRule } from '../db/repositories/rules.js';
import {
  BacktestLimitError,
  boundStoredSummary,
  definitionLane,
  formatDuration,
  recapSummary,
  runBacktest,
  storableSummary,
  versionsLane,
  warmupSeconds,
  type BacktestItem,
  type BacktestResult,
  type BacktestSummary,
  type ItemFilter,
  type LaneSpec,
  type StoredVersion,
} from '../domain/backtest/index.js';
import type { ExtractorsConfig } from '../domain/extract.js';
import { reasonFor } from '../domain/policies.js';
import type { RuleInput } from '../domain/rules/index.js';
import type { Logger } from '../logger.js';
import type { Actor } from './actor.js';
import { decodeCursor, encodeCursor, requestHash, resolveWindow, type ResolvedWindow, type WindowInput } from './backtest-window.js';
import { NotFoundError, ValidationError } from './errors.js';
import { decodeCursor as decodePageCursor, encodeCursor as encodePageCursor, LIST_PAGE_BYTES } from './list-pages.js';
import { refuseUnsaveable } from './rules.js';
import { canRead, requireTeam } from './team-access.js';

export interface BacktestServiceDeps {
  db: Kysely<Database>;
  config: Pick<Config, 'backtest' | 'retention'>;
  extractors?: ExtractorsConfig | undefined;
  logger: Logger;
  /** What the time budget is measured on (milliseconds); tests pass their own. */
  clock?: () => number;
}

export interface BacktestRequest extends WindowInput {
  rule?: RuleInput | undefined;
  ruleId?: string | undefined;
  replay?: 'current' | 'as-recorded' | undefined;
  only?: ItemFilter | undefined;
  limit?: number | undefined;
  cursor?: string | undefined;
}

/**
 * What one as-recorded backtest reads of a rule's versions at most (those its window and warm-up meet):
 * their number, and the bytes of their definitions' JSON. A definition is up to 1 MiB, and every version
 * was read whatever the window: a rule saved thousands of times made one request read gigabytes.
 */
export const MAX_REPLAYED_VERSIONS = 1000;
export const MAX_REPLAYED_VERSION_BYTES = 64 * 1024 * 1024;

/**
 * An item as `actor` may read it: a skip reason naming a team the actor cannot read says "another team"
 * (reasonFor). Any viewer may backtest any rule it writes over every service, so the items reach incidents
 * of every team's environments.
 */
function readableItem(actor: Actor, item: BacktestItem): BacktestItem {
  const readable = (team: string) => canRead(actor, team);
  const lane = <T extends { reason?: string | null | undefined }>(o: T): T => (o.reason ? { ...o, reason: reasonFor(o.reason, readable) } : o);
  return {
    ...item,
    candidate: lane(item.candidate),
    ...(item.baseline ? { baseline: lane(item.baseline) } : {}),
    ...(item.recorded ? { recorded: lane(item.recorded) } : {}),
  };
}

export function backtestService(deps: BacktestServiceDeps) {
  const { db } = deps;
  const clock = deps.clock ?? (() => Date.now());
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
      throw new ValidationError(
        `the window holds ${events} events (warm-up included), more than the cap of ${maxEvents}: narrow it, e.g. since ${formatDuration(fits)} (or a later from, an earlier to)`,
        undefined,
        { errors: [{ path: r.input.from ? 'from' : 'since', message: `at most about ${formatDuration(fits)} of history fits the cap` }], events, maxEvents, suggestedSince: formatDuration(fits) },
      );
    }
    const candidateServices = new Set<string>();
    for (const lane of [r.candidate, r.baseline]) for (const v of lane?.versions ?? []) for (const s of v.rule.services) candidateServices.add(s);
    const [environmentWindows, environmentTeams, otherRules] = await Promise.all([loadEnvironmentWindows(db), loadEnvironmentTeams(db), loadOtherRules(db, { from: warmupFrom, to })]);
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
        environmentTeams,
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
      throw new ValidationError(detail, undefined, {
        errors: [{ path: r.input.from ? 'from' : 'since', message: `at most about ${formatDuration(fits)} of history fits` }],
        limit: err.limit,
        processed: err.processed,
        events,
        suggestedSince: formatDuration(fits),
      });
    }
  }

  /** A stored rule `actor` may read (`viewer`) or change (`editor`) by its team. */
  async function storedRule(actor: Actor, id: string, role: 'viewer' | 'editor' = 'viewer') {
    const row = await findRule(db, id);
    if (!row) throw new NotFoundError(`rule ${id} is not known`);
    requireTeam(actor, role, row.team, `rule ${id}`);
    return row;
  }

  /**
   * The stored rule's versions an as-recorded backtest of the window replays, as a lane; null when the rule
   * has none stored (it is replayed on its definition). Read are the versions in force at some instant of
   * the window, and of the warm-up before it that their policies ask for; those may be older versions
   * whose policies ask for a longer one, so the span widens until it meets no new version (at most
   * MAX_WARMUP_SECONDS back, as warmupSeconds caps it). Every event replayed is decided by the version that
   * decided it when every version was read: no other one is in force at any instant of the span. The other
   * versions only reached into the replay's extent: one saved after `to` (or superseded long before `from`)
   * with a longer policy window lengthened the warm-up, one naming another service had that service's
   * events read and reported as not applying; a backtest of a past window no longer changes with later
   * saves. Before each read the versions the span meets are counted and their definitions measured; over
   * either cap, a 400 naming from (or since), before any definition is read.
   */
  async function recordedLane(rule: { id: string; team: string }, window: ResolvedWindow, input: WindowInput): Promise<LaneSpec | null> {
    const purged = window.retention.purgedBefore ? new Date(window.retention.purgedBefore).getTime() : -Infinity;
    let since = window.from;
    let oldest: StoredVersion | undefined;
    let lane: LaneSpec = { versions: [] };
    for (;;) {
      const span = { from: since, to: window.to };
      const size = await measureRuleVersions(db, rule.id, span, MAX_REPLAYED_VERSIONS);
      if (!size.stored) return null;
      const path = input.from ? 'from' : 'since';
      const narrow = `narrow it with ${input.from ? 'a later from' : 'a shorter since'} (or an earlier to)`;
      if (size.versions > MAX_REPLAYED_VERSIONS) {
        throw new ValidationError(
          `the window meets ${size.versions} versions of rule ${rule.id} (warm-up included), more than the cap of ${MAX_REPLAYED_VERSIONS}: ${narrow}`,
          [{ path, message: `the window meets more than ${MAX_REPLAYED_VERSIONS} versions of the rule` }],
          { versions: size.versions, maxVersions: MAX_REPLAYED_VERSIONS },
        );
      }
      if (size.bytes !== null && size.bytes > MAX_REPLAYED_VERSION_BYTES) {
        const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
        throw new ValidationError(
          `the ${size.versions} versions of rule ${rule.id} that the window meets (warm-up included) hold ${mib(size.bytes)} of definitions, more than the cap of ${mib(MAX_REPLAYED_VERSION_BYTES)}: ${narrow}`,
          [{ path, message: `the versions of the rule the window meets hold more than ${mib(MAX_REPLAYED_VERSION_BYTES)}` }],
          { versions: size.versions, bytes: size.bytes, maxBytes: MAX_REPLAYED_VERSION_BYTES },
        );
      }
      const older = await loadRuleVersions(db, rule.id, span, { below: oldest?.version });
      if (older.length === 0) return lane;
      oldest = older[0];
      lane = { versions: [...versionsLane(rule.id, older, rule.team).versions, ...lane.versions] };
      const needed = Math.max(window.from.getTime() - warmupSeconds([lane]) * 1000, purged);
      if (needed >= since.getTime()) return lane;
      since = new Date(needed);
    }
  }

  const summaryWith = (result: Awaited<ReturnType<typeof run>>, window: ResolvedWindow): BacktestSummary & Record<string, unknown> => ({
    ...result.summary,
    requestedWindow: { from: window.requested.from.toISOString(), to: window.requested.to.toISOString() },
    retention: window.retention,
    limits: result.limits,
  });


  return {
    /** A backtest page; `raw` is the request as sent (its hash pins the cursor to the same request). */
    async run(actor: Actor, input: BacktestRequest, raw: Record<string, unknown>) {
      if (!input.rule && !input.ruleId) throw new ValidationError('give the rule to backtest, or the id of a stored rule', [{ path: 'rule', message: 'required without ruleId' }]);
      if (input.rule) refuseUnsaveable(input.rule, 'rule');
      if (input.rule && input.replay) throw new ValidationError('replay applies to a stored rule without an edited definition', [{ path: 'replay', message: 'not with rule' }]);
      const hash = requestHash(raw);
      const cursor = input.cursor ? decodeCursor(input.cursor) : undefined;
      if (cursor && cursor.hash !== hash) throw new ValidationError('the cursor belongs to another request: send the same request with it', [{ path: 'cursor', message: 'from another request' }]);
      const window = await resolveWindow(db, input, deps.config.retention.days, cursor);

      let candidate: LaneSpec;
      let baseline: LaneSpec | undefined;
      const stored = input.ruleId ? await storedRule(actor, input.ruleId) : undefined;
      const asLive = { asLive: input.asLive === true };
      if (input.rule) {
        // An unsaved rule is in the team it names, else its stored rule's, else the team a create puts it in.
        candidate = definitionLane(input.rule, { id: stored?.id ?? 'unsaved', version: 0, team: stored?.team ?? DEFAULT_TEAM }, asLive);
        if (stored) baseline = definitionLane(stored.definition as RuleInput, { id: stored.id, version: stored.version, team: stored.team }, asLive);
      } else if (input.replay === 'as-recorded') {
        candidate = (await recordedLane(stored!, window, input)) ?? definitionLane(stored!.definition as RuleInput, { id: stored!.id, version: stored!.version, team: stored!.team });
      } else {
        candidate = definitionLane(stored!.definition as RuleInput, { id: stored!.id, version: stored!.version, team: stored!.team }, asLive);
      }
      const only: ItemFilter = input.only ?? (baseline ? 'changed' : 'matched');
      const limit = input.limit ?? 50;
      const offset = cursor?.offset ?? 0;
      const result = await run({ candidate, baseline, ruleId: stored?.id, window, input, page: { offset, limit, only } });
      const next = offset + result.items.length < result.totalItems ? encodeCursor({ v: 1, offset: offset + result.items.length, from: window.from.toISOString(), to: window.to.toISOString(), hash }) : null;
      deps.logger.info({ ruleId: stored?.id, events: result.summary.events.read, window: result.summary.window }, 'backtest');
      return { summary: summaryWith(result, window), items: result.items.map((item) => readableItem(actor, item)), totalItems: result.totalItems, nextCursor: next };
    },

    /** Backtests the rule's current version and attaches the summary to that version (audited). */
    async attach(actor: Actor, id: string, input: WindowInput) {
      const stored = await storedRule(actor, id, 'editor');
      const window = await resolveWindow(db, input, deps.config.retention.days);
      const candidate = definitionLane(stored.definition as RuleInput, { id: stored.id, version: stored.version, team: stored.team }, { asLive: input.asLive === true });
      const result = await run({ candidate, ruleId: stored.id, window, input, page: { offset: 0, limit: 0, only: 'matched' } });
      // Stored within MAX_STORED_SUMMARY_BYTES: lists left out past it, marked `truncated`, counts exact.
      const summary = storableSummary(summaryWith(result, window));
      return inTransaction(db, async (trx) => {
        const saved = await insertRuleBacktest(trx, { ruleId: id, version: stored.version, actor: actor.name, from: window.from, to: window.to, summary });
        const s = result.summary.candidate;
        await writeAudit(trx, {
          actor: actor.name,
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
          team: stored.team,
        });
        return saved;
      });
    },

    /**
     * The rule's attached backtests, newest first, a page at a time: `limit` at most and no more than
     * LIST_PAGE_BYTES of summaries as stored (one at least); `nextCursor` (the page's last id) leads on.
     * Each summary is answered within today's bounds (boundStoredSummary): one stored before them keeps
     * every group and an entry per hour of its window in the table, not in the answer. One of more than
     * MAX_LISTED_SUMMARY_BYTES as stored is not read: its recap is answered (recapSummary: the counts,
     * and `truncated`), counted at its size as stored (Postgres unpacks it whole): one a page at most.
     */
    async list(actor: Actor, id: string, page: { limit: number; cursor?: string | undefined } = { limit: 200 }) {
      const before = page.cursor === undefined ? undefined : decodePageCursor(page.cursor, 1)[0]!;
      if (before !== undefined && !/^[0-9]{1,18}$/.test(before)) throw new ValidationError('invalid cursor: send the nextCursor of the previous page', [{ path: 'cursor', message: 'not a cursor this listing gave' }]);
      const row = await findRule(db, id, { includeDeleted: true });
      if (!row) throw new NotFoundError(`rule ${id} is not known`);
      requireTeam(actor, 'viewer', row.team, `rule ${id}`);
      const { rows, last } = await listRuleBacktestPage(db, id, { before, limit: page.limit, maxBytes: LIST_PAGE_BYTES });
      return {
        rows: rows.map(({ recap, summary_bytes, ...r }) => ({
          ...r,
          summary: recap ? recapSummary(recap, summary_bytes) : boundStoredSummary(r.summary, { from: r.window_from, to: r.window_to }),
        })),
        nextCursor: last && encodePageCursor([last]),
      };
    },
  };
}
