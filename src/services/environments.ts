// Cloud environments: where rule scripts run. Changing where code runs or with what credentials (SSH
// fields, the agent queue) takes an admin, and so does registering an environment on a queue a Doctor
// agent already polls; each environment has its own agent queue; every change is one transaction with its
// audit entry. Also the agent health check through an environment's queue.
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import type { z } from '../domain/zod.js';
import { AGENT_CHECK_SCRIPT, WORKFLOW_TYPES, type AgentCheckInput, type AgentCheckResult } from '../contracts/index.js';
import type { Database, Environment } from '../db/database.js';
import { writeAudit } from '../db/repositories/audit.js';
import type { Db } from '../db/repositories/db.js';
import { inTransaction } from '../db/repositories/transactions.js';
import { agentQueueUsedBefore, deleteEnvironment, findEnvironment, findQueueOwner, insertEnvironment, listEnvironmentPage, rememberAgentQueue, updateEnvironment, type EnvironmentLock, type EnvironmentRecord } from '../db/repositories/environments.js';
import { liveJobsNaming } from '../db/repositories/jobs.js';
import { nameOwner, SSH_AUTHORITY_FIELDS, teamPrefixesOf, type environmentCreateSchema, type environmentUpdateSchema } from '../domain/environments.js';
import { existingTeams } from '../db/repositories/teams.js';
import { DEFAULT_TEAM } from '../domain/teams.js';
import { secretRefOutsidePolicy, type SecretRefPolicy } from '../domain/secret-refs.js';
import type { Logger } from '../logger.js';
import { agentTaskQueue } from '../temporal/names.js';
import { agentStatus, ONLINE_WITHIN_MS, type AgentStatus } from '../temporal/pollers.js';
import { agentsServe, identityForReader } from '../domain/agent-identity.js';
import { withTimeout } from '../timeout.js';
import { hasScope, type Actor } from './actor.js';
import { ConflictError, errorForLog, ForbiddenError, NotFoundError, UnavailableError, ValidationError, type FieldError } from './errors.js';
import { decodeCursor, encodeCursor, LIST_PAGE_BYTES } from './list-pages.js';
import { canRead, requireStillInTeam, requireTeam, teamForChange, teamForCreate, visibleTeams } from './team-access.js';

export type EnvironmentBody = z.output<typeof environmentCreateSchema> | z.output<typeof environmentUpdateSchema>;

export interface EnvironmentServiceDeps {
  db: Kysely<Database>;
  temporal: Client;
  namespace: string;
  /** The main worker's task queue: no environment may use it. */
  taskQueue: string;
  secrets: SecretRefPolicy;
  logger: Logger;
}

/** What an environment's `agent.error` says when Temporal cannot be asked; why is in the log. */
export const AGENT_STATUS_UNAVAILABLE = 'agent status unavailable: Temporal did not answer';

/** Same window as GET /api/environments/{name}: long polls last up to a minute. */
const SCHEDULE_TO_START_SECONDS = 10;
const SCRIPT_TIMEOUT_SECONDS = 60;

export interface AgentCheckOutcome {
  environment: string;
  taskQueue: string;
  healthy: boolean;
  agent: AgentStatus;
  /** The health-check run; null when no agent was polling (nothing was sent). */
  check: AgentCheckResult | null;
}

/**
 * Fields whose change moves where code runs or with what credentials: the SSH host, port, user, key
 * reference and pinned fingerprint, and the agent task queue. `before` is the stored row (undefined on
 * create, where setting any of them counts as a change). Paths as in the request body.
 */
export function authorityChanges(name: string, body: EnvironmentBody, before: Environment | undefined): string[] {
  const changed: string[] = [];
  const queueBefore = before?.agent_task_queue ?? agentTaskQueue(name);
  if ((body.agentTaskQueue ?? agentTaskQueue(name)) !== queueBefore) changed.push('agentTaskQueue');
  const sshBefore = (before?.ssh ?? null) as Record<string, unknown> | null;
  const sshAfter = (body.ssh ?? null) as Record<string, unknown> | null;
  if ((sshBefore === null) !== (sshAfter === null)) changed.push('ssh');
  else if (sshBefore && sshAfter) for (const f of SSH_AUTHORITY_FIELDS) if (sshBefore[f] !== sshAfter[f]) changed.push(`ssh.${f}`);
  return changed;
}

