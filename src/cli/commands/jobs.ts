// selfheal jobs list|trigger|pause|resume|runs
import type { Command } from 'commander';
import { mapBounded } from '../../domain/map-bounded.js';
import { FINAL_RUN_STATUSES, type JobRunView, type JobView } from '../api-types.js';
import type { CommandContext } from '../context.js';
import { EXIT } from '../errors.js';
import { MAX_STREAMED_LIST_PAGES, pageFollower } from '../http-client.js';
import { linePerWrite, printJson, table, tableRow } from '../output.js';
import { action, positiveInt, type Runtime } from '../program.js';

const scheduleText = (s: JobView['schedule']) =>
  s.interval ? (/^every/.test(s.interval) ? s.interval : `every ${s.interval}`) : s.cron ? `cron ${[s.cron].flat().join('; ')}${s.timezone ? ` (${s.timezone})` : ''}` : JSON.stringify(s);

/** STATE: what Temporal says of the schedule; `unknown` when it did not answer, `no schedule` when it has none. */
const stateText = (j: JobView): string =>
  j.scheduleStatus === 'unavailable' ? 'unknown' : j.scheduleStatus === 'missing' ? 'no schedule' : (j.paused ?? !j.enabled) ? 'paused' : 'active';

/** NEXT RUN: Temporal's next action time; `?` when Temporal did not answer, `-` when none is planned. */
const nextRunText = (j: JobView): string => (j.scheduleStatus === 'unavailable' ? '?' : (j.nextRunTimes?.[0] ?? '-'));

const targetLine = (t: JobRunView['targets'][number]) => `  ${t.environment} (${t.via}): ${t.status}${t.exitCode !== null ? ` exit ${t.exitCode}` : ''}${t.error ? ` — ${t.error}` : ''}`;

/** Runs `jobs trigger` lists to find the one it started: the newest few (a page of runs is up to 4 MiB). */
const RUNS_FOLLOWED = 5;

/** Every page of a run's target results, handed to `each` in turn; false when the job or run is not known. */
async function eachTargetPage(api: CommandContext['api'], id: string, runId: string, each: (items: JobRunView['targets']) => void): Promise<boolean> {
  // Printed a page at a time and not kept: bounded by pages only, so that a list that never ends still ends.
  const next = pageFollower(`${api.baseUrl} (the run's targets)`, MAX_STREAMED_LIST_PAGES, Infinity);
  let cursor: string | null = null;
  do {
    const page: Awaited<ReturnType<CommandContext['api']['jobs']['runTargets']>> = await api.jobs.runTargets(id, runId, cursor);
    if (!page) return false;
    each(page.items);
    cursor = next(page.nextCursor, page.bytes);
  } while (cursor !== null);
  return true;
}

/** Every target of a finished run, a page at a time (the run lists its first 50, shortened); the listed ones from a server without the targets endpoint. */
async function printTargets({ api, io }: Pick<CommandContext, 'api' | 'io'>, id: string, run: JobRunView): Promise<void> {
  if (run.targetsTotal === undefined) {
    for (const t of run.targets) io.out(targetLine(t));
    return;
  }
  await eachTargetPage(api, id, run.id, (items) => {
    for (const t of items) io.out(targetLine(t));
  });
}

function notFound(io: CommandContext['io'], what: string): number {
  io.err(`${what} is not known`);
  return EXIT.negative;
}

async function setJobState({ api, io, global }: CommandContext, id: string, what: 'pause' | 'resume'): Promise<number> {
  const job = await api.jobs.setState(id, what);
  if (!job) return notFound(io, `job ${id}`);
  if (global.json) printJson(io, job);
  else io.out(`${id}: ${what === 'pause' ? 'paused' : 'resumed'}`);
  return EXIT.ok;
}

