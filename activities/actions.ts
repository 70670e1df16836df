import { ApplicationFailure } from '@temporalio/common';
import type { Kysely } from 'kysely';
import type { Database, EnvironmentSsh } from '../src/db/database.js';
import { ExecutorError } from '../src/executors/errors.js';
import { resolveSecretRef } from '../src/executors/secrets.js';
import type { Logger } from '../src/logger.js';
import type { PagerDutyClient } from '../src/pagerduty/rest-client.js';
import { PagerDutyApiError } from '../src/pagerduty/rest-client.js';
import { DEFAULT_REMOTE_SCRIPTS_DIR, runOnManagementVm, type ScriptActionResult } from './script-result.js';
import type { RunActionInput } from './types.js';

export interface ActionDeps {
  db: Kysely<Database>;
  logger: Logger;
  pagerduty?: PagerDutyClient | undefined;
  /** Notifications and work items; absent in processes that do not send them. */
  integrations?: Integrations | undefined;
  env?: NodeJS.ProcessEnv;
}

/** The SaaS side effects, behind one seam so the worker wires real clients and tests wire local peers. */
export interface Integrations {
  slack(input: { webhookUrl: string; text: string }): Promise<void>;
  email(input: { to: string[]; subject: string; text: string }): Promise<{ messageId?: string }>;
  webhook(input: { url: string; body: string; secret?: string | undefined; idempotencyKey: string }): Promise<void>;
  workItem(input: {
    provider: 'ewm' | 'jira' | 'github';
    idempotencyKey: string;
    project?: string | undefined;
    repo?: string | undefined;
    title: string;
    description: string;
    type?: string | undefined;
    filedAgainst?: string | undefined;
  }): Promise<{ id: string; url: string }>;
}

/** Run one rule action that is not an agent script. Results are recorded by the workflow. */
export function createActionActivities(deps: ActionDeps) {
  const env = deps.env ?? process.env;

  async function executeAction(input: RunActionInput): Promise<ScriptActionResult> {
    const { action } = input;
    const p = action.params;
    try {
      switch (action.type) {
        case 'script.ssh':
          return await sshScript(input);
        case 'pagerduty.note':
          await pd().addNote(input.incidentId, String(p.content));
          return ok('note added');
        case 'pagerduty.acknowledge':
          await pd().updateIncident(input.incidentId, { status: 'acknowledged' });
          return ok('acknowledged');
        case 'pagerduty.resolve':
          await pd().updateIncident(input.incidentId, { status: 'resolved', ...(p.resolution ? { resolution: String(p.resolution) } : {}) });
          return ok('resolved');
        case 'pagerduty.priority':
          await pd().updateIncident(input.incidentId, { priorityId: String(p.priorityId) });
          return ok(`priority set to ${String(p.priorityId)}`);
        case 'pagerduty.escalate':
          await pd().updateIncident(input.incidentId, { escalationLevel: Number(p.level) });
          return ok(`escalated to level ${String(p.level)}`);
        case 'notify.slack':
          await integrations().slack({ webhookUrl: await resolveSecretRef(String(p.webhookUrlRef), env), text: String(p.text) });
          return ok('slack message sent');
        case 'notify.email': {
          const r = await integrations().email({ to: p.to as string[], subject: String(p.subject), text: String(p.body ?? '') });
          return ok(`email sent${r.messageId ? ` (${r.messageId})` : ''}`);
        }
        case 'notify.webhook': {
          const body = p.body !== undefined ? String(p.body) : JSON.stringify({ incidentId: input.incidentId, ruleId: input.ruleId, ruleVersion: input.ruleVersion, previous: input.previous });
          await integrations().webhook({
            url: String(p.url),
            body,
            secret: p.secretRef ? await resolveSecretRef(String(p.secretRef), env) : undefined,
            idempotencyKey: input.actionRunId,
          });
          return ok('webhook delivered');
        }
        case 'workitem': {
          const item = await integrations().workItem({
            provider: p.provider as 'ewm' | 'jira' | 'github',
            // One item per incident, rule and action, however often the activity or the incident retries.
            idempotencyKey: `${input.incidentId}:${input.ruleId}:${action.id}`,
            project: p.project as string | undefined,
            repo: p.repo as string | undefined,
            title: String(p.title),
            description: String(p.description ?? ''),
            type: p.itemType as string | undefined,
            filedAgainst: p.filedAgainst as string | undefined,
          });
          return { exitCode: null, outputExcerpt: `work item ${item.id}`, link: item.url };
        }
        default:
          throw ApplicationFailure.nonRetryable(`action type ${action.type} cannot run on the main worker`, 'ValidationError');
      }
    } catch (err) {
      throw toFailure(err);
    }
  }

  function pd(): PagerDutyClient {
    if (!deps.pagerduty) throw ApplicationFailure.nonRetryable('PagerDuty write-back is off: set PAGERDUTY_API_TOKEN and PAGERDUTY_FROM_EMAIL', 'ValidationError');
    return deps.pagerduty;
  }

  function integrations(): Integrations {
    if (!deps.integrations) throw ApplicationFailure.nonRetryable('notifications and work items are not configured on this worker', 'ValidationError');
    return deps.integrations;
  }

  async function sshScript(input: RunActionInput): Promise<ScriptActionResult> {
    const ssh = await managementVm(input.target, input);
    const p = input.action.params;
    const args = (p.args as string[] | undefined) ?? [];
    const remoteDir = ssh.scriptsDir ?? DEFAULT_REMOTE_SCRIPTS_DIR;
    // A script runs as argv; a fixed command line runs under sh -c with the rendered args as $1, $2…, so
    // templated values stay data and are never parsed by the remote shell.
    const command = p.script ? [`${remoteDir}/${String(p.script)}`, ...args] : ['sh', '-c', String(p.command), 'selfheal', ...args];
    return runOnManagementVm(ssh, command, (input.action.timeoutSeconds ?? 300) * 1000, env, p.environment as Record<string, string> | undefined);
  }

  async function managementVm(_target: string | undefined, input: RunActionInput): Promise<EnvironmentSsh & { scriptsDir?: string }> {
    const incident = await deps.db.selectFrom('incidents').select('environment').where('id', '=', input.incidentId).executeTakeFirst();
    const name = (incident?.environment as Record<string, unknown> | undefined)?.environment;
    if (typeof name !== 'string') throw ApplicationFailure.nonRetryable('no environment was extracted for this incident, so there is no management VM to reach', 'ValidationError');
    const row = await deps.db.selectFrom('environments').select('ssh').where('name', '=', name).executeTakeFirst();
    if (!row?.ssh) throw ApplicationFailure.nonRetryable(`environment ${name} has no management VM configured`, 'ValidationError');
    return row.ssh as EnvironmentSsh & { scriptsDir?: string };
  }

  return { executeAction };
}

function ok(message: string): ScriptActionResult {
  return { exitCode: null, outputExcerpt: message };
}

/** Executor and API errors that will never succeed become non-retryable failures, named for the retry policy. */
export function toFailure(err: unknown): unknown {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof ExecutorError && !err.retryable) return ApplicationFailure.nonRetryable(err.message, err.name);
  if (err instanceof PagerDutyApiError && !err.retryable) return ApplicationFailure.nonRetryable(err.message, 'NonRetryableError');
  return err;
}
