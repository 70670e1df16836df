// The workflow bundle's entry: every workflow the main worker runs.
export { incidentWorkflow } from './incident.js';
export { jobWorkflow } from './job.js';
export { agentCheckWorkflow } from './agent-check.js';
export { retentionWorkflow } from './retention.js';
export { ruleRunWorkflow } from './rule-run.js';
