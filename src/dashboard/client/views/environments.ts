// Environments: each one's Doctor agent online or offline (from Temporal's pollers of its task queue),
// the last poll, the task queue in Temporal, the management VM and the labels.
import { badge, externalLink, h } from '../dom.js';
import { when } from '../format.js';
import type { Route, ViewContext } from '../router.js';
import { pagedList } from '../paged.js';
import type { EnvironmentDetail, EnvironmentView } from '../types.js';
import { temporalLink } from './temporal.js';

/** Environments a page of the list holds; the agent state of each (one Temporal call) is fetched as its page is shown. */
const DETAILED_ENVIRONMENTS = 100;

async function environmentsView(ctx: ViewContext): Promise<void> {
  const detailed = (items: EnvironmentView[]) =>
    Promise.all(
      items.map((e) =>
        ctx.api.get<EnvironmentDetail>(`/api/environments/${encodeURIComponent(e.name)}`, { signal: ctx.signal }).then(
          (d): EnvironmentView & Partial<EnvironmentDetail> => d,
          (): EnvironmentView & Partial<EnvironmentDetail> => e,
        ),
      ),
    );
  const environmentRow = (e: EnvironmentView & Partial<EnvironmentDetail>) => {
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
  };
  const list = await pagedList<EnvironmentView>(ctx, {
    path: '/api/environments',
    limit: DETAILED_ENVIRONMENTS,
    testid: 'environments',
    headers: ['Name', 'Team', 'Description', 'Doctor agent', 'Last poll', 'Task queue', 'Management VM', 'Labels'],
    rows: async (items) => (await detailed(items)).map(environmentRow),
    empty: 'No environments yet.',
  });
  ctx.show(h('h2', {}, 'Environments'), ...list);
}

export const environmentRoutes: Route[] = [{ path: 'environments', nav: 'Environments', view: environmentsView }];