/**
 * One agent queue per environment. A queue is another environment's when that one stores it, or when it
 * is that one's default name (`selfheal-agent-<name>`: the queue its agent polls, src/agent.ts); sharing
 * it would let that environment's agent run this one's scripts. To an admin, and to a caller who may read
 * the environment holding it, 400 naming agentTaskQueue and that environment. To anyone else, the
 * environment may be another team's, which the caller does not read: it is refused with queueNeverUsed's
 * 403, word for word (a queue held now was remembered as used when it was registered), so the answer does
 * not tell whether an environment the caller cannot read holds the queue now or one held it before
 * (b28fadb still answered 400 "belongs to another environment": that a guessed name's queue was taken).
 */
async function queueFree(db: Db, name: string, queue: string, actor: Actor): Promise<void> {
  const prefix = agentTaskQueue('');
  const other = await findQueueOwner(db, name, queue, queue.startsWith(prefix) ? queue.slice(prefix.length) : undefined);
  if (!other) return;
  if (!hasScope(actor.scopes, 'admin') && !canRead(actor, other.team)) throw queueUsedBefore(queue);
  throw new ValidationError(`agent task queue ${queue} belongs to environment "${other.name}"`, [
    { path: 'agentTaskQueue', message: `already the queue of environment "${other.name}": each environment needs its own agent queue` },
  ]);
}

/**
 * A non-admin may not take an agent queue a Doctor agent already polls. The default queue
 * (`selfheal-agent-<name>`) is no authority change on paper, but an agent polling it today runs whatever
 * that environment's scripts become: after team A deletes its environment with the agent still running,
 * team B's editor re-creating the name under B would decide where A's agent runs fix scripts. So whoever
 * lacks `admin` gets 403 naming agentTaskQueue when Temporal lists any poller on the queue (any, not only
 * `online` ones: Temporal keeps an agent listed for a few minutes after its last poll, and an agent between
 * two long polls or briefly disconnected is still that team's agent). Only a create takes a queue without
 * `admin`: an update or delete cannot change it without `admin` (authorityChanges).
 *
 * When Temporal cannot say, the answer is 503, not a pass: failing open would reopen exactly this hole
 * whenever Temporal is slow or unreachable, and 503 (rather than 403) says the truth, that nothing is
 * wrong with the request or the caller's rights and the same create may succeed once Temporal answers.
 * Temporal's own error goes to the log as the cause, never into the answer.
 */
async function queueNotPolled(temporal: Client, namespace: string, queue: string): Promise<void> {
  let agent: AgentStatus;
  try {
    agent = await agentStatus(temporal, namespace, queue);
  } catch (err) {
    throw new UnavailableError(
      `Temporal is unavailable, so whether a Doctor agent already polls agent task queue ${queue} is unknown; nothing was created: retry later, or an admin may register the environment`,
      err,
    );
  }
  if (agent.pollers.length > 0) {
    throw new ForbiddenError(`a Doctor agent already polls agent task queue ${queue}: only an admin may register an environment on it; nothing was created`, {
      errors: [{ path: 'agentTaskQueue', message: `an agent already polls ${queue}; an admin must register this environment (or stop that agent first)` }],
    });
  }
}

/**
 * A non-admin may not take an agent queue that was ever some environment's, deleted since or not: its
 * Doctor agent may only be stopped (maintenance) longer than Temporal lists a poller (minutes), and when it
 * comes back it serves whoever registered the queue in between (queueNotPolled cannot see it). 403 naming
 * agentTaskQueue; an admin may register it.
 */
async function queueNeverUsed(db: Db, queue: string): Promise<void> {
  if (await agentQueueUsedBefore(db, queue)) throw queueUsedBefore(queue);
}

