import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Worker } from '@temporalio/worker';
import { buildAgentWorker } from '../../src/agent.js';
import type { ExtractorsConfig } from '../../src/domain/extract.js';
import { agentTaskQueue, jobScheduleId } from '../../src/temporal/names.js';
import { startSlackPeer, type SlackPeer } from './http-peer.js';
import { startPagerDutyPeer, type PagerDutyPeer } from './pagerduty-peer.js';
import { newIncidentId, sampleFor } from './samples.js';
import { eventually, startStack, type Stack } from './stack.js';

/** Host and environment from an incident title `[host] environment: …`, as the end-to-end remediation tests write them. */
export const HOST_ENVIRONMENT_TITLE: ExtractorsConfig = {
  extractors: [{ type: 'regex', source: 'title', pattern: '^\\[(?<host>[a-z0-9-]+)\\] (?<environment>[a-z0-9-]+):' }],
};

/**
 * A Doctor agent's host for end-to-end tests: its scripts directory, a directory its scripts leave files in
 * (what the host saw, for the test to assert), and, once a stack runs, the real agent worker serving one
 * environment on that environment's queue.
 */
export interface AgentHost {
  scriptsDir: string;
  markerDir: string;
  /** Write an executable `#!/bin/sh` script into the scripts directory. */
  script(name: string, body: string): Promise<void>;
  /** Run the agent for `environment` on the stack's Temporal and register the environment with its queue. */
  serve(stack: Stack, environment: string): Promise<void>;
  /** Stop the agent (before the stack stops) and remove both directories. */
  close(): Promise<void>;
}

/** Register `environment` with the agent queue its name gives (whether or not an agent serves it). */
export async function registerEnvironment(stack: Stack, environment: string): Promise<void> {
  await stack.db.db.insertInto('environments').values({ name: environment, labels: '{}', agent_task_queue: agentTaskQueue(environment), maintenance_windows: '[]', ssh: null }).execute();
}

export async function makeAgentHost(prefix: string): Promise<AgentHost> {
  const scriptsDir = await mkdtemp(path.join(os.tmpdir(), `selfheal-${prefix}-scripts-`));
  const markerDir = await mkdtemp(path.join(os.tmpdir(), `selfheal-${prefix}-markers-`));
  // The agent refuses a scripts directory that others may write to.
  await chmod(scriptsDir, 0o755);
  let agent: Worker | undefined;
  let running: Promise<void> | undefined;
  return {
    scriptsDir,
    markerDir,
    async script(name, body) {
      await writeFile(path.join(scriptsDir, name), `#!/bin/sh\n${body}\n`);
      await chmod(path.join(scriptsDir, name), 0o755);
    },
    async serve(stack, environment) {
      agent = await buildAgentWorker({ config: stack.config, connection: stack.temporal.nativeConnection, environment, scriptsDir });
      running = agent.run();
      await registerEnvironment(stack, environment);
    },
    async close() {
      agent?.shutdown();
      await running?.catch(() => undefined);
      await Promise.all([scriptsDir, markerDir].map((d) => rm(d, { recursive: true, force: true })));
    },
  };
}

export interface StackWithDoctorOptions {
  /** Names the agent host's temporary directories. */
  prefix: string;
  /** The environment the agent serves: the incidents' titles are `[host] environment: service down`. */
  environment: string;
  /** The agent's scripts by name (bodies of `#!/bin/sh` scripts), given the directory they may leave files in. */
  scripts(markerDir: string): Record<string, string>;
  /** The environment variable the rules' `webhookUrlRef: env:…` name for the Slack peer's webhook. */
  slackSecret: string;
  /** With a token, a PagerDuty peer that the stack's PagerDuty API calls reach; without, the stack has no PagerDuty API. */
  pagerDutyToken?: string;
  /** More of the stack's environment (guards, say); loopback egress for the peers is always allowed. */
  env?: Record<string, string>;
}

