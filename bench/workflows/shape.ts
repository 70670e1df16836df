// The same-shape floor's workflows: an incident's Temporal shape (read from a real incident's histories
// by bench/shape.ts) replayed with trivial bodies. The parent takes the first signal (signalWithStart),
// gives the incident workflow's commands in its order, and waits for what the real one waits for (its
// children's ends and their signals); each child gives a rule run's commands in order and signals the
// parent. Only Temporal's own work is left: what no incident workflow with this shape can undercut.
import {
  ParentClosePolicy,
  condition,
  defineSignal,
  getExternalWorkflowHandle,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { defineSearchAttributeKey } from '@temporalio/common';
import type { ShapeStep } from '../shape.js';
import type { shapeActivities } from '../shape-activities.js';

/** What one workflow of the floor does: the real workflow's steps, its children's plans, signals it waits for. */
export interface ShapePlan {
  steps: ShapeStep[];
  children: ShapePlan[];
  /** Signals the real workflow received beyond the one that started it. */
  extraSignals: number;
}

export interface ShapeChildInput {
  plan: ShapePlan;
  parentWorkflowId: string;
  /** The parent's workflow id: the key under which the first action's start is reported. */
  incidentKey: string;
}

export const shapeSignal = defineSignal<[string]>('benchShapeSignal');

const local = proxyLocalActivities<typeof shapeActivities>({ startToCloseTimeout: '10 seconds' });
const remote = proxyActivities<typeof shapeActivities>({ startToCloseTimeout: '30 seconds' });
/** A keyword attribute the bench stack registers (src/temporal/names.ts), so the upsert is a real one. */
const environmentKey = defineSearchAttributeKey('SelfhealEnvironment', 'KEYWORD');

/**
 * The incident workflow's shape, started by signalWithStart. It completes once its children have ended
 * and reported back, where the real one stays open until the resolve: one event more in its history.
 */
export async function shapeIncidentWorkflow(plan: ShapePlan): Promise<void> {
  let signals = 0;
  setHandler(shapeSignal, () => {
    signals += 1;
  });
  await condition(() => signals > 0);
  const id = workflowInfo().workflowId;
  await runSteps(plan, { parentWorkflowId: id, incidentKey: id });
  await condition(() => signals >= 1 + plan.extraSignals);
}

export async function shapeChildWorkflow(input: ShapeChildInput): Promise<void> {
  let signals = 0;
  setHandler(shapeSignal, () => {
    signals += 1;
  });
  await runSteps(input.plan, { parentWorkflowId: input.parentWorkflowId, incidentKey: input.incidentKey });
  await condition(() => signals >= input.plan.extraSignals);
}

async function runSteps(plan: ShapePlan, ctx: { parentWorkflowId: string; incidentKey: string }): Promise<void> {
  const self = workflowInfo().workflowId;
  let child = 0;
  let activity = 0;
  // The real rule run records the action's end in the local activity after it: the floor reports there too.
  let reportNext = false;
  const children: Promise<unknown>[] = [];
  for (const [i, step] of plan.steps.entries()) {
    switch (step) {
      case 'localActivity':
        await local.shapeLocal(reportNext ? { incidentKey: ctx.incidentKey, finished: true } : {});
        reportNext = false;
        break;
      case 'activity':
        reportNext = plan.steps[i + 1] === 'localActivity';
        await remote.shapeAction({ incidentKey: ctx.incidentKey, index: activity++, finished: !reportNext });
        break;
      case 'timer':
        await sleep(1);
        break;
      case 'child': {
        const childPlan = plan.children[child] ?? { steps: [], children: [], extraSignals: 0 };
        const input: ShapeChildInput = { plan: childPlan, parentWorkflowId: self, incidentKey: ctx.incidentKey };
        // Like the incident workflow: started, not awaited; its end arrives later.
        children.push(
          startChild(shapeChildWorkflow, { workflowId: `${self}-c${child}`, args: [input], parentClosePolicy: ParentClosePolicy.ABANDON }).then((h) => h.result()),
        );
        child += 1;
        break;
      }
      case 'signal':
        await getExternalWorkflowHandle(ctx.parentWorkflowId).signal(shapeSignal, self);
        break;
      case 'cancel':
        // Not part of a storm incident's shape (nothing resolves); kept as a no-op so plans stay readable.
        break;
      case 'upsert':
        upsertSearchAttributes([{ key: environmentKey, value: 'bench' }]);
        break;
    }
  }
  await Promise.all(children);
}