/** The 403 of a queue that was an environment's (queueNeverUsed), also a non-admin's answer for one held now by an environment it cannot read (queueFree). */
function queueUsedBefore(queue: string): ForbiddenError {
  return new ForbiddenError(`agent task queue ${queue} was an environment's before, and its Doctor agent may come back: only an admin may register an environment on it; nothing was created`, {
    errors: [{ path: 'agentTaskQueue', message: `${queue} was an environment's agent queue before; an admin must register this environment` }],
  });
}

/**
 * A non-admin registers a new name only among its team's own: names beginning with the team's name and
 * `-`, `.` or `_` (`payments-prod-eu` for team payments; the longest team prefix decides, so `pay-eu-x` is
 * pay-eu's, not pay's), the default team the names no team's prefix claims. Else a team's editor could take first the
 * name of a host another team's agent is about to be installed under (no agent polls it yet, the queue was
 * never used), and that team would get 409 for its own host. Only names under a team's prefix are so kept:
 * a default-team writer may still take first a name under none. 403 naming `name`; an admin registers any name
 * in any team. Its own names are still subject to queueNotPolled and queueNeverUsed.
 */
async function nameOfTeam(db: Db, name: string, team: string): Promise<void> {
  const owner = nameOwner(name, await existingTeams(db, teamPrefixesOf(name)));
  if (owner === team) return;
  // Which team's it is, if another's, is not said: the caller need not be able to read that team.
  const own = team === DEFAULT_TEAM ? `names that begin with no other team's name and -, . or _` : `"${team}" itself, or names beginning with "${team}-", "${team}." or "${team}_"`;
  throw new ForbiddenError(`environment ${name} is not one of team "${team}"'s names (${own}): only an admin may register it; nothing was created`, {
    team,
    requiredRole: 'admin',
    errors: [{ path: 'name', message: `not one of team "${team}"'s names (${own}); an admin must register it` }],
  });
}

/** How many jobs a refusal names (a team may hold many jobs naming one environment): the rest are counted. */
const JOBS_NAMED = 10;

/**
 * 409 when live jobs of `team` name the environment among their targets: `jobs` lists the first ten ids,
 * `jobsTotal` counts them all. Call it holding the environment's row FOR UPDATE (job saves hold it FOR KEY
 * SHARE while they check their targets).
 */
async function refuseWhileJobsName(db: Db, name: string, team: string, wording: { of: string; then: string; outcome: string }): Promise<void> {
  const naming = await liveJobsNaming(db, name, team);
  if (naming.length === 0) return;
  const shown = naming.slice(0, JOBS_NAMED);
  const rest = naming.length - shown.length;
  const them = naming.length > 1 ? 'them' : 'it';
  throw new ConflictError(
    `environment ${name} is a target of job${naming.length > 1 ? 's' : ''} ${shown.join(', ')}${rest > 0 ? ` and ${rest} more` : ''}${wording.of}: change or delete ${them} first${wording.then}; ${wording.outcome}`,
    { jobs: shown, jobsTotal: naming.length },
  );
}

/**
 * The agent status as the environment's team sees it: `servesTeam` says whether the agents polling now
 * (within ONLINE_WITHIN_MS) serve `team` by their identity (SELFHEAL_AGENT_TEAMS): false when every one
 * names only other teams (each would refuse the team's scripts, checks and job targets), null when none
 * polls or one does not say. `online` still says whether anything polls.
 */
export function agentForTeam<T extends AgentStatus>(agent: T, team: string, now = Date.now()): T & { servesTeam: boolean | null } {
  const recent = agent.pollers.filter((p) => p.lastAccessTime !== null && now - Date.parse(p.lastAccessTime) < ONLINE_WITHIN_MS).map((p) => p.identity);
  return { ...agent, servesTeam: agentsServe(recent, team) };
}

