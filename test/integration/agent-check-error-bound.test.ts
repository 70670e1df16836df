import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { ERROR_CHARS, ERROR_JSON_BYTES } from '../../src/domain/agent-result.js';
import type { AgentCheckResult } from '../../workflows/agent-check.js';
import { workerWithSlack } from '../helpers/workers.js';

// `selfheal environments check` answers what the agent check workflow returns. A failure the agent (or
// whoever polls its queue) raised went into that answer whole: bounded now as rule runs' and jobs' errors.
describe('agent check: the failure an agent reports is bounded', function () {
  this.timeout(60_000);
  const agentQueue = `agent-check-bound-${randomUUID()}`;
  const peers = workerWithSlack({
    slackSecret: 'AGENT_CHECK_BOUND_SLACK',
    agent: {
      taskQueue: agentQueue,
      runAgentScript: async () => {
        throw ApplicationFailure.nonRetryable(`boom ${'é'.repeat(300_000)}`, 'HostileError');
      },
    },
  });

  it('answers the start of a 300,000-character failure message, at most ERROR_CHARS characters and ERROR_JSON_BYTES', async function () {
    const r = (await peers.temporal.client.workflow.execute('agentCheckWorkflow', {
      taskQueue: peers.worker.taskQueue,
      workflowId: `agent-check-bound-${randomUUID()}`,
      args: [{ environment: 'prod', taskQueue: agentQueue, scheduleToStartSeconds: 20, timeoutSeconds: 20 }],
    })) as AgentCheckResult;
    assert.equal(r.healthy, false);
    assert.equal(r.reached, true);
    const error = r.error ?? '';
    assert.ok(error.startsWith('HostileError: boom éé'), error.slice(0, 40));
    assert.ok(error.length <= ERROR_CHARS + 1, `${error.length} characters`);
    assert.ok(Buffer.byteLength(JSON.stringify(error)) <= ERROR_JSON_BYTES + 8, `${Buffer.byteLength(JSON.stringify(error))} bytes`);
  });
});
