// Types shared by the app, its middleware and its route groups (kept apart so that none of them imports
// app.ts, which mounts them).
import type { Client } from '@temporalio/client';
import type { Context, Hono } from 'hono';
import type { Kysely } from 'kysely';
import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import type { ExtractorsConfig } from '../domain/extract.js';
import type { TeamMembership } from '../domain/teams.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { Scope } from '../services/actor.js';
import type { BodyLimits } from './body.js';

export interface AppDeps {
  config: Config;
  db: Kysely<Database>;
  /** The Temporal client; created lazily so the API answers (503) while Temporal is down. */
  temporal: Client;
  logger: Logger;
  /** The Temporal address actually used (may come from an embedded dev server). */
  temporalUiUrl?: string;
  /** Environment extractors (SELFHEAL_EXTRACTORS_FILE), for rule tests that extract like the worker. */
  extractors?: ExtractorsConfig;
  /** The process's metrics; createApp makes them when not given and hands them to every route group. */
  metrics?: Metrics;
  /** The OpenAPI document of the app the route groups are mounted in (createApp sets it). */
  openApiDocument?: () => unknown;
}

/** How a webhook delivery ended, set by its handler: counted in /metrics and carried on the request's access-log line. */
export interface WebhookOutcome {
  /** accepted, duplicate, ignored, bad_signature, from_browser, malformed, too_large, stale, not_configured, overloaded, temporal_unavailable */
  outcome: string;
  eventId?: string;
  eventType?: string;
  incidentId?: string;
  workflowId?: string;
}

export interface SessionActor {
  id: string;
  /** `user:<email or sub>`, as the audit log records it. */
  actor: string;
  scopes: Scope[];
  /** Team roles from the session's groups under the current OIDC_ROLE_MAP. */
  memberships: TeamMembership[];
  subject: string;
  email: string | null;
  name: string | null;
  expiresAt: Date;
  csrfToken: string;
}

/** Resolves the session of a request's cookie: undefined without one; 401 when it is unknown, expired or revoked; 403 on a forged write. */
export type SessionResolver = (c: Context<AppEnv>) => Promise<SessionActor | undefined>;

export type AppEnv = {
  Variables: { requestId: string; logger: Logger; actor?: string; actorAliases?: string[]; caller?: string; principal?: string; scopes?: string[]; teamRoles?: TeamMembership[]; webhook?: WebhookOutcome; bodyLimits?: BodyLimits; resolveSession?: SessionResolver; invalidBodyDetail?: string; csrfFormToken?: string };
};

export type RouteFactory = (deps: AppDeps) => Hono<AppEnv>;
