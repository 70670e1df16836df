// Which rule-run workflows are still open, asked of Temporal: the incident workflow hears a rule run it
// carried across continue-as-new end only by that run's signal, which a run terminated from outside (or
// ended by Temporal) never sends. Without this answer such an incident workflow waited forever.
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { runningWorkflows } from '../src/temporal/running.js';

export function createRuleRunActivities(deps: { temporal?: (() => Client) | undefined } = {}) {
  const client = deps.temporal ?? (() => Context.current().client);

  /** Of these workflow ids, the ones Temporal reports running (an id it does not know is not). */
  async function openRuleRuns(input: { ids: string[] }): Promise<string[]> {
    return runningWorkflows(client(), input.ids);
  }

  return { openRuleRuns };
}
