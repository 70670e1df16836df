// POST /api/rules/backtest: what a rule (new, edited or stored) would have done over the stored incident
// history, with the diff against the stored rule's current version and the decisions recorded at the time.
// POST /api/rules/{id}/backtest attaches a backtest of the current version to that version (stored, and in
// the audit log); GET /api/rules/{id}/backtests lists them. The work is src/services/backtests.ts.
import { z } from '../../domain/zod.js';
import { MAX_GROUP_KEY_BYTES, MAX_HOUR_BUCKETS, MAX_LISTED_SUMMARY_BYTES, MAX_STORED_SUMMARY_BYTES } from '../../domain/backtest/bounds.js';
import { MAX_GROUPS } from '../../domain/backtest/types.js';
import { ruleInputSchema, type RuleInput } from '../../domain/rules/index.js';
import { backtestService } from '../../services/backtests.js';
import type { Context } from 'hono';
import { createCallerShare, shareCallerOf, shareRefusal } from '../caller-share.js';
import type { AppDeps, AppEnv } from '../env.js';
import { ProblemError } from '../problem.js';
import { actorOf, authOf, BACKTEST_REQUEST_COST, guard, json, jsonBody, newRouter, op, problemResponse } from '../router.js';
import { LIST_PAGE_BYTES } from '../../services/list-pages.js';
import { anyObject, pageOf, pageQuery, pathParams } from '../schemas/common.js';

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
      .describe(
        'Without `rule`: replay the current version (default), or each event with the version that was live then (this reproduces the recorded decisions; only the versions the window and its warm-up meet are read, at most 1000 of them holding at most 64 MiB).',
      ),
    ...windowShape,
    only: z
      .enum(['all', 'applies', 'matched', 'changed'])
      .optional()
      .describe('Which events to list: changed (default with a diff), matched (default otherwise), applies (service and event type fit), all.'),
    limit: z.number().int().min(1).max(500).optional().describe('Events per page at most (default 50); a page also ends once its JSON passes 8 MiB, and nextCursor goes on from there.'),
    cursor: z.string().max(4000).optional().describe('nextCursor of the previous page; the rest of the request must be the same.'),
  })
  .meta({ id: 'BacktestRequest', description: 'A rule and a window of stored history to replay it over.' });

export const attachBacktestSchema = z.strictObject(windowShape).meta({ id: 'AttachBacktestRequest', description: 'The window of the backtest to attach to the current version.' });

export const backtestResponseSchema = z
  .object({
    summary: anyObject.describe(
      'window, events (read, reported, stale), candidate and baseline lane summaries (decisions, suppressedBy, firings, actions, peakPerHour (the busiest hour), perHour (firings per bucket of perHourBucketHours hours: 1 for a window of up to 33 days, at most 800 buckets), byService and byEnvironment (the 100 with the most matches, keys and names at most 1,024 bytes, a longer one cut and ending with …(truncated #<first 32 hex digits of the SHA-256 of the whole value>; one stored with 8 is answered as stored); byServiceOmitted, byEnvironmentOmitted count the others), assumptions, argsRefused: matches whose script action or verify check the rule run would refuse for that event), vsCurrent and vsRecorded diffs (counts: events; incidents: the first 100 distinct incident ids of at most 256 bytes behind each change; incidentsOmitted: the other incidents, counted; agreement), retention and limits. A summary attached to a version is stored within 1 MiB of JSON: past it, the diffs\' incident lists, then the group lists, then perHour are left out until it fits (counted in incidentsOmitted, byServiceOmitted, byEnvironmentOmitted), with truncated: { bytes, maxBytes, dropped }.',
    ),
    items: z
      .array(anyObject)
      .describe(
        'Per event: the incident, the extracted environment and target, candidate (and baseline) outcome with explanation, decision, policy, rendered actions and refusedArgs (ArgsRefusal: the script actions or verify check the rule run would refuse for this event; absent when none), the recorded decision, and the changes.',
      ),
    totalItems: z.number().int(),
    nextCursor: z.string().nullable(),
  })
  .meta({ id: 'BacktestResult' });

