import type { Integrations } from '../activities/actions.js';
import type { Config } from './config.js';

/** Notification and work-item clients from configuration (filled in as providers land). */
export function createIntegrations(_config: Config): Integrations | undefined {
  return undefined;
}
