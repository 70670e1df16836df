// The workflows' signal and query definitions. Names and shapes come from src/contracts, which the API
// and the activities import instead of this module (it needs the workflow SDK).
import { defineQuery, defineSignal } from '@temporalio/workflow';
import {
  QUERIES,
  SIGNALS,
  type ApprovalNudge,
  type IncidentEventMessage,
  type IncidentWorkflowState,
  type RuleRunFinished,
  type RuleRunState,
} from '../src/contracts/index.js';

export const incidentEventSignal = defineSignal<[IncidentEventMessage]>(SIGNALS.incidentEvent);
export const approvalSignal = defineSignal<[ApprovalNudge]>(SIGNALS.approval);
export const ruleRunFinishedSignal = defineSignal<[RuleRunFinished]>(SIGNALS.ruleRunFinished);
export const incidentStateQuery = defineQuery<IncidentWorkflowState>(QUERIES.state);
export const ruleRunStateQuery = defineQuery<RuleRunState>(QUERIES.state);