/**
 * The agent status as `actor` may see it: the teams an agent's identity names (SELFHEAL_AGENT_TEAMS) that
 * `actor` may not read are left out, counted (identityForReader); an admin sees them all. `servesTeam` is
 * worked out before, from the whole identities.
 */
export function agentForReader<T extends AgentStatus>(agent: T, actor: Actor): T {
  if (hasScope(actor.scopes, 'admin')) return agent;
  return { ...agent, pollers: agent.pollers.map((p) => ({ ...p, identity: identityForReader(p.identity, (team) => canRead(actor, team)) })) };
}

export function environmentView(e: Environment) {
  return {
    name: e.name,
    team: e.team,
    description: e.description,
    labels: e.labels,
    agentTaskQueue: e.agent_task_queue ?? agentTaskQueue(e.name),
    ssh: e.ssh,
    maintenanceWindows: e.maintenance_windows,
    createdAt: e.created_at,
    updatedAt: e.updated_at,
  };
}

const recordOf = (name: string, body: EnvironmentBody, team: string): EnvironmentRecord => ({
  name,
  team,
  description: body.description ?? null,
  labels: body.labels,
  agentTaskQueue: body.agentTaskQueue ?? agentTaskQueue(name),
  ssh: body.ssh ?? null,
  maintenanceWindows: body.maintenanceWindows,
});

