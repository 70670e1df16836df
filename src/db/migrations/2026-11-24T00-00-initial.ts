import { sql, type Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  const now = sql`now()`;

  await db.schema
    .createTable('incidents')
    .addColumn('id', 'text', (c) => c.primaryKey()) // PagerDuty incident id
    .addColumn('number', 'integer')
    .addColumn('title', 'text')
    .addColumn('description', 'text')
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('triggered'))
    .addColumn('urgency', 'text')
    .addColumn('priority', 'text')
    .addColumn('service_id', 'text')
    .addColumn('service_name', 'text')
    .addColumn('escalation_policy_id', 'text')
    .addColumn('escalation_policy_name', 'text')
    .addColumn('assignees', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('html_url', 'text')
    .addColumn('incident_key', 'text')
    .addColumn('environment', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('alerts', 'jsonb')
    .addColumn('workflow_id', 'text', (c) => c.notNull())
    .addColumn('pd_created_at', 'timestamptz')
    .addColumn('resolved_at', 'timestamptz')
    .addColumn('last_event_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  await db.schema.createIndex('incidents_status_idx').on('incidents').columns(['status', 'created_at']).execute();
  await db.schema.createIndex('incidents_service_idx').on('incidents').columns(['service_id', 'created_at']).execute();
  await db.schema
    .createIndex('incidents_environment_idx')
    .on('incidents')
    .expression(sql`(environment->>'environment')`)
    .execute();

  await db.schema
    .createTable('incident_events')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('event_id', 'text', (c) => c.notNull().unique()) // PagerDuty event.id
    .addColumn('webhook_id', 'text')
    .addColumn('incident_id', 'text')
    .addColumn('event_type', 'text', (c) => c.notNull())
    .addColumn('resource_type', 'text', (c) => c.notNull())
    .addColumn('occurred_at', 'timestamptz')
    .addColumn('received_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('disposition', 'text', (c) => c.notNull().defaultTo('accepted')) // accepted | ignored
    .addColumn('payload', 'jsonb', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('incident_events_incident_idx')
    .on('incident_events')
    .columns(['incident_id', 'occurred_at'])
    .execute();

  await db.schema
    .createTable('environments')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('description', 'text')
    .addColumn('labels', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('agent_task_queue', 'text')
    .addColumn('ssh', 'jsonb') // { host, port, user, keyRef, hostKeyFingerprint } — keyRef is a reference, never a key
    .addColumn('maintenance_windows', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();

  await db.schema
    .createTable('rules')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('enabled', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('definition', 'jsonb', (c) => c.notNull())
    .addColumn('breaker_state', 'text', (c) => c.notNull().defaultTo('closed')) // closed | open
    .addColumn('consecutive_failures', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('breaker_opened_at', 'timestamptz')
    .addColumn('deleted_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  await db.schema
    .createIndex('rules_name_live_idx')
    .on('rules')
    .column('name')
    .unique()
    .where(sql.ref('deleted_at'), 'is', null)
    .execute();

  await db.schema
    .createTable('rule_versions')
    .addColumn('rule_id', 'text', (c) => c.notNull().references('rules.id'))
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('definition', 'jsonb', (c) => c.notNull())
    .addColumn('change', 'text', (c) => c.notNull()) // create | update | delete | rollback
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addPrimaryKeyConstraint('rule_versions_pk', ['rule_id', 'version'])
    .execute();

  await db.schema
    .createTable('rule_matches')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('incident_id', 'text', (c) => c.notNull())
    .addColumn('event_id', 'text', (c) => c.notNull())
    .addColumn('rule_id', 'text', (c) => c.notNull())
    .addColumn('rule_version', 'integer', (c) => c.notNull())
    .addColumn('rule_name', 'text', (c) => c.notNull())
    .addColumn('explanation', 'jsonb', (c) => c.notNull())
    .addColumn('decision', 'text', (c) => c.notNull()) // run | dry_run | skipped
    .addColumn('skip_reason', 'text')
    .addColumn('target', 'text')
    .addColumn('matched_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addUniqueConstraint('rule_matches_once', ['incident_id', 'event_id', 'rule_id'])
    .execute();
  await db.schema
    .createIndex('rule_matches_rule_idx')
    .on('rule_matches')
    .columns(['rule_id', 'matched_at'])
    .execute();
  await db.schema
    .createIndex('rule_matches_target_idx')
    .on('rule_matches')
    .columns(['rule_id', 'target', 'matched_at'])
    .execute();

  await db.schema
    .createTable('action_runs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('idempotency_key', 'text', (c) => c.notNull().unique()) // incident:rule:action(:event)
    .addColumn('incident_id', 'text')
    .addColumn('match_id', 'bigint')
    .addColumn('rule_id', 'text')
    .addColumn('rule_version', 'integer')
    .addColumn('job_run_id', 'text')
    .addColumn('action_index', 'integer', (c) => c.notNull())
    .addColumn('action_id', 'text', (c) => c.notNull())
    .addColumn('action_type', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull()) // pending | awaiting_approval | running | succeeded | failed | skipped | cancelled | dry_run
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('target', 'text')
    .addColumn('rendered', 'jsonb')
    .addColumn('exit_code', 'integer')
    .addColumn('output_excerpt', 'text')
    .addColumn('link', 'text')
    .addColumn('error', 'text')
    .addColumn('approval', 'jsonb')
    .addColumn('started_at', 'timestamptz')
    .addColumn('finished_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  await db.schema.createIndex('action_runs_incident_idx').on('action_runs').column('incident_id').execute();
  await db.schema
    .createIndex('action_runs_target_idx')
    .on('action_runs')
    .columns(['target', 'status'])
    .execute();

  await db.schema
    .createTable('jobs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('definition', 'jsonb', (c) => c.notNull())
    .addColumn('enabled', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('schedule_id', 'text', (c) => c.notNull())
    .addColumn('deleted_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  await db.schema
    .createIndex('jobs_name_live_idx')
    .on('jobs')
    .column('name')
    .unique()
    .where(sql.ref('deleted_at'), 'is', null)
    .execute();

  await db.schema
    .createTable('job_runs')
    .addColumn('id', 'text', (c) => c.primaryKey()) // workflow id
    .addColumn('job_id', 'text', (c) => c.notNull())
    .addColumn('run_id', 'text')
    .addColumn('trigger', 'text', (c) => c.notNull()) // schedule | manual | backfill
    .addColumn('status', 'text', (c) => c.notNull()) // running | succeeded | failed | partial | skipped | missed
    .addColumn('scheduled_at', 'timestamptz')
    .addColumn('started_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('finished_at', 'timestamptz')
    .addColumn('summary', 'jsonb')
    .execute();
  await db.schema.createIndex('job_runs_job_idx').on('job_runs').columns(['job_id', 'started_at']).execute();

  await db.schema
    .createTable('job_target_results')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('job_run_id', 'text', (c) => c.notNull())
    .addColumn('environment', 'text', (c) => c.notNull())
    .addColumn('via', 'text', (c) => c.notNull()) // agent | ssh
    .addColumn('status', 'text', (c) => c.notNull()) // succeeded | failed | timed_out | skipped
    .addColumn('exit_code', 'integer')
    .addColumn('output_excerpt', 'text')
    .addColumn('error', 'text')
    .addColumn('started_at', 'timestamptz')
    .addColumn('finished_at', 'timestamptz')
    .addUniqueConstraint('job_target_results_once', ['job_run_id', 'environment'])
    .execute();

  await db.schema
    .createTable('api_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique()) // sha256 of the token; the token itself is never stored
    .addColumn('scopes', sql`text[]`, (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('last_used_at', 'timestamptz')
    .addColumn('revoked_at', 'timestamptz')
    .execute();

  await db.schema
    .createTable('audit_log')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('entity_type', 'text', (c) => c.notNull())
    .addColumn('entity_id', 'text', (c) => c.notNull())
    .addColumn('before', 'jsonb')
    .addColumn('after', 'jsonb')
    .execute();
  await db.schema.createIndex('audit_log_entity_idx').on('audit_log').columns(['entity_type', 'entity_id']).execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  for (const t of [
    'audit_log',
    'api_tokens',
    'job_target_results',
    'job_runs',
    'jobs',
    'action_runs',
    'rule_matches',
    'rule_versions',
    'rules',
    'environments',
    'incident_events',
    'incidents',
  ]) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
