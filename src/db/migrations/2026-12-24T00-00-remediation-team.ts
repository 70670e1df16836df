import { sql, type Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
//
// `team`: the team of the rule whose remediation this is. A rule that runs no script (PagerDuty write-back,
// notifications) may act on an incident of another team's environment; its remediations counted in that
// environment's share guard and in its hosts' flapping, so one team's rule could pause another team's
// environment and stop its fixes. Host flapping and an environment's share now count the remediations of
// the deciding rule's team (and rows from before teams, null here, for everyone); the fleet guards count
// all. Existing rows take their rule's team.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('remediations').addColumn('team', 'text').execute();
  await sql`update remediations r set team = rules.team from rules where rules.id = r.rule_id`.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('remediations').dropColumn('team').execute();
}
