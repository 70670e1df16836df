import type { RouteFactory } from '../app.js';
import { incidentRoutes } from './incidents.js';
import { webhookRoutes } from './webhooks.js';

/** Every route group of the API, in mount order. */
export const allRoutes: RouteFactory[] = [webhookRoutes, incidentRoutes];
