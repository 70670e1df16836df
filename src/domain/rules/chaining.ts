/**
 * When an action of a rule runs, given what happened to the actions before it (`when` in the rule):
 *
 * - `success` runs when every earlier action that ran succeeded (vacuously true when none ran);
 * - `failure` runs when at least one earlier action that ran failed;
 * - `always` runs whatever happened.
 *
 * An action "ran" when it was attempted: it succeeded, failed, ran as a dry run (counted as succeeded), or
 * was rejected at its approval gate (counted as failed: what it was meant to do did not happen). Skipped and
 * cancelled actions did not run and count for neither side.
 *
 * Pure: the rule-run workflow decides with it, and the API and CLI (`rules test`) explain a rule with it.
 */
import type { ActionStatus, ActionWhen } from '../../contracts/plan.js';

export interface EarlierOutcome {
  actionId: string;
  status: ActionStatus;
}

export interface ChainDecision {
  run: boolean;
  /** Why, in words a dashboard and `rules test` can show as they are. */
  reason: string;
}

const SUCCEEDED: ReadonlySet<ActionStatus> = new Set(['succeeded', 'dry_run']);
const FAILED: ReadonlySet<ActionStatus> = new Set(['failed', 'rejected']);

/** Whether an action with `when` runs after `earlier` (the outcomes of the actions before it, in order). */
export function chainDecision(when: ActionWhen, earlier: readonly EarlierOutcome[]): ChainDecision {
  const ran = earlier.filter((o) => SUCCEEDED.has(o.status) || FAILED.has(o.status));
  const failed = ran.filter((o) => FAILED.has(o.status)).map((o) => o.actionId);
  const list = (ids: string[]) => ids.join(', ');
  switch (when) {
    case 'always':
      return { run: true, reason: 'when: always' };
    case 'success':
      if (failed.length > 0) return { run: false, reason: `skipped: when: success, and ${list(failed)} failed` };
      return {
        run: true,
        reason: ran.length === 0 ? 'when: success, and no earlier action ran' : `when: success, and every earlier action that ran succeeded (${list(ran.map((o) => o.actionId))})`,
      };
    case 'failure':
      if (failed.length > 0) return { run: true, reason: `when: failure, and ${list(failed)} failed` };
      return { run: false, reason: ran.length === 0 ? 'skipped: when: failure, and no earlier action ran' : 'skipped: when: failure, and no earlier action failed' };
  }
}

export interface ChainStep {
  actionId: string;
  when: ActionWhen;
  run: boolean;
  reason: string;
  /** The outcome assumed for an action that runs; `skipped` for one that does not. */
  status: ActionStatus;
}

/**
 * Walk a rule's actions as the workflow would, with `outcome(actionId)` saying how each action that runs
 * ends (default: every action succeeds). `rules test` shows the result, e.g. with one action made to fail.
 */
export function explainChain(
  actions: readonly { id: string; when?: ActionWhen | undefined }[],
  outcome: (actionId: string) => ActionStatus = () => 'succeeded',
): ChainStep[] {
  const steps: ChainStep[] = [];
  for (const action of actions) {
    const when = action.when ?? 'success';
    const decision = chainDecision(when, steps.map((s) => ({ actionId: s.actionId, status: s.status })));
    steps.push({ actionId: action.id, when, ...decision, status: decision.run ? outcome(action.id) : 'skipped' });
  }
  return steps;
}
