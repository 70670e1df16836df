// Effectiveness statistics (issue 22): GET /api/stats and GET /api/rules/{id}/stats, read scope, over a
// bounded `since`/`until` range. Thin: the numbers come from src/services/stats.ts.
import { z } from '../../domain/zod.js';
import { MAX_INCIDENTS, MAX_MATCHES, MAX_RANGE_DAYS, overallStats, ruleStats, UnknownRuleError } from '../../services/stats.js';
import type { AppDeps, AppEnv } from '../env.js';
import { notFound, unavailable } from '../problem.js';
import { createCallerShare, shareCallerOf, shareRefusal } from '../caller-share.js';
import { BUSY, createTurns } from '../../domain/turns.js';
import type { Context } from 'hono';
import { actorOf, authOf, BACKTEST_REQUEST_COST, guard, json, newRouter, op, problemResponse } from '../router.js';
import { textParam } from '../schemas/common.js';

const DAY_MS = 86_400_000;
/** The range when none is given: the last 30 days. */
export const DEFAULT_RANGE_DAYS = 30;
/**
 * What one statistics answer costs against the caller's request budget, like a backtest: either route may
 * read up to MAX_MATCHES matches and label up to MAX_INCIDENTS incidents from their events and action runs,
 * so at the cost of an ordinary request one read token could keep the API busy with a year-long range.
 */
export const STATS_REQUEST_COST = BACKTEST_REQUEST_COST;
/**
 * Statistics answers computed at once in one API process, and answers waiting their turn. One answer may
 * hold some 200 MB and seconds of work: ten at once (a read token's whole burst) took 48 s and 1.7 GB, and
 * every other caller waited seconds. Past the line, 503 with Retry-After: whoever asks, the API computes one.
 * One caller without the admin scope holds at most all of the line's places but one (src/api/caller-share.ts):
 * one read token's burst (ten answers) filled the line alone, and every other caller was answered 503 for
 * as long as it kept asking.
 */
export const MAX_STATS_AT_ONCE = 1;
export const MAX_WAITING_STATS = 4;
const statsTurns = createTurns({ running: MAX_STATS_AT_ONCE, waiting: MAX_WAITING_STATS });
const statsShare = createCallerShare(MAX_STATS_AT_ONCE + MAX_WAITING_STATS);
/** Places in the statistics line one caller without the admin scope may hold (computing and waiting). */
export const STATS_PER_CALLER = statsShare.perCaller;
const COST_NOTE = `Reads up to ${MAX_MATCHES.toLocaleString('en')} matches and labels up to ${MAX_INCIDENTS.toLocaleString('en')} incidents, so one call costs ${STATS_REQUEST_COST} requests of the caller's budget, like a backtest; one API process computes one answer at a time, ${MAX_WAITING_STATS} more wait, and past that the answer is 503 with Retry-After. A caller without the admin scope holds at most ${STATS_PER_CALLER} of those places; its next is the same 503, with \`perCaller\`.`;

export const statsQuerySchema = z
  .object({
    since: z.iso.datetime({ offset: true }).optional().describe(`Start of the range (inclusive); default: ${DEFAULT_RANGE_DAYS} days before \`until\`.`),
    until: z.iso.datetime({ offset: true }).optional().describe('End of the range (exclusive); default: now.'),
  })
  .superRefine((q, ctx) => {
    const until = q.until ? Date.parse(q.until) : Date.now();
    const since = q.since ? Date.parse(q.since) : until - DEFAULT_RANGE_DAYS * DAY_MS;
    if (since >= until) ctx.addIssue({ code: 'custom', path: ['since'], message: 'must be before until' });
    else if (until - since > MAX_RANGE_DAYS * DAY_MS) ctx.addIssue({ code: 'custom', path: ['since'], message: `the range may cover at most ${MAX_RANGE_DAYS} days` });
  });