/**
 * A suite's stack remediating one environment's hosts, as the end-to-end remediation tests drive it: the
 * Doctor agent's host (makeAgentHost, its scripts written first), a Slack peer whose webhook the rules name
 * through `slackSecret`, with `pagerDutyToken` a PagerDuty peer, and the stack reading hosts and the
 * environment from incident titles. Started in the suite's `before` and stopped in its `after` (the agent
 * before the stack, the peers after it); read the fields inside the tests. The functions beside them
 * deliver incidents and follow their action runs and approvals.
 */
export function stackWithDoctor(opts: StackWithDoctorOptions) {
  const peers = {} as { stack: Stack; pd: PagerDutyPeer; slack: SlackPeer; doctor: AgentHost };
  before(async function () {
    if (opts.pagerDutyToken) peers.pd = await startPagerDutyPeer({ token: opts.pagerDutyToken });
    peers.slack = await startSlackPeer();
    peers.doctor = await makeAgentHost(opts.prefix);
    for (const [name, body] of Object.entries(opts.scripts(peers.doctor.markerDir))) await peers.doctor.script(name, body);
    process.env[opts.slackSecret] = peers.slack.webhookUrl;
    const pagerDuty: Record<string, string> = opts.pagerDutyToken ? { PAGERDUTY_API_URL: peers.pd.url, PAGERDUTY_API_TOKEN: opts.pagerDutyToken, PAGERDUTY_FROM_EMAIL: 'selfheal@example.com' } : {};
    peers.stack = await startStack({ env: { ACTION_EGRESS_ALLOW: '127.0.0.1/32', ...pagerDuty, ...opts.env }, extractors: HOST_ENVIRONMENT_TITLE });
    await peers.doctor.serve(peers.stack, opts.environment);
  });
  after(async function () {
    await peers.doctor?.close();
    await peers.stack?.stop();
    await Promise.all([peers.pd?.close(), peers.slack?.close()]);
    delete process.env[opts.slackSecret];
  });

  const title = (host: string) => `[${host}] ${opts.environment}: service down`;
  const service = (svc: string) => ({ id: svc, type: 'service_reference', summary: 's' });
  /**
   * An incident of `svc` on `host` (a new id unless `id` names one) triggered through the webhook, now unless
   * `occurredAt` says when; with a PagerDuty peer, the peer knows the incident first (the rules' PagerDuty
   * actions find it there), unless `atPeer` is false.
   */
  async function trigger(svc: string, host: string, o: { id?: string; occurredAt?: string; atPeer?: boolean } = {}): Promise<string> {
    const id = o.id ?? newIncidentId();
    if (o.atPeer ?? Boolean(opts.pagerDutyToken)) peers.pd.seedIncident(id, { serviceId: svc, title: title(host) });
    const res = await peers.stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { occurredAt: o.occurredAt ?? new Date().toISOString(), data: { title: title(host), service: service(svc) } }));
    assert.equal(res.status, 202);
    return id;
  }
  const runsOf = (id: string) => peers.stack.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).orderBy('action_index').execute();
  const waiting = (id: string) => eventually(async () => (await runsOf(id)).find((r) => r.status === 'awaiting_approval'), 30_000, `an action of ${id} awaiting approval`);
  /** Approve or reject through the API, as an admin would: it must be accepted. */
  const decide = async (id: string, actionRunId: string, decision: 'approve' | 'reject') => {
    const res = await peers.stack.api(`/api/incidents/${id}/approvals/${encodeURIComponent(actionRunId)}`, { method: 'POST', body: JSON.stringify({ decision }) });
    assert.equal(res.status, 202, await res.text());
  };
  /** The incident's `n` action runs, once all of them finished. */
  const ended = (id: string, n: number) =>
    eventually(async () => {
      const r = await runsOf(id);
      return r.length === n && r.every((x) => x.finished_at) ? r : undefined;
    }, 60_000, `${n} finished action runs of ${id}`);
  /** The requests that told the PagerDuty peer the incident resolved. */
  const resolvesAtPeer = (id: string) =>
    peers.pd.requests.filter((r) => r.method === 'PUT' && r.path === `/incidents/${id}` && (r.body as { incident?: { status?: string } } | undefined)?.incident?.status === 'resolved');
  return Object.assign(peers, { title, service, trigger, runsOf, waiting, decide, ended, resolvesAtPeer });
}

