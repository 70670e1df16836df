import type { Kysely } from 'kysely';
import { Migrator, type Migration, type MigrationProvider, type MigrationResult } from 'kysely/migration';
import * as initial from './migrations/2026-11-24T00-00-initial.js';
import * as authSessions from './migrations/2026-11-30T14-00-auth-sessions.js';
import * as sideEffects from './migrations/2026-12-01T00-00-side-effects.js';
import * as authority from './migrations/2026-12-02T00-00-authority.js';
import * as deployment from './migrations/2026-12-05T00-00-deployment.js';
import * as backtestAndRetention from './migrations/2026-12-06T00-00-backtest-and-retention.js';
import * as runClaims from './migrations/2026-12-07T00-00-run-claims-and-leases.js';
import * as verificationOutcome from './migrations/2026-12-08T00-00-verification-outcome.js';
import * as guardsAndFlapping from './migrations/2026-12-08T10-00-guards-and-flapping.js';
import * as effectivenessAndApprovalLinks from './migrations/2026-12-09T00-00-effectiveness-and-approval-links.js';
import * as teams from './migrations/2026-12-10T00-00-teams.js';
import * as retentionIndexes from './migrations/2026-12-11T00-00-retention-indexes.js';
import * as authSessionsOwnerIndexes from './migrations/2026-12-12T00-00-auth-sessions-owner-indexes.js';
import * as tokenOwnerAndAuthorAliases from './migrations/2026-12-13T00-00-token-owner-and-author-aliases.js';
import * as breakerOutcomeOnce from './migrations/2026-12-14T00-00-breaker-outcome-once.js';
import * as metricOffsets from './migrations/2026-12-15T00-00-metric-offsets.js';
import * as incidentsCreatedIndex from './migrations/2026-12-16T00-00-incidents-created-index.js';
import * as tokenSessionOrigin from './migrations/2026-12-18T00-00-token-session-origin.js';
import * as approvalDeadline from './migrations/2026-12-19T00-00-approval-deadline.js';
import * as remediationReleased from './migrations/2026-12-20T00-00-remediation-released.js';
import * as rulesGeneration from './migrations/2026-12-21T00-00-rules-generation.js';
import * as breakerTrialMatch from './migrations/2026-12-22T00-00-breaker-trial-match.js';
import * as incidentSnapshotAt from './migrations/2026-12-23T00-00-incident-snapshot-at.js';
import * as remediationTeam from './migrations/2026-12-24T00-00-remediation-team.js';
import * as incidentReconciledAt from './migrations/2026-12-25T00-00-incident-reconciled-at.js';
import * as jobScheduleFingerprint from './migrations/2026-12-26T00-00-job-schedule-fingerprint.js';
import * as ruleVersionBytes from './migrations/2026-12-27T00-00-rule-version-bytes.js';
import * as incidentStatusUnknown from './migrations/2026-12-28T00-00-incident-status-unknown.js';
import * as listRowBytes from './migrations/2026-12-29T00-00-list-row-bytes.js';
import * as agentQueuesUsed from './migrations/2026-12-30T00-00-agent-queues-used.js';
import * as jobRunCatchUpDecision from './migrations/2026-12-31T00-00-job-run-catch-up-decision.js';
import * as agentQueuesFromHistory from './migrations/2027-01-01T00-00-agent-queues-from-history.js';
import * as incidentEventBacklog from './migrations/2027-01-02T00-00-incident-event-backlog.js';
import * as jobRunCatchUpDecidedAt from './migrations/2027-01-03T00-00-job-run-catch-up-decided-at.js';
import * as incidentEventBacklogParkedAt from './migrations/2027-01-04T00-00-incident-event-backlog-parked-at.js';
import * as jobRunTemporalStartedAt from './migrations/2027-01-05T00-00-job-run-temporal-started-at.js';
import * as ruleBacktestSummaryBytes from './migrations/2027-01-06T00-00-rule-backtest-summary-bytes.js';
import * as incidentAlertsCapped from './migrations/2027-01-07T00-00-incident-alerts-capped.js';
import * as tokenMintedWith from './migrations/2027-01-12T00-00-token-minted-with.js';
import * as tokenOwnerIndexes from './migrations/2027-01-13T00-00-token-owner-indexes.js';
import * as listFilterIndexes from './migrations/2027-01-14T00-00-list-filter-indexes.js';