export function registerJobs(program: Command, given: Runtime): void {
  const rt = linePerWrite(given);
  const group = program.command('jobs').description('Scheduled jobs: next runs, run now, pause, history');

  group
    .command('list')
    .description('List scheduled jobs with their next run')
    .action(
      action(rt, async ({ api, io, global }) => {
        const items = await api.jobs.list();
        // The detail adds the schedule's state from Temporal.
        const jobs = await mapBounded(items, 8, async (j) => {
          const detail = await api.jobs.get(j.id);
          return detail ? { ...j, paused: detail.paused, nextRunTimes: detail.nextRunTimes, scheduleStatus: detail.scheduleStatus } : j;
        });
        if (global.json) {
          printJson(io, jobs);
          return EXIT.ok;
        }
        table(
          io,
          ['ID', 'NAME', 'SCHEDULE', 'STATE', 'NEXT RUN', 'SCRIPT'],
          jobs.map((j) => [j.id, j.name, scheduleText(j.schedule), stateText(j), nextRunText(j), `${j.script} via ${j.via}`]),
        );
        // An unknown state is said, not shown as "active" with an empty next run.
        const unknown = jobs.filter((j) => j.scheduleStatus === 'unavailable' || j.scheduleStatus === 'missing');
        for (const j of unknown) {
          io.err(j.scheduleStatus === 'missing' ? `${j.id}: no schedule in Temporal; the worker recreates it at start` : `${j.id}: Temporal did not answer; its state and next run are unknown, try again`);
        }
        return EXIT.ok;
      }),
    );

  /**
   * Whether `r` is the run this trigger started: the one named, or (through the schedule) a run the schedule
   * took at or after the trigger; a run another person started by hand, or the schedule took earlier on its
   * own, is not followed. Runs are listed newest first: the oldest that fits is ours.
   */
  const isOurs = (r: JobRunView, t: { runId: string | null; triggeredAt: string | null }): boolean => {
    if (t.runId !== null) return r.id === t.runId;
    if (t.triggeredAt === null) return true;
    return r.trigger === 'schedule' && typeof r.scheduledAt === 'string' && Date.parse(r.scheduledAt) >= Date.parse(t.triggeredAt);
  };

  group
    .command('trigger')
    .description('Run a job now; with --wait, follow the run to its end (exit 0 succeeded, 1 failed/partial, 3 no end within --timeout)')
    .argument('<id>', 'job id')
    .option('--wait', 'follow the run until it ends')
    .option('--timeout <seconds>', 'with --wait: give up after this many seconds (default 600)')
    .action(
      action<{ wait?: boolean; timeout?: string }>(rt, async ({ api, io, args: [id], opts, global }) => {
        // The newest few runs only: they are pages of runs with their targets, and a fleet job's last 20 were
        // more than the 64 MiB an answer may be (each run now lists 50 targets at most; `isOurs` tells ours).
        const before = await api.jobs.runs(id!, RUNS_FOLLOWED);
        if (!before) return notFound(io, `job ${id}`);
        const known = new Set(before.map((r) => r.id));
        const timeoutMs = positiveInt(opts.timeout, 'timeout', 600, 86_400) * 1000;
        const triggered = await api.jobs.trigger(id!);
        if (opts.wait !== true) {
          if (global.json) printJson(io, { jobId: id, triggered: true });
          else io.out(`triggered ${id}`);
          return EXIT.ok;
        }
        const started = Date.now();
        const deadline = started + timeoutMs;
        let run: JobRunView | undefined;
        let last = '';
        for (;;) {
          run = (await api.jobs.runs(id!, RUNS_FOLLOWED))?.filter((r) => !known.has(r.id)).findLast((r) => isOurs(r, triggered));
          const progress = run ? `${run.status}, ${run.targetsTotal ?? run.targets.length} target result(s)` : 'waiting for the run to start';
          if (progress !== last) {
            io.err(`[${((Date.now() - started) / 1000).toFixed(0)}s] ${id}: ${progress}`);
            last = progress;
          }
          if (run && FINAL_RUN_STATUSES.has(run.status)) break;
          if (Date.now() > deadline) {
            io.err(`${id}: the run did not finish within ${timeoutMs / 1000} s${run ? ` (see ${run.temporalUrl})` : ''}`);
            if (global.json) printJson(io, { jobId: id, finished: false, run: run ?? null });
            return EXIT.server;
          }
          await new Promise((r) => setTimeout(r, 1000));
        }
        if (global.json) {
          printJson(io, { jobId: id, finished: true, run });
        } else {
          io.out(`${id}: ${run.status}${run.durationMs !== null ? ` in ${(run.durationMs / 1000).toFixed(1)} s` : ''}  ${run.temporalUrl}`);
          await printTargets({ api, io }, id!, run);
        }
        return run.status === 'succeeded' || run.status === 'skipped' ? EXIT.ok : EXIT.negative;
      }),
    );

  group
    .command('pause')
    .description('Pause a job schedule (exit 1 when the job is not known)')
    .argument('<id>', 'job id')
    .action(action(rt, (ctx) => setJobState(ctx, ctx.args[0]!, 'pause')));

  group
    .command('resume')
    .description('Resume a paused job schedule (exit 1 when the job is not known)')
    .argument('<id>', 'job id')
    .action(action(rt, (ctx) => setJobState(ctx, ctx.args[0]!, 'resume')));

  group
    .command('runs')
    .description('Run history of a job with per-target results')
    .argument('<id>', 'job id')
    .option('--limit <n>', 'at most n runs (1-200, default 20)')
    .action(
      action<{ limit?: string }>(rt, async ({ api, io, args: [id], opts, global }) => {
        const runs = await api.jobs.runs(id!, positiveInt(opts.limit, 'limit', 20, 200));
        if (!runs) return notFound(io, `job ${id}`);
        if (global.json) {
          printJson(io, runs);
          return EXIT.ok;
        }
        tableRow(io, ['STARTED', 'TRIGGER', 'STATUS', 'DURATION', 'TARGETS OK', 'TEMPORAL']);
        for (const r of runs) {
          const ok = r.targets.filter((t) => t.status === 'succeeded').length;
          const total = r.targetsTotal ?? r.targets.length;
          const more = total - r.targets.length;
          tableRow(io, [r.startedAt, r.trigger, r.status, r.durationMs === null ? '' : `${(r.durationMs / 1000).toFixed(1)}s`, more > 0 ? `${ok}/${r.targets.length} of ${total} listed` : `${ok}/${total}`, r.temporalUrl]);
          for (const t of r.targets) io.out(targetLine(t));
          if (more > 0 || r.targets.some((t) => t.cut)) io.out(`  … ${more > 0 ? `${more} more target(s); ` : ''}all of them whole: selfheal jobs targets ${id} ${r.id}`);
        }
        return EXIT.ok;
      }),
    );

  group
    .command('targets')
    .description("A run's target results, whole: status, exit code, output and error (exit 1 when the job or run is not known)")
    .argument('<id>', 'job id')
    .argument('<runId>', 'run id (the id `jobs runs --json` lists)')
    .action(
      action(rt, async ({ api, io, args: [id, runId], global }) => {
        if (global.json) {
          // One JSON array, written a page at a time.
          let first = true;
          const ok = await eachTargetPage(api, id!, runId!, (items) => {
            for (const t of items) {
              io.out(`${first ? '[' : ','}${JSON.stringify(t)}`);
              first = false;
            }
          });
          if (!ok) return notFound(io, `run ${runId} of job ${id}`);
          io.out(first ? '[]' : ']');
          return EXIT.ok;
        }
        const ok = await eachTargetPage(api, id!, runId!, (items) => {
          for (const t of items) {
            io.out(targetLine(t));
            if (t.outputExcerpt) io.out(t.outputExcerpt.replace(/^/gm, '    '));
          }
        });
        return ok ? EXIT.ok : notFound(io, `run ${runId} of job ${id}`);
      }),
    );
}
