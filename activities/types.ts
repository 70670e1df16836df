// The plain shapes passed between workflows and activities live in src/contracts (shared with the API and
// the CLI); activity modules keep importing them from here.
export type {
  ActionOutcome,
  ActionStatus,
  ActionWhen,
  MatchDecision,
  MatchPlan,
  PlannedAction,
  RecordEventResult,
  RunActionInput,
} from '../src/contracts/plan.js';
