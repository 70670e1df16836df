import type { RouteFactory } from '../app.js';
import { agentCheckRoutes } from './agent-check.js';
import { auditRoutes } from './audit.js';
import { docsRoutes } from './docs.js';
import { environmentRoutes } from './environments.js';
import { incidentRoutes } from './incidents.js';
import { jobRoutes } from './jobs.js';
import { ruleRoutes } from './rules.js';
import { tokenRoutes } from './tokens.js';
import { webhookRoutes } from './webhooks.js';

/** Every route group of the API, in mount order. */
export const allRoutes: RouteFactory[] = [webhookRoutes, incidentRoutes, ruleRoutes, tokenRoutes, auditRoutes, environmentRoutes, agentCheckRoutes, jobRoutes, docsRoutes];