const rateSchema = z.number().min(0).max(1).nullable();
const ttrSchema = z.object({ count: z.number().int(), medianSeconds: z.number().nullable(), histogram: z.array(z.number().int()) });
const effectivenessFields = {
  range: z.object({ since: z.string(), until: z.string() }),
  runs: z.number().int().describe('Matches that ran actions (decision run).'),
  finishedRuns: z.number().int(),
  succeededRuns: z.number().int(),
  successRate: rateSchema.describe('Finished runs with no action failed or rejected / finished runs.'),
  verification: z.object({ verified: z.number().int(), unverified: z.number().int(), pending: z.number().int(), notApplicable: z.number().int() }),
  verifiedRate: rateSchema.describe('verified / (verified + unverified).'),
  dryRuns: z.number().int(),
  suppressed: z.array(z.object({ policy: z.string(), count: z.number().int() })).describe('Matches skipped, per policy.'),
  flappingTargets: z.array(z.object({ target: z.string(), count: z.number().int() })),
  incidents: z.object({ 'auto-remediated': z.number().int(), assisted: z.number().int(), human: z.number().int(), open: z.number().int() }),
  autoRemediatedShare: rateSchema.describe('auto-remediated / incidents our actions ran on (final labels).'),
  timeToResolve: z.object({ bucketsSeconds: z.array(z.number()), withAutomation: ttrSchema, withoutAutomation: ttrSchema }),
  daily: z.array(z.object({ day: z.string(), runs: z.number().int(), verified: z.number().int() })),
  truncated: z.boolean().describe('More history than one answer reads: the numbers cover the oldest part of the range.'),
};
export const ruleStatsSchema = z
  .object({ rule: z.object({ id: z.string(), name: z.string(), enabled: z.boolean(), liveSince: z.string().nullable() }), ...effectivenessFields })
  .meta({ id: 'RuleStats' });
export const overallStatsSchema = z
  .object({
    ...effectivenessFields,
    rules: z.array(
      z.object({ id: z.string(), name: z.string(), runs: z.number().int(), successRate: rateSchema, verifiedRate: rateSchema, autoRemediatedShare: rateSchema, suppressed: z.number().int() }),
    ),
  })
  .meta({ id: 'OverallStats' });

function rangeOf(q: z.infer<typeof statsQuerySchema>): { since: Date; until: Date } {
  const until = q.until ? new Date(q.until) : new Date();
  const since = q.since ? new Date(q.since) : new Date(until.getTime() - DEFAULT_RANGE_DAYS * DAY_MS);
  return { since, until };
}

/** `compute` in a turn of statsTurns; 503 with Retry-After when the line is full or the caller holds its share of it. */
async function inTurn<T>(c: Context<AppEnv>, compute: () => Promise<T>): Promise<T> {
  const caller = shareCallerOf(c);
  if (!statsShare.take(caller)) {
    throw shareRefusal(c, STATS_PER_CALLER, {
      limit: 'stats-per-caller',
      retryAfterSeconds: 5,
      holds: `holds ${STATS_PER_CALLER} of the ${MAX_STATS_AT_ONCE + MAX_WAITING_STATS} places of the statistics line (computing and waiting)`,
      next: 'try again in a few seconds',
    });
  }
  let answer: T | typeof BUSY;
  try {
    answer = await statsTurns.run(compute);
  } finally {
    statsShare.release(caller);
  }
  if (answer !== BUSY) return answer;
  c.header('Retry-After', '5');
  throw unavailable(`the server is computing as many statistics as it computes at once (${MAX_STATS_AT_ONCE}, ${MAX_WAITING_STATS} waiting); try again in a few seconds`);
}

const BUSY_NOTE = 'Too many statistics answers at once in this process, or the caller (not an admin) already holds all the places of the line but one (`perCaller`, `limit: stats-per-caller`) (Retry-After).';

export function statsRoutes(deps: AppDeps) {
  const app = newRouter();
  const read = guard(authOf(deps), 'read', { cost: STATS_REQUEST_COST });

  app.openapi(
    op(read, {
      method: 'get',
      path: '/api/stats',
      tags: ['stats'],
      summary: 'Effectiveness of automation overall and per rule',
      description: COST_NOTE,
      request: { query: statsQuerySchema },
      responses: { 200: json('The statistics.', overallStatsSchema), 503: problemResponse(BUSY_NOTE) },
    }),
    async (c) => c.json(await inTurn(c, () => overallStats(deps.db, rangeOf(c.req.valid('query')), actorOf(c))), 200),
  );

  app.openapi(
    op(read, {
      method: 'get',
      path: '/api/rules/{id}/stats',
      tags: ['stats'],
      summary: "A rule's effectiveness: runs, success and verified rates, who fixed the incidents, time to resolve with and without it",
      description: COST_NOTE,
      request: { params: z.object({ id: textParam(200) }), query: statsQuerySchema },
      responses: { 200: json('The statistics.', ruleStatsSchema), 404: problemResponse('Unknown rule.'), 503: problemResponse(BUSY_NOTE) },
    }),
    async (c) => {
      try {
        return c.json(await inTurn(c, () => ruleStats(deps.db, c.req.valid('param').id, rangeOf(c.req.valid('query')), actorOf(c))), 200);
      } catch (err) {
        if (err instanceof UnknownRuleError) throw notFound(err.message);
        throw err;
      }
    },
  );

  return app;
}


