// Environments: each one's Doctor agent online or offline (from Temporal's pollers of its task queue),
// the last poll, the task queue in Temporal, the management VM and the labels.
import { badge, externalLink, h, table } from '../dom.js';
import { when } from '../format.js';
import type { Route, ViewContext } from '../router.js';
import type { EnvironmentDetail, EnvironmentView, ListOf } from '../types.js';
import { temporalLink } from './temporal.js';

/** Agent state (one Temporal call each) is fetched for this many environments of the list. */
const DETAILED_ENVIRONMENTS = 100;

async function environmentsView(ctx: ViewContext): Promise<void> {
  const body = await ctx.api.get<ListOf<EnvironmentView>>('/api/environments', { signal: ctx.signal });
  const envs = await Promise.all(
    body.items.slice(0, DETAILED_ENVIRONMENTS).map((e) =>
      ctx.api.get<EnvironmentDetail>(`/api/environments/${encodeURIComponent(e.name)}`, { signal: ctx.signal }).then(
        (d): EnvironmentView & Partial<EnvironmentDetail> => d,
        (): EnvironmentView & Partial<EnvironmentDetail> => e,
      ),
    ),
  );
  const rows = envs.map((e) => {
    const agent = e.agent;
    const last = (agent?.pollers ?? [])
      .map((p) => p.lastAccessTime ?? '')
      .sort()
      .pop();
    return h(
      'tr',
      { 'data-testid': 'environment-row', 'data-name': e.name },
      h('td', {}, e.name),
      h('td', { 'data-testid': 'environment-team' }, e.team ?? 'default'),
      h('td', {}, e.description ?? ''),
      h('td', {}, badge(agent?.online ? 'online' : 'offline', 'agent-state'), agent?.error ? h('div', { class: 'error' }, agent.error) : null),
      h('td', {}, when(last)),
      h('td', {}, externalLink(temporalLink(ctx.config, `/task-queues/${encodeURIComponent(e.agentTaskQueue)}`), e.agentTaskQueue, 'queue-link')),
      h('td', {}, e.ssh ? `${e.ssh.user}@${e.ssh.host}:${e.ssh.port}` : ''),
      h(
        'td',
        {},
        Object.entries(e.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(', '),
      ),
    );
  });
  ctx.show(
    h('h2', {}, 'Environments'),
    rows.length
      ? table('environments', ['Name', 'Team', 'Description', 'Doctor agent', 'Last poll', 'Task queue', 'Management VM', 'Labels'], rows)
      : h('p', { class: 'muted' }, 'No environments yet.'),
  );
}

export const environmentRoutes: Route[] = [{ path: 'environments', nav: 'Environments', view: environmentsView }];
