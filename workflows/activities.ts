// The activity proxies the workflows share, each with its option preset (workflows/options.ts).
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { createActivities, createAgentActivities } from '../activities/index.js';
import { dbLocalOptions, dbOptions, triageLocalOptions } from './options.js';

export type Activities = ReturnType<typeof createActivities> & ReturnType<typeof createAgentActivities>;

/**
 * Postgres steps as local activities: run by the workflow's own worker inside the workflow task and
 * recorded as one marker each, instead of a trip through the task queue. That is most of an incident's
 * load on Temporal.
 */
export const localDb = proxyLocalActivities<Activities>(dbLocalOptions);

/** Persist, enrich, extract and match in one local activity. */
export const localTriage = proxyLocalActivities<Activities>(triageLocalOptions);

/** Postgres steps as activities, for the few that must run only once the workflow task that asked is recorded. */
export const db = proxyActivities<Activities>(dbOptions);
