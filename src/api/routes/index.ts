import type { RouteFactory } from '../env.js';
import { approvalLinkRoutes } from './approval-links.js';
import { auditRoutes } from './audit.js';
import { automationRoutes } from './automation.js';
import { authRoutes } from './auth.js';
import { backtestRoutes } from './backtest.js';
import { dashboardRoutes } from './dashboard.js';
import { docsRoutes } from './docs.js';
import { environmentRoutes } from './environments.js';
import { incidentRoutes } from './incidents.js';
import { jobRoutes } from './jobs.js';
import { metricsRoutes } from './metrics.js';
import { ruleRoutes } from './rules.js';
import { sessionRoutes } from './sessions.js';
import { statsRoutes } from './stats.js';
import { teamRoutes } from './teams.js';
import { tokenRoutes } from './tokens.js';
import { webhookRoutes } from './webhooks.js';

/**
 * Every route group of the API, in mount order (createApp installs the access log, the body limits and
 * /healthz and /readyz before them). Each is an OpenAPIHono router: its operations are in the document.
 */
export const allRoutes: RouteFactory[] = [metricsRoutes, webhookRoutes, incidentRoutes, approvalLinkRoutes, statsRoutes, ruleRoutes, backtestRoutes, tokenRoutes, sessionRoutes, teamRoutes, auditRoutes, automationRoutes, environmentRoutes, jobRoutes, authRoutes, dashboardRoutes, docsRoutes];
