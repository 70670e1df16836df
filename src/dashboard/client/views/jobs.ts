// Scheduled jobs: the list with each job's next run, and one job's page: next runs, run now, pause and
// resume (each asks for confirmation first: confirm.ts), its definition, and the run history with
// per-target results and links into Temporal.
import { confirmAction } from '../confirm.js';
import { badge, externalLink, h, table } from '../dom.js';
import { pretty, scheduleText, seconds, when } from '../format.js';
import type { Route, ViewContext } from '../router.js';
import { pagedList } from '../paged.js';
import type { JobDetail, JobRun, JobRuns, JobTargetResult, JobView, ListOf } from '../types.js';
import { temporalLink } from './temporal.js';

/** Jobs a page of the list holds; the detail of each (next runs, paused state) is fetched as its page is shown. */
const DETAILED_JOBS = 50;

/** The state badge: `unknown` when Temporal did not answer, `no schedule` when it has none for the job. */
function stateOf(j: JobView & Partial<JobDetail>): string {
  if (j.scheduleStatus === 'unavailable') return 'unknown';
  if (j.scheduleStatus === 'missing') return 'no schedule';
  return j.paused || !j.enabled ? 'paused' : 'enabled';
}

/** Why a job page has no next runs to list. */
const noNextRuns: Record<JobDetail['scheduleStatus'], string> = {
  unavailable: 'unknown: Temporal did not answer; reload to ask again',
  missing: 'none: Temporal has no schedule for this job (the worker recreates it at start)',
  paused: 'none: paused',
  active: 'none planned',
};

const jobHref = (id: string) => `#/jobs/${encodeURIComponent(id)}`;

async function jobsView(ctx: ViewContext): Promise<void> {
  // The detail adds what Temporal knows (paused, next run times) to the stored definition: asked for each job
  // of a page as it is shown, a page of DETAILED_JOBS at a time.
  const detailed = (items: JobView[]) =>
    Promise.all(
      items.map((j) =>
        ctx.api.get<JobDetail>(`/api/jobs/${encodeURIComponent(j.id)}`, { signal: ctx.signal }).then(
          (d): JobView & Partial<JobDetail> => ({ ...j, paused: d.paused, nextRunTimes: d.nextRunTimes, scheduleStatus: d.scheduleStatus }),
          (): JobView & Partial<JobDetail> => j,
        ),
      ),
    );
  const jobRow = (j: JobView & Partial<JobDetail>) =>
    h(
      'tr',
      { class: 'clickable', 'data-testid': 'job-row', onclick: () => (location.hash = jobHref(j.id)) },
      h('td', {}, h('a', { href: jobHref(j.id) }, j.name)),
      h('td', { 'data-testid': 'job-team' }, j.team ?? 'default'),
      h('td', {}, scheduleText(j.schedule)),
      h('td', {}, badge(stateOf(j), 'job-list-state')),
      h('td', {}, `${j.script} via ${j.via}`),
      h('td', { 'data-testid': 'job-next' }, j.scheduleStatus === 'unavailable' ? 'unknown' : when(j.nextRunTimes?.[0])),
      h('td', {}, externalLink(temporalLink(ctx.config, `/schedules/${encodeURIComponent(j.scheduleId)}`), 'Schedule', 'schedule-link')),
    );
  const list = await pagedList<JobView>(ctx, {
    path: '/api/jobs',
    limit: DETAILED_JOBS,
    testid: 'jobs',
    headers: ['Name', 'Team', 'Schedule', 'State', 'Script', 'Next run', 'Temporal'],
    rows: async (items) => (await detailed(items)).map(jobRow),
    empty: 'No scheduled jobs yet.',
  });
  ctx.show(h('h2', {}, 'Jobs'), ...list);
}