export interface StackWithJobAgentOptions {
  /** Names the agent host's temporary directories. */
  prefix: string;
  /** The one environment the jobs target, registered through the API and served by the real Doctor agent. */
  environment: string;
  /** The agent's scripts by name (bodies of `#!/bin/sh` scripts), given the directory they may leave files in. */
  scripts(markerDir: string): Record<string, string>;
  /** More of the stack's environment; the API's rate limit is always raised out of the tests' way. */
  env?: Record<string, string>;
}

/**
 * A suite's stack running jobs on one environment through the real Doctor agent, as the end-to-end job tests
 * drive it: the agent's host (makeAgentHost, its scripts written first, each of them appending what it was
 * told to a file of the marker directory), the environment registered through the API as an operator would,
 * and the agent serving it. Started in the suite's `before` and stopped in its `after`: the schedules of the
 * jobs made with `createJob` deleted first, then the agent (a worker that failed fails the hook), the stack,
 * and the host's directories. Read the fields inside the tests.
 */
export function stackWithJobAgent(opts: StackWithJobAgentOptions) {
  const peers = {} as { stack: Stack; doctor: AgentHost };
  const jobIds: string[] = [];
  let agent: { worker: Worker; running: Promise<void> } | undefined;
  before(async function () {
    peers.stack = await startStack({ env: { SELFHEAL_RATE_LIMIT_BURST: '100000', ...opts.env } });
    peers.doctor = await makeAgentHost(opts.prefix);
    for (const [name, body] of Object.entries(opts.scripts(peers.doctor.markerDir))) await peers.doctor.script(name, body);
    const res = await peers.stack.api('/api/environments', { method: 'POST', body: JSON.stringify({ name: opts.environment }) });
    assert.equal(res.status, 201, await res.text());
    const worker = await buildAgentWorker({ config: peers.stack.config, connection: peers.stack.temporal.nativeConnection, environment: opts.environment, scriptsDir: peers.doctor.scriptsDir });
    agent = { worker, running: worker.run() };
  });
  after(async function () {
    for (const id of jobIds) await peers.stack?.temporal.client.schedule.getHandle(jobScheduleId(id)).delete().catch(() => undefined);
    agent?.worker.shutdown();
    await agent?.running;
    await peers.stack?.stop();
    await peers.doctor?.close();
  });

  /** A job created through the API (it must be accepted), its schedule deleted with the suite; its id. */
  const createJob = async (definition: Record<string, unknown>): Promise<string> => {
    const res = await peers.stack.api('/api/jobs', { method: 'POST', body: JSON.stringify(definition) });
    assert.equal(res.status, 201, await res.clone().text());
    const { id } = (await res.json()) as { id: string };
    jobIds.push(id);
    return id;
  };
  /** The path of a file in the marker directory, the environment's own unless `name` says which. */
  const markFile = (name = opts.environment) => path.join(peers.doctor.markerDir, name);
  /** The lines the scripts appended to that file, none while it does not exist. */
  const marks = async (name?: string): Promise<string[]> =>
    (await readFile(markFile(name), 'utf8').catch(() => ''))
      .split('\n')
      .filter((l) => l !== '');
  /** The job_runs row whose `column` is `value`, once it is no longer `running`. */
  const runEnded = (column: 'id' | 'job_id', value: string, timeoutMs: number, what: string) =>
    eventually(
      async () => {
        const r = await peers.stack.db.db.selectFrom('job_runs').selectAll().where(column, '=', value).executeTakeFirst();
        return r && r.status !== 'running' ? r : undefined;
      },
      timeoutMs,
      what,
    );
  return Object.assign(peers, { createJob, markFile, marks, runEnded });
}

