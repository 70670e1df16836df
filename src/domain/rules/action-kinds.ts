/**
 * Action types sorted by what they touch, apart from the action schemas: workflow code asks this
 * (src/domain/guards.ts), and a workflow bundle runs every module it holds again for each workflow it
 * starts, so what it imports stays free of zod and the schemas (test/unit/workflow-bundle.test.ts).
 */
import type { ActionType } from './actions.js';

/** Action types that tell people and touch no system: they still run while a rule's breaker is open. */
export const NOTIFY_ONLY_TYPES: ReadonlySet<string> = new Set<ActionType>(['notify.slack', 'notify.email', 'notify.webhook', 'pagerduty.note', 'pagerduty.escalate', 'workitem']);
