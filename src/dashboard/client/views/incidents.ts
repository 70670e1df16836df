// Incidents: the list (filter by status) and one incident's page: its extracted environment, details and
// timeline of PagerDuty events, rule matches (with why they matched) and action runs, with approve and
// reject buttons on actions waiting for approval (each asks for confirmation first: confirm.ts). The page
// refreshes every 2 s while work is pending, in the background (router.ts: the refreshes do not extend the
// sign-in session's idle timeout; a 401 shows the sign-in page as for any call).
import { ApiError } from '../api.js';
import { confirmAction } from '../confirm.js';
import { append, badge, externalLink, h, table, type Child } from '../dom.js';
import { pretty, when } from '../format.js';
import type { Route, ViewContext } from '../router.js';
import type { ActionRun, IncidentDetail, IncidentSummary, ListOf } from '../types.js';
import { automationBanner } from './automation.js';

const STATUSES = ['triggered', 'acknowledged', 'resolved', 'unknown'] as const;
const REFRESH_MS = 2000;

const incidentHref = (id: string) => `#/incidents/${encodeURIComponent(id)}`;

async function incidentsView(ctx: ViewContext): Promise<void> {
  const status = ctx.query.get('status') ?? '';
  const select = h(
    'select',
    { id: 'status-filter', onchange: () => (location.hash = `#/incidents${select.value ? `?status=${encodeURIComponent(select.value)}` : ''}`) },
    ['', ...STATUSES].map((s) => h('option', { value: s, selected: s === status }, s || 'any status')),
  );
  const query = new URLSearchParams({ limit: '100' });
  if (status) query.set('status', status);
  const [body, banner] = await Promise.all([ctx.api.get<ListOf<IncidentSummary>>(`/api/incidents?${query}`, { signal: ctx.signal }), automationBanner(ctx)]);
  const rows = body.items.map((i) =>
    h(
      'tr',
      { class: 'clickable', 'data-testid': 'incident-row', 'data-id': i.id, onclick: () => (location.hash = incidentHref(i.id)) },
      h('td', {}, h('a', { href: incidentHref(i.id) }, i.id)),
      h('td', {}, i.title ?? ''),
      h('td', {}, badge(i.status)),
      h('td', {}, i.service.name ?? i.service.id ?? ''),
      h('td', {}, String(i.environment.environment || i.environment.host || '')),
      h('td', {}, when(i.createdAt)),
      h('td', {}, externalLink(i.temporalUrl, 'Temporal', 'temporal-link')),
    ),
  );
  ctx.show(
    banner,
    h('div', { class: 'row' }, h('h2', {}, 'Incidents'), select),
    rows.length
      ? table('incidents', ['Id', 'Title', 'Status', 'Service', 'Environment', 'Created', 'Run'], rows)
      : h('p', { class: 'muted' }, 'No incidents yet. PagerDuty webhooks arrive at /webhooks/pagerduty.'),
  );
}

interface TimelineItem {
  at: string | null | undefined;
  cls: string;
  node: Child;
}