function targetsTable(targets: JobTargetResult[]): HTMLTableElement {
  return table(
    undefined,
    ['Environment', 'Via', 'Status', 'Exit', 'Output / error'],
    targets.map((t) =>
      h(
        'tr',
        { 'data-testid': 'job-target' },
        h('td', {}, t.environment),
        h('td', {}, t.via),
        h('td', {}, badge(t.status)),
        h('td', {}, t.exitCode === null ? '' : String(t.exitCode)),
        h('td', {}, t.error ? h('div', { class: 'error' }, t.error) : null, t.outputExcerpt ? h('pre', {}, t.outputExcerpt) : null),
      ),
    ),
  );
}

/**
 * A run's targets as the list gives them: its first 50 (those not succeeded first), their output's end and
 * error's start. "All targets" reads them whole from the run's targets endpoint, a page at a time.
 */
function runTargets(ctx: ViewContext, jobPath: string, run: JobRun): HTMLElement {
  const cell = h('div', {});
  const total = run.targetsTotal ?? run.targets.length;
  const shortened = total > run.targets.length || run.targets.some((t) => t.cut);
  const showAll = async () => {
    const all: JobTargetResult[] = [];
    const seen = new Set<string>();
    let cursor: string | null = null;
    try {
      do {
        const q: string = `limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
        const page: ListOf<JobTargetResult> & { nextCursor: string | null } = await ctx.api.get(`${jobPath}/runs/${encodeURIComponent(run.id)}/targets?${q}`, { signal: ctx.signal });
        all.push(...page.items);
        cursor = page.nextCursor;
        if (cursor !== null && seen.has(cursor)) break;
        if (cursor !== null) seen.add(cursor);
      } while (cursor !== null);
    } catch (err) {
      ctx.flash((err as Error).message, true);
      return;
    }
    cell.replaceChildren(targetsTable(all));
  };
  cell.append(run.targets.length ? targetsTable(run.targets) : h('span', { class: 'muted' }, 'no target results yet'));
  if (shortened)
    cell.append(
        h(
          'p',
          { class: 'muted' },
          total > run.targets.length ? `${run.targets.length} of ${total} targets shown, output and errors shortened. ` : 'Output and errors shortened. ',
          h('button', { type: 'button', class: 'secondary', 'data-testid': 'job-run-all-targets', onclick: () => void showAll() }, `All ${total} targets, whole`),
        ),
    );
  return cell;
}

function runRows(ctx: ViewContext, jobPath: string, run: JobRun): HTMLTableRowElement[] {
  return [
    h(
      'tr',
      { 'data-testid': 'job-run' },
      h('td', {}, when(run.startedAt)),
      h('td', {}, run.trigger),
      h('td', {}, badge(run.status)),
      h('td', {}, seconds(run.durationMs)),
      h('td', {}, externalLink(run.temporalUrl, 'Temporal', 'run-temporal-link')),
    ),
    h('tr', {}, h('td', { colspan: 5 }, runTargets(ctx, jobPath, run))),
  ];
}

async function jobView(ctx: ViewContext): Promise<void> {
  const path = `/api/jobs/${encodeURIComponent(ctx.params.id!)}`;
  const [j, runs] = await Promise.all([ctx.api.get<JobDetail>(path, { signal: ctx.signal }), ctx.api.get<JobRuns>(`${path}/runs?limit=50`, { signal: ctx.signal })]);
  // Each of these changes what runs on the job's targets: one click only asks (confirm.ts).
  const questions = {
    trigger: { question: `Run job ${j.name} now?`, detail: `It runs ${j.script} on its targets.`, label: 'Run now' },
    pause: { question: `Pause job ${j.name}?`, detail: 'Its scheduled runs stop until it is resumed.', label: 'Pause' },
    resume: { question: `Resume job ${j.name}?`, detail: 'Its scheduled runs start again.', label: 'Resume' },
  };
  const act = (what: 'trigger' | 'pause' | 'resume') => async (event: MouseEvent) => {
    const q = questions[what];
    if (!(await confirmAction({ question: q.question, detail: q.detail, confirmLabel: q.label, opener: event.currentTarget as Element, signal: ctx.signal }))) return;
    try {
      await ctx.api.send('POST', `${path}/${what}`);
    } catch (err) {
      ctx.flash((err as Error).message, true);
      return;
    }
    ctx.flash(`${what}: done`);
    ctx.reload();
  };
  const skipped = runs.schedule && 'skippedOverlap' in runs.schedule ? runs.schedule.skippedOverlap : 0;
  ctx.show(
    h('div', { class: 'row' }, h('a', { href: '#/jobs' }, '← Jobs')),
    h('h2', {}, j.name),
    h(
      'div',
      { class: 'row' },
      badge(stateOf(j), 'job-state'),
      h('span', {}, scheduleText(j.schedule)),
      h('button', { type: 'button', 'data-testid': 'job-trigger', onclick: (e) => void act('trigger')(e) }, 'Run now'),
      j.paused
        ? h('button', { type: 'button', class: 'secondary', 'data-testid': 'job-resume', onclick: (e) => void act('resume')(e) }, 'Resume')
        : h('button', { type: 'button', class: 'secondary', 'data-testid': 'job-pause', onclick: (e) => void act('pause')(e) }, 'Pause'),
      externalLink(temporalLink(ctx.config, `/schedules/${encodeURIComponent(j.scheduleId)}`), 'Schedule in Temporal', 'schedule-link'),
    ),
    h(
      'div',
      { class: 'grid' },
      h(
        'div',
        { class: 'card' },
        h('h3', {}, 'Next runs'),
        j.nextRunTimes.length
          ? h(
              'ul',
              { 'data-testid': 'next-runs' },
              j.nextRunTimes.map((t) => h('li', {}, when(t))),
            )
          : h('p', { class: 'muted', 'data-testid': 'no-next-runs' }, noNextRuns[j.scheduleStatus] ?? 'none'),
      ),
      h(
        'div',
        { class: 'card' },
        h('h3', {}, 'Definition'),
        h(
          'pre',
          {},
          pretty({ targets: j.targets, via: j.via, script: j.script, args: j.args, timeoutSecondsPerTarget: j.timeoutSecondsPerTarget, concurrency: j.concurrency, dryRun: j.dryRun }),
        ),
      ),
    ),
    h('h3', {}, 'Run history'),
    skipped ? h('p', { class: 'muted' }, `${skipped} run(s) skipped because the previous one was still running`) : null,
    runs.items.length ? table('job-runs', ['Started', 'Trigger', 'Status', 'Duration', 'Run'], runs.items.map((r) => runRows(ctx, path, r))) : h('p', { class: 'muted' }, 'No runs yet.'),
    // A page of runs ends at 4 MiB: older runs are a click away.
    runs.nextCursor ? olderRuns(ctx, path, runs.nextCursor) : null,
  );
}

/** A button that appends the next page of runs below the history, and offers the one after. */
function olderRuns(ctx: ViewContext, jobPath: string, cursor: string): HTMLElement {
  const box = h('div', {});
  const load = async () => {
    let page: JobRuns;
    try {
      page = await ctx.api.get<JobRuns>(`${jobPath}/runs?limit=50&cursor=${encodeURIComponent(cursor)}`, { signal: ctx.signal });
    } catch (err) {
      ctx.flash((err as Error).message, true);
      return;
    }
    box.replaceChildren(page.items.length ? table(undefined, ['Started', 'Trigger', 'Status', 'Duration', 'Run'], page.items.map((r) => runRows(ctx, jobPath, r))) : h('p', { class: 'muted' }, 'No older runs.'));
    if (page.nextCursor && page.nextCursor !== cursor) box.append(olderRuns(ctx, jobPath, page.nextCursor));
  };
  box.append(h('button', { type: 'button', class: 'secondary', 'data-testid': 'job-older-runs', onclick: () => void load() }, 'Older runs'));
  return box;
}

export const jobRoutes: Route[] = [
  { path: 'jobs', nav: 'Jobs', view: jobsView },
  { path: 'jobs/:id', view: jobView },
];