/**
 * A suite's stack with two Doctor agent hosts, `ours` (the rule's team's, the default team) and `theirs`
 * (another team's, that takes an environment's name over), each with a `fix.sh` that leaves a file per host
 * it ran for, as the tests of a rule's agent script waiting for its agent drive it. Environments are
 * registered through the API and their agents started by the tests (agentOn, or run for an agent worker
 * of their own), each stopped with the suite if not before. Started in the suite's `before` and stopped in
 * its `after`; read the fields inside the tests.
 */
export function stackWithTwoTeamAgents(prefix: string) {
  const peers = {} as { stack: Stack; ours: AgentHost; theirs: AgentHost };
  const agents: { worker: Worker; running: Promise<void> }[] = [];
  before(async function () {
    peers.ours = await makeAgentHost(`${prefix}-ours`);
    peers.theirs = await makeAgentHost(`${prefix}-theirs`);
    for (const host of [peers.ours, peers.theirs]) await host.script('fix.sh', `touch "${host.markerDir}/fixed-$1"`);
    peers.stack = await startStack({ env: { SELFHEAL_RATE_LIMIT_BURST: '100000' }, extractors: HOST_ENVIRONMENT_TITLE });
  });
  after(async function () {
    for (const a of agents) a.worker.shutdown();
    await Promise.all(agents.map((a) => a.running.catch(() => undefined)));
    await peers.stack?.stop();
    await peers.ours?.close();
    await peers.theirs?.close();
  });

  /** Run an agent worker until the suite ends, or until the returned stop. */
  const run = (worker: Worker) => {
    const agent = { worker, running: worker.run() };
    agents.push(agent);
    return async () => {
      agents.splice(agents.indexOf(agent), 1);
      worker.shutdown();
      await agent.running;
    };
  };
  /** The real Doctor agent for `environment`, running `host`'s scripts. */
  const agentOn = async (environment: string, host: AgentHost) =>
    run(await buildAgentWorker({ config: peers.stack.config, connection: peers.stack.temporal.nativeConnection, environment, scriptsDir: host.scriptsDir }));
  const register = async (name: string, team?: string) => {
    const res = await peers.stack.api('/api/environments', { method: 'POST', body: JSON.stringify({ name, ...(team ? { team } : {}) }) });
    assert.equal(res.status, 201, await res.text());
  };
  /** The environment deleted through the API, and its name registered again by a new team `team`. */
  const handOver = async (environment: string, team: string) => {
    assert.equal((await peers.stack.api(`/api/environments/${environment}`, { method: 'DELETE' })).status, 204);
    const res = await peers.stack.api('/api/teams', { method: 'POST', body: JSON.stringify({ name: team }) });
    assert.equal(res.status, 201, await res.clone().text());
    await register(environment, team);
  };
  const trigger = async (svc: string, host: string, environment: string): Promise<string> => {
    const id = newIncidentId();
    const res = await peers.stack.deliver(
      sampleFor('v3-incident.triggered-01.json', id, { occurredAt: new Date().toISOString(), data: { title: `[${host}] ${environment}: down`, service: { id: svc, type: 'service_reference', summary: 's' } } }),
    );
    assert.equal(res.status, 202);
    return id;
  };
  /** The incident's action `fix`. */
  const actionRun = (incidentId: string) =>
    peers.stack.db.db.selectFrom('action_runs').select(['status', 'error', 'workflow_id']).where('incident_id', '=', incidentId).where('action_id', '=', 'fix').executeTakeFirst();
  const finished = (incidentId: string) =>
    eventually(
      async () => {
        const r = await actionRun(incidentId);
        return r && r.status !== 'running' ? r : undefined;
      },
      60_000,
      `the fix of ${incidentId} to finish`,
    );
  return Object.assign(peers, { run, agentOn, register, handOver, trigger, actionRun, finished });
}
