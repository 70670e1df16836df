// The incident and rule-run workflows' signal and query definitions. Names and shapes come from
// src/contracts, which the API and activities import instead of this module (it needs the workflow SDK).
import { defineQuery, defineSignal } from '@temporalio/workflow';
import {
  QUERIES,
  SIGNALS,
  type ApprovalDecision,
  type IncidentEventMessage,
  type IncidentWorkflowState,
} from '../src/contracts/index.js';

export const incidentEventSignal = defineSignal<[IncidentEventMessage]>(SIGNALS.incidentEvent);
export const approvalSignal = defineSignal<[ApprovalDecision]>(SIGNALS.approval);
export const incidentStateQuery = defineQuery<IncidentWorkflowState>(QUERIES.state);