export const ruleBacktestViewSchema = z
  .object({ id: z.string(), ruleId: z.string(), version: z.number().int(), actor: z.string(), window: z.object({ from: z.string(), to: z.string() }), summary: anyObject, createdAt: z.string() })
  .meta({ id: 'RuleBacktest', description: 'A backtest attached to a rule version: the summary its author saw.' });

function backtestView(r: { id: string; rule_id: string; version: number; actor: string; window_from: Date; window_to: Date; summary: unknown; created_at: Date }) {
  return { id: String(r.id), ruleId: r.rule_id, version: r.version, actor: r.actor, window: { from: r.window_from.toISOString(), to: r.window_to.toISOString() }, summary: r.summary, createdAt: r.created_at.toISOString() };
}

const tags = ['rules'];
const idParam = pathParams(['id', 'rule id']);
const backtestPageQuery = z.object({
  ...pageQuery,
  limit: z.coerce.number().int().min(1).max(200).default(200).describe("Backtests on the page at most (1 to 200; fewer when they pass the page's bytes)."),
});

/** `clock` (milliseconds) is what the time budget is measured on; tests pass their own. */
export function backtestRoutes(deps: AppDeps, opts: { clock?: () => number } = {}) {
  const app = newRouter();
  const backtests = backtestService({ db: deps.db, config: deps.config, extractors: deps.extractors, logger: deps.logger, clock: opts.clock });
  const auth = authOf(deps);

  // Backtests running in this process. Each holds its window's events and takes up to its time budget of
  // the event loop (in turns); the caller budget bounds how often one caller starts one, not how many
  // callers do at once. Past SELFHEAL_BACKTEST_MAX_CONCURRENT the request is answered 503 at once, before
  // anything is read: many read tokens starting 30-second backtests together no longer share out the API's
  // loop and memory among them all. One caller (a token, or a user's sessions together) without the admin scope holds at most
  // all the slots but one (one at least): its burst of budget alone (10 backtests) took every slot, and every
  // other caller's backtest was answered 503 for as long as it kept starting more. Admins, who can revoke
  // any token, are held by the server's limit only.
  let running = 0;
  const { maxConcurrent } = deps.config.backtest;
  const share = createCallerShare(maxConcurrent);
  const oneOfFew = async <T>(c: Context<AppEnv>, work: () => Promise<T>): Promise<T> => {
    const refuse = (detail: string) => {
      c.header('Retry-After', '5');
      return new ProblemError(503, 'Service Unavailable', `${detail}; nothing was done, try again in 5 s`, { limit: 'backtest-concurrency', maxConcurrent });
    };
    if (running >= maxConcurrent) {
      throw refuse(`${running} backtest${running === 1 ? ' is' : 's are'} already running on this server, its limit (SELFHEAL_BACKTEST_MAX_CONCURRENT)`);
    }
    const caller = shareCallerOf(c);
    if (!share.take(caller)) {
      const { perCaller } = share;
      throw shareRefusal(c, perCaller, {
        limit: 'backtest-concurrency',
        retryAfterSeconds: 5,
        holds: `runs ${perCaller} backtest${perCaller === 1 ? '' : 's'} on this server`,
        share: 'all of SELFHEAL_BACKTEST_MAX_CONCURRENT but one',
        next: 'nothing was done, try again in 5 s',
        extra: { maxConcurrent },
      });
    }
    running += 1;
    try {
      return await work();
    } finally {
      running -= 1;
      share.release(caller);
    }
  };
  const busy = problemResponse(
    'As many backtests as `SELFHEAL_BACKTEST_MAX_CONCURRENT` allows are running on this server, or the caller (not an admin) already runs all of them but one (`perCaller`, one at least) (`limit: backtest-concurrency`); `Retry-After` says when to try again. Nothing was done.',
  );

  app.openapi(
    op(guard(auth, 'read', { body: true, emptyBodyAs: {}, invalidBody: 'the request is not valid', cost: BACKTEST_REQUEST_COST }), {
      method: 'post',
      path: '/api/rules/backtest',
      tags,
      summary: 'Backtest a rule over the stored incident history (nothing runs)',
      description:
        'Replays the events of the window in the order they were received through extraction, matching and the policies as they would have evolved (rate limit, cooldown and per-target concurrency over simulated time, maintenance windows, circuit breaker fed by recorded outcomes, dry-run). With `ruleId` and `rule`, also diffs with the current version and with the decisions recorded at the time. Bounded: the window is counted first against an event cap, and the run stops at a time budget; either answers 400 with a window that fits. An as-recorded replay reads only the versions of the rule that the window and its warm-up meet, counted and measured first: more than 1000, or more than 64 MiB of definitions, answers 400 naming `from`. Paged with `nextCursor`.',
      request: { body: jsonBody(backtestRequestSchema) },
      responses: {
        200: json('The summary and one page of per-event results.', backtestResponseSchema),
        400: problemResponse(
          'Invalid request, a window over the event cap or the time budget (with `suggestedSince`), an as-recorded window meeting more than 1000 versions of the rule or 64 MiB of their definitions, or a window wholly before the retained history.',
        ),
        404: problemResponse('Unknown ruleId.'),
        503: busy,
      },
    }),
    async (c) => {
      const input = c.req.valid('json');
      const raw = (await c.req.json()) as Record<string, unknown>;
      return c.json(await oneOfFew(c, () => backtests.run(actorOf(c), { ...input, rule: input.rule as RuleInput | undefined }, raw)), 200);
    },
  );

  app.openapi(
    op(guard(auth, 'write', { body: true, emptyBodyAs: {}, invalidBody: 'the request is not valid', cost: BACKTEST_REQUEST_COST }), {
      method: 'post',
      path: '/api/rules/{id}/backtest',
      tags,
      summary: "Attach a backtest of the rule's current version to that version (stored, and in the audit log)",
      request: { params: idParam, body: jsonBody(attachBacktestSchema) },
      responses: { 201: json('The stored backtest.', ruleBacktestViewSchema), 404: problemResponse('Unknown or deleted rule.'), 503: busy },
    }),
    async (c) => c.json(backtestView(await oneOfFew(c, () => backtests.attach(actorOf(c), c.req.param('id'), c.req.valid('json')))), 201),
  );

  app.openapi(
    op(guard(auth, 'read'), {
      method: 'get',
      path: '/api/rules/{id}/backtests',
      tags,
      summary: "Backtests attached to the rule's versions, newest first, paged by cursor",
      description: `A page holds \`limit\` backtests at most (default 200), and no more than ${LIST_PAGE_BYTES / (1024 * 1024)} MiB of summaries (one backtest at least): follow \`nextCursor\` until it is null. A summary keeps the ${MAX_GROUPS} services and environments with the most matches (\`byService\`, \`byEnvironment\`); \`byServiceOmitted\` and \`byEnvironmentOmitted\` count the others; \`perHour\` holds at most ${MAX_HOUR_BUCKETS} buckets of \`perHourBucketHours\` hours (1 for a window of up to 33 days). Group keys and names are at most ${MAX_GROUP_KEY_BYTES} bytes of UTF-8, a longer one cut and ending with \`…(truncated #<hash>)\` (the first 32 hex digits of the whole value's SHA-256, so values that start alike stay apart; a key stored with the former 8 digits is answered as stored). A summary is stored within ${MAX_STORED_SUMMARY_BYTES / (1024 * 1024)} MiB of JSON: past it, the diffs' incident lists, then \`byService\` and \`byEnvironment\`, then \`perHour\` are left out until it fits, counted in \`incidentsOmitted\`, \`byServiceOmitted\` and \`byEnvironmentOmitted\` (every count exact), and \`truncated\` says so (\`bytes\` of the whole, \`maxBytes\`, \`dropped\`: the lists left out). A summary stored before these bounds is answered within them; one of more than ${MAX_LISTED_SUMMARY_BYTES / (1024 * 1024)} MiB as stored is not read: its recap is answered (window, events, each lane's counts, the diffs' counts; no group, hour or incident), with \`truncated\` (\`bytes\` as stored, \`maxBytes\`); it counts in the page at its size as stored, so a page holds one such at most.`,
      request: { params: idParam, query: backtestPageQuery },
      responses: { 200: json('A page of attached backtests.', pageOf(ruleBacktestViewSchema)), 404: problemResponse('Unknown rule.') },
    }),
    async (c) => {
      const { rows, nextCursor } = await backtests.list(actorOf(c), c.req.param('id'), c.req.valid('query'));
      return c.json({ items: rows.map(backtestView), nextCursor }, 200);
    },
  );

  return app;
}