export function environmentService(deps: EnvironmentServiceDeps) {
  const { db } = deps;

  /** 400 for a key reference outside the secret policy or the main worker's queue; 403 when a non-admin moves authority. */
  function checkAuthority(actor: Actor, name: string, body: EnvironmentBody, before: Environment | undefined): void {
    const errors: FieldError[] = [];
    const keyProblem = body.ssh ? secretRefOutsidePolicy(body.ssh.keyRef, deps.secrets) : undefined;
    if (keyProblem) errors.push({ path: 'ssh.keyRef', message: keyProblem });
    if (body.agentTaskQueue !== undefined && body.agentTaskQueue === deps.taskQueue) errors.push({ path: 'agentTaskQueue', message: "must not be the main worker's task queue" });
    if (errors.length > 0) throw new ValidationError(`invalid request body: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, errors);
    const changed = authorityChanges(name, body, before);
    if (changed.length > 0 && !hasScope(actor.scopes, 'admin')) {
      throw new ForbiddenError(`changing where code runs or with what credentials needs the "admin" scope: ${changed.join(', ')}`, {
        errors: changed.map((path) => ({
          path,
          message: 'only an admin token may set or change this; a write token may change description, labels and maintenanceWindows (send the other fields back as GET returns them)',
        })),
      });
    }
  }

  async function mustFind(d: Db, name: string, lock?: EnvironmentLock): Promise<Environment> {
    const e = await findEnvironment(d, name, lock ? { lock } : {});
    if (!e) throw new NotFoundError(`environment ${name} is not known`);
    return e;
  }

  /**
   * Who polls a queue; Temporal being unreachable is reported in fixed words, not thrown, and its own error
   * (which names hosts, addresses, namespaces) is logged on `log` (the request's logger), never answered.
   */
  async function agentOf(queue: string, log: Logger) {
    try {
      return await agentStatus(deps.temporal, deps.namespace, queue);
    } catch (err) {
      log.warn({ taskQueue: queue, err: errorForLog(err) }, 'agent status unavailable');
      return { online: false, pollers: [], error: AGENT_STATUS_UNAVAILABLE };
    }
  }

  return {
    /**
     * A page of the environments of the teams `actor` may read, by name, after the cursor (the nextCursor of
     * the previous page): `limit` at most, and no more than LIST_PAGE_BYTES (one at least).
     */
    async list(actor: Actor, page: { limit: number; cursor?: string | undefined }) {
      const after = page.cursor === undefined ? undefined : decodeCursor(page.cursor, 1)[0];
      const { rows, last } = await listEnvironmentPage(db, visibleTeams(actor), { after, limit: page.limit, maxBytes: LIST_PAGE_BYTES });
      return { rows, nextCursor: last && encodeCursor([last]) };
    },

    async get(actor: Actor, name: string, log: Logger = deps.logger) {
      const environment = await mustFind(db, name);
      requireTeam(actor, 'viewer', environment.team, `environment ${name}`);
      return { environment, agent: agentForReader(agentForTeam(await agentOf(environment.agent_task_queue ?? agentTaskQueue(name), log), environment.team), actor) };
    },

    async create(actor: Actor, body: z.output<typeof environmentCreateSchema>): Promise<Environment> {
      const team = await teamForCreate(db, actor, body.team, `environment ${body.name}`);
      // Whose name it is comes first: a name outside the team's own is 403 before any check that could
      // answer about another team's objects (its environment taking the name or the queue: 409, 400).
      if (!hasScope(actor.scopes, 'admin')) await nameOfTeam(db, body.name, team);
      checkAuthority(actor, body.name, body, undefined);
      // Temporal is asked before the transaction, which then holds no connection while it answers (up to
      // 5 s; with the embedded database's one connection, every other query would wait). A taken name is
      // still 409, checked next; the insert keeps it 409 for a create racing this one.
      if (!hasScope(actor.scopes, 'admin')) {
        if (await findEnvironment(db, body.name)) throw new ConflictError(`environment ${body.name} already exists`);
        await queueNotPolled(deps.temporal, deps.namespace, body.agentTaskQueue ?? agentTaskQueue(body.name));
      }
      return inTransaction(db, async (trx) => {
        const queue = body.agentTaskQueue ?? agentTaskQueue(body.name);
        await queueFree(trx, body.name, queue, actor);
        if (!hasScope(actor.scopes, 'admin')) {
          await queueNeverUsed(trx, queue);
        }
        const inserted = await insertEnvironment(trx, recordOf(body.name, body, team));
        if (!inserted) throw new ConflictError(`environment ${body.name} already exists`);
        await rememberAgentQueue(trx, queue, body.name, team);
        await writeAudit(trx, { actor: actor.name, action: 'environment.create', entityType: 'environment', entityId: body.name, after: environmentView(inserted), team });
        return inserted;
      });
    },

    /** `ifTeam`: the team the caller read it in; 409 when it is in another now (requireStillInTeam). */
    async update(actor: Actor, name: string, body: z.output<typeof environmentUpdateSchema>, ifTeam?: string): Promise<Environment> {
      if (body.name !== undefined && body.name !== name) {
        throw new ValidationError('an environment cannot be renamed', [{ path: 'name', message: `must be "${name}" (the name in the path) or left out` }]);
      }
      return inTransaction(db, async (trx) => {
        // FOR NO KEY UPDATE: a change within the team does not wait for job saves holding the row FOR KEY
        // SHARE (one waits up to 10 s on Temporal); a team move takes FOR UPDATE below, which does.
        const held = await mustFind(trx, name, 'noKeyUpdate');
        requireStillInTeam(actor, held.team, ifTeam, `environment ${name}`);
        const team = await teamForChange(trx, actor, held.team, body.team, `environment ${name}`);
        let before = held;
        if (team !== held.team) {
          // A job of the old team naming it would fail that target on every run from now on (a job may
          // target only its own team's environments; its runs skip a moved one): refused as a delete is.
          // FOR UPDATE waits for a job save that checked this environment to commit, and the job it saved
          // is then seen here; a save after this waits for the move and finds it in the other team.
          before = await mustFind(trx, name, 'update');
          await refuseWhileJobsName(trx, name, before.team, { of: ` of team ${before.team}`, then: `, then move it to team ${team}`, outcome: 'nothing was changed' });
        }
        checkAuthority(actor, name, body, before);
        // The queue is checked when it changes (an admin's change only: checkAuthority), and for an admin
        // always. A non-admin's update keeps the queue the environment has: refusing it because another
        // environment holds that queue too (an admin's doing) would take nothing back, and would tell the
        // editor about an environment it may not read.
        const queue = body.agentTaskQueue ?? agentTaskQueue(name);
        if (hasScope(actor.scopes, 'admin') || queue !== (before.agent_task_queue ?? agentTaskQueue(name))) await queueFree(trx, name, queue, actor);
        const updated = await updateEnvironment(trx, recordOf(name, body, team));
        await rememberAgentQueue(trx, updated.agent_task_queue ?? agentTaskQueue(name), name, team);
        await writeAudit(trx, { actor: actor.name, action: 'environment.update', entityType: 'environment', entityId: name, before: environmentView(before), after: environmentView(updated), team });
        return updated;
      });
    },

    /** `ifTeam`: as for update. */
    async remove(actor: Actor, name: string, ifTeam?: string): Promise<void> {
      await inTransaction(db, async (trx) => {
        const current = await mustFind(trx, name, 'update');
        requireStillInTeam(actor, current.team, ifTeam, `environment ${name}`);
        requireTeam(actor, 'editor', current.team, `environment ${name}`);
        // Deleting an environment with a management VM or its own agent queue, then creating it again, would
        // move where its code runs: that takes admin too.
        checkAuthority(actor, name, { labels: {}, maintenanceWindows: [], ssh: null }, current);
        // A job naming it would fail that target on every run from now on ("not registered"): refused,
        // as `selfheal apply --prune` refuses it, whoever asks and whenever the job was changed.
        await refuseWhileJobsName(trx, name, current.team, { of: '', then: '', outcome: 'nothing was deleted' });
        const before = (await deleteEnvironment(trx, name))!;
        await writeAudit(trx, { actor: actor.name, action: 'environment.delete', entityType: 'environment', entityId: name, before: environmentView(before), team: current.team });
      });
    },

    /**
     * Runs the fixed health-check script through the environment's own stored queue; nothing in the
     * request can name another queue or script. Each check is audited before it starts, so an
     * `agent-check-*` run in Temporal without an audit entry was started by someone else.
     */
    async check(actor: Actor, name: string): Promise<AgentCheckOutcome> {
      const env = await mustFind(db, name);
      requireTeam(actor, 'editor', env.team, `environment ${name}`);
      const taskQueue = env.agent_task_queue ?? agentTaskQueue(name);
      let agent: AgentStatus;
      try {
        agent = agentForReader(agentForTeam(await agentStatus(deps.temporal, deps.namespace, taskQueue), env.team), actor);
      } catch (err) {
        throw new UnavailableError('Temporal is unavailable; the check was not run', err);
      }
      if (!agent.online) return { environment: name, taskQueue, healthy: false, agent, check: null };
      const workflowId = `agent-check-${name}-${randomUUID()}`;
      const input: AgentCheckInput = { environment: name, taskQueue, team: env.team, script: AGENT_CHECK_SCRIPT, scheduleToStartSeconds: SCHEDULE_TO_START_SECONDS, timeoutSeconds: SCRIPT_TIMEOUT_SECONDS };
      await writeAudit(db, { actor: actor.name, action: 'environment.check', entityType: 'environment', entityId: name, after: { workflowId, taskQueue, script: AGENT_CHECK_SCRIPT }, team: env.team });
      let check: AgentCheckResult;
      try {
        check = await withTimeout(
          deps.temporal.workflow.execute(WORKFLOW_TYPES.agentCheck, {
            workflowId,
            taskQueue: deps.taskQueue,
            args: [input],
            workflowExecutionTimeout: `${SCHEDULE_TO_START_SECONDS + SCRIPT_TIMEOUT_SECONDS + 60} seconds`,
          }) as Promise<AgentCheckResult>,
          (SCHEDULE_TO_START_SECONDS + SCRIPT_TIMEOUT_SECONDS + 30) * 1000,
        );
      } catch (err) {
        // Its run is audited and visible in Temporal under workflowId; the error's text goes to the log only.
        throw new UnavailableError(`the check did not finish: Temporal is unavailable or the run did not end in time (workflow ${workflowId})`, err);
      }
      return { environment: name, taskQueue, healthy: check.healthy, agent, check };
    },
  };
}