function timelineItems(ctx: ViewContext, inc: IncidentDetail): TimelineItem[] {
  const items: TimelineItem[] = [];
  for (const e of inc.events) {
    items.push({
      at: e.occurredAt ?? e.receivedAt,
      cls: 't-event',
      node: h(
        'div',
        { 'data-testid': 'event', 'data-id': e.eventId },
        h('strong', {}, `PagerDuty ${e.type} `),
        e.disposition && e.disposition !== 'accepted' ? badge(e.disposition, 'event-disposition') : null,
        h('div', { class: 'muted' }, `event ${e.eventId}, received ${when(e.receivedAt)}`),
        e.rejectReason ? h('div', { class: 'error', 'data-testid': 'event-reject-reason' }, `rejected: ${e.rejectReason}`) : null,
        e.note ? h('div', { class: 'muted', 'data-testid': 'event-note' }, `no rule ran: ${e.note}`) : null,
      ),
    });
  }
  for (const m of inc.matches) {
    const text = m.explanation?.text ?? '';
    items.push({
      at: m.matchedAt,
      cls: 't-match',
      node: h(
        'div',
        { 'data-testid': 'match' },
        h('strong', {}, 'Rule '),
        h('a', { href: `#/rules/${encodeURIComponent(m.ruleId)}` }, m.ruleName),
        ` v${m.ruleVersion} matched `,
        badge(m.decision, 'match-decision'),
        m.skipReason ? h('div', {}, `skipped: ${m.skipReason}`) : null,
        m.target ? h('div', { class: 'muted' }, `target ${m.target}`) : null,
        m.verification ? h('div', { 'data-testid': 'match-verification' }, 'verification ', badge(m.verification, 'verification'), m.verificationDetail ? h('span', { class: 'muted' }, ` ${m.verificationDetail}`) : null) : null,
        text ? h('div', {}, text) : null,
        h('details', {}, h('summary', {}, 'Why it matched'), h('pre', { 'data-testid': 'explanation' }, pretty(m.explanation ?? {}))),
      ),
    });
  }
  for (const r of inc.actionRuns) {
    const waiting = r.status === 'awaiting_approval';
    const approval = r.approval;
    items.push({
      at: r.startedAt ?? r.finishedAt ?? inc.matches.find((m) => m.ruleId === r.ruleId)?.matchedAt,
      cls: `t-action${waiting ? ' t-approval' : ''}`,
      node: h(
        'div',
        { 'data-testid': 'action-run', 'data-id': r.id },
        h('strong', {}, `Action ${r.actionId} (${r.type}) `),
        badge(r.status, 'action-status'),
        r.verification ? h('span', {}, ' ', badge(r.verification, 'action-verification')) : null,
        r.attempts > 1 ? h('span', { class: 'muted' }, ` ${r.attempts} attempts`) : null,
        r.reason ? h('div', { 'data-testid': 'action-reason' }, `why: ${r.reason}`) : null,
        r.target ? h('div', { class: 'muted' }, `target ${r.target}`) : null,
        r.exitCode !== null ? h('div', {}, `exit code ${r.exitCode}`) : null,
        r.error ? h('div', { class: 'error' }, r.error) : null,
        r.outputExcerpt ? h('pre', { 'data-testid': 'action-output' }, r.outputExcerpt) : null,
        h(
          'div',
          { class: 'row' },
          externalLink(r.link, 'Result link', 'action-link'),
          externalLink(inc.temporalUrl, 'Run in Temporal', 'action-temporal-link'),
          approval && !waiting
            ? h('span', { class: 'muted' }, `${approval.decision ?? ''} by ${approval.actor ?? '?'}${approval.at ? ` at ${when(approval.at)}` : ''}`)
            : null,
        ),
        waiting ? approvalButtons(ctx, inc, r) : null,
      ),
    });
  }
  return items.sort((a, b) => new Date(a.at ?? 0).getTime() - new Date(b.at ?? 0).getTime());
}

/** "Older … not shown" when the API left some of the incident's history out (it sends the newest 500 of each list). */
function omittedNote(inc: IncidentDetail): Child {
  const o = inc.omitted;
  if (!o) return null;
  const parts = ([['events', o.events], ['rule matches', o.matches], ['action runs', o.actionRuns]] as const).filter(([, n]) => n > 0).map(([what, n]) => `${n} ${what}`);
  return parts.length ? h('p', { class: 'muted', 'data-testid': 'timeline-omitted' }, `Older history not shown: ${parts.join(', ')} (the timeline holds the newest 500 of each).`) : null;
}

/** What the confirmation names: the action, its rule and the incident. */
function approvalQuestion(decision: 'approve' | 'reject', inc: IncidentDetail, run: ActionRun): string {
  const rule = inc.matches.find((m) => m.ruleId === run.ruleId)?.ruleName ?? run.ruleId;
  const incident = inc.number === null || inc.number === undefined ? inc.id : `#${inc.number}`;
  const target = run.target ? ` on ${run.target}` : '';
  return `${decision === 'approve' ? 'Approve' : 'Reject'} action ${run.actionId} (${run.type})${target} of rule ${rule} on incident ${incident}?`;
}

function approvalButtons(ctx: ViewContext, inc: IncidentDetail, run: ActionRun): HTMLElement {
  const box = h('div', { class: 'row', 'data-testid': 'approval' }, h('strong', {}, 'Waiting for approval'));
  const setDisabled = (disabled: boolean) => box.querySelectorAll('button').forEach((b) => (b.disabled = disabled));
  const decide = async (decision: 'approve' | 'reject', opener: Element) => {
    // One click only asks (confirm.ts: a stolen double click must not decide).
    const confirmed = await confirmAction({
      question: approvalQuestion(decision, inc, run),
      detail: decision === 'approve' ? 'The action runs now.' : 'The action does not run.',
      confirmLabel: decision === 'approve' ? 'Approve' : 'Reject',
      confirmClass: decision,
      opener,
      signal: ctx.signal,
    });
    if (!confirmed) return;
    setDisabled(true);
    try {
      await ctx.api.send('POST', `/api/incidents/${encodeURIComponent(inc.id)}/approvals/${encodeURIComponent(run.id)}`, { decision });
    } catch (err) {
      ctx.flash((err as Error).message, true);
      setDisabled(false);
      return;
    }
    ctx.flash(decision === 'approve' ? 'Approved: the action runs now.' : 'Rejected: the action is skipped.');
    box.append(h('span', { 'data-testid': 'approval-sent' }, decision === 'approve' ? 'approved' : 'rejected'));
  };
  append(box, [
    h('button', { type: 'button', class: 'approve', 'data-testid': 'approve', onclick: (e) => void decide('approve', e.currentTarget as Element) }, 'Approve'),
    h('button', { type: 'button', class: 'reject', 'data-testid': 'reject', onclick: (e) => void decide('reject', e.currentTarget as Element) }, 'Reject'),
  ]);
  return box;
}