/** Migrations in order; names are timestamps and never change once landed. */
export const migrations: Record<string, Migration> = {
  '2026-11-24T00-00-initial': initial,
  '2026-11-30T14-00-auth-sessions': authSessions,
  '2026-12-01T00-00-side-effects': sideEffects,
  '2026-12-02T00-00-authority': authority,
  '2026-12-05T00-00-deployment': deployment,
  '2026-12-06T00-00-backtest-and-retention': backtestAndRetention,
  '2026-12-07T00-00-run-claims-and-leases': runClaims,
  '2026-12-08T00-00-verification-outcome': verificationOutcome,
  '2026-12-08T10-00-guards-and-flapping': guardsAndFlapping,
  '2026-12-09T00-00-effectiveness-and-approval-links': effectivenessAndApprovalLinks,
  '2026-12-10T00-00-teams': teams,
  '2026-12-11T00-00-retention-indexes': retentionIndexes,
  '2026-12-12T00-00-auth-sessions-owner-indexes': authSessionsOwnerIndexes,
  '2026-12-13T00-00-token-owner-and-author-aliases': tokenOwnerAndAuthorAliases,
  '2026-12-14T00-00-breaker-outcome-once': breakerOutcomeOnce,
  '2026-12-15T00-00-metric-offsets': metricOffsets,
  '2026-12-16T00-00-incidents-created-index': incidentsCreatedIndex,
  '2026-12-18T00-00-token-session-origin': tokenSessionOrigin,
  '2026-12-19T00-00-approval-deadline': approvalDeadline,
  '2026-12-20T00-00-remediation-released': remediationReleased,
  '2026-12-21T00-00-rules-generation': rulesGeneration,
  '2026-12-22T00-00-breaker-trial-match': breakerTrialMatch,
  '2026-12-23T00-00-incident-snapshot-at': incidentSnapshotAt,
  '2026-12-24T00-00-remediation-team': remediationTeam,
  '2026-12-25T00-00-incident-reconciled-at': incidentReconciledAt,
  '2026-12-26T00-00-job-schedule-fingerprint': jobScheduleFingerprint,
  '2026-12-27T00-00-rule-version-bytes': ruleVersionBytes,
  '2026-12-28T00-00-incident-status-unknown': incidentStatusUnknown,
  '2026-12-29T00-00-list-row-bytes': listRowBytes,
  '2026-12-30T00-00-agent-queues-used': agentQueuesUsed,
  '2026-12-31T00-00-job-run-catch-up-decision': jobRunCatchUpDecision,
  '2027-01-01T00-00-agent-queues-from-history': agentQueuesFromHistory,
  '2027-01-02T00-00-incident-event-backlog': incidentEventBacklog,
  '2027-01-03T00-00-job-run-catch-up-decided-at': jobRunCatchUpDecidedAt,
  '2027-01-04T00-00-incident-event-backlog-parked-at': incidentEventBacklogParkedAt,
  '2027-01-05T00-00-job-run-temporal-started-at': jobRunTemporalStartedAt,
  '2027-01-06T00-00-rule-backtest-summary-bytes': ruleBacktestSummaryBytes,
  '2027-01-07T00-00-incident-alerts-capped': incidentAlertsCapped,
  '2027-01-12T00-00-token-minted-with': tokenMintedWith,
  '2027-01-13T00-00-token-owner-indexes': tokenOwnerIndexes,
  '2027-01-14T00-00-list-filter-indexes': listFilterIndexes,
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

export class MigrationError extends Error {}

/** Bring the schema up to date. Idempotent; safe to run at every start from several processes. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function migrateToLatest(db: Kysely<any>): Promise<MigrationResult[]> {
  const migrator = new Migrator({ db, provider, migrationTableName: 'selfheal_migrations', migrationLockTableName: 'selfheal_migrations_lock' });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new MigrationError(
      `Migration ${failed?.migrationName ?? ''} failed: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  return results ?? [];
}