async function incidentView(ctx: ViewContext): Promise<void> {
  const id = ctx.params.id!;
  let inc: IncidentDetail;
  try {
    inc = await ctx.api.get<IncidentDetail>(`/api/incidents/${encodeURIComponent(id)}`, { signal: ctx.signal });
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) throw err;
    ctx.show(h('p', { class: 'error' }, `Incident ${id} is not known (yet: its workflow records it within seconds).`));
    return;
  }
  const env = inc.environment;
  const waiting = inc.actionRuns.filter((r) => r.status === 'awaiting_approval').length;
  const detail = (label: string, value: string) => [h('dt', {}, label), h('dd', {}, value)];
  ctx.show(
    h('div', { class: 'row' }, h('a', { href: '#/incidents' }, '← Incidents')),
    h('h2', { 'data-testid': 'incident-title' }, `#${inc.number ?? ''} ${inc.title ?? inc.id}`),
    h(
      'div',
      { class: 'row' },
      badge(inc.status, 'incident-status'),
      inc.status === 'unknown'
        ? h('span', { class: 'muted', 'data-testid': 'incident-status-unknown' }, 'no event heard of it told its status (a note on an incident resolved before, or long ago?)')
        : null,
      inc.urgency ? badge(inc.urgency) : null,
      // Who fixed it (auto-remediated, assisted, human), with why; "so far" while the incident is open.
      inc.label ? h('span', { title: inc.label.reason, 'data-testid': 'incident-label' }, badge(inc.label.label), inc.label.final ? '' : ' so far') : null,
      h('span', {}, `service ${inc.service.name ?? inc.service.id ?? '?'}`),
      externalLink(inc.htmlUrl, 'Open in PagerDuty', 'pd-link'),
      externalLink(inc.temporalUrl, 'Open in Temporal', 'temporal-link'),
      waiting ? h('strong', { 'data-testid': 'waiting-count' }, `${waiting} action(s) waiting for approval`) : null,
    ),
    h(
      'div',
      { class: 'grid' },
      h(
        'div',
        { class: 'card' },
        h('h3', {}, 'Environment'),
        Object.keys(env).length
          ? h(
              'dl',
              { class: 'kv', 'data-testid': 'environment' },
              Object.entries(env).map(([k, v]) => detail(k, typeof v === 'object' ? JSON.stringify(v) : String(v))),
            )
          : h('p', { class: 'muted' }, 'Nothing extracted.'),
      ),
      h(
        'div',
        { class: 'card' },
        h('h3', {}, 'Details'),
        h(
          'dl',
          { class: 'kv' },
          detail('Id', inc.id),
          detail('Created', when(inc.createdAt)),
          detail('Last event', when(inc.lastEventAt)),
          detail('Resolved', when(inc.resolvedAt)),
          detail('Workflow', inc.workflowId),
        ),
        inc.description ? h('p', {}, inc.description) : null,
      ),
    ),
    h('h3', {}, 'Timeline'),
    omittedNote(inc),
    h(
      'ol',
      { class: 'timeline', 'data-testid': 'timeline' },
      timelineItems(ctx, inc).map((it) => h('li', { class: it.cls }, h('span', { class: 'when' }, when(it.at)), it.node)),
    ),
  );
  // Keep the page live while work is pending. The refresh renders with the context `after` gives it, whose
  // reads are marked as the page's own: a tab left open here does not keep the session from its idle timeout.
  const pending = inc.status !== 'resolved' || inc.actionRuns.some((r) => !r.finishedAt);
  if (pending) ctx.after(REFRESH_MS, (refresh) => incidentView(refresh));
}

export const incidentRoutes: Route[] = [
  { path: 'incidents', nav: 'Incidents', view: incidentsView },
  { path: 'incidents/:id', view: incidentView },
];
