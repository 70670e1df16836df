import { sql, type Kysely } from 'kysely';

// Authority by design (issue 18). Frozen once landed: add a new timestamped migration instead of editing it.
//
// 1. API tokens expire: `expires_at`, required from now on. Tokens issued before get 90 days from the
//    upgrade, time enough to replace them (docs/security.md "Tokens and sign-in").
// 2. The management VM's scripts directory is operator configuration (SELFHEAL_SSH_SCRIPTS_DIR), never an
//    environment field: `ssh.scriptsDir` is removed from stored environments, each removal in the audit log
//    with the old value, so an operator can see what the configuration must now say.
// 3. A `script.ssh` action with `command` is arbitrary shell and must carry approval {required: true,
//    onTimeout: reject}. A live rule holding one without that gate is disabled (a new version by
//    `migration`, in the audit log): an admin re-enables it by saving it with the gate.

const ACTOR = 'migration:2026-12-02-authority';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('api_tokens').addColumn('expires_at', 'timestamptz').execute();
  await sql`update api_tokens set expires_at = now() + interval '90 days' where expires_at is null`.execute(db);
  await db.schema.alterTable('api_tokens').alterColumn('expires_at', (c) => c.setNotNull()).execute();

  await sql`
    with changed as (
      select name, ssh as before from environments where ssh is not null and ssh ? 'scriptsDir' for update
    ), updated as (
      update environments e set ssh = e.ssh - 'scriptsDir', updated_at = now()
      from changed c where e.name = c.name
      returning e.name, e.ssh as after
    )
    insert into audit_log (actor, action, entity_type, entity_id, before, after)
    select ${ACTOR}, 'environment.update', 'environment', u.name,
           jsonb_build_object('ssh', c.before),
           jsonb_build_object('ssh', u.after, 'reason', 'ssh.scriptsDir is operator configuration now (SELFHEAL_SSH_SCRIPTS_DIR)')
    from updated u join changed c on c.name = u.name
  `.execute(db);

  await sql`
    with flagged as (
      select r.id from rules r
      where r.deleted_at is null and r.enabled
        and exists (
          select 1 from jsonb_array_elements(r.definition->'actions') a
          where a->>'type' = 'script.ssh' and a ? 'command'
            and not (coalesce(a->'approval'->>'required', 'false') = 'true' and coalesce(a->'approval'->>'onTimeout', 'reject') = 'reject')
        )
      for update
    ), updated as (
      update rules r set version = r.version + 1, enabled = false, definition = jsonb_set(r.definition, '{enabled}', 'false'::jsonb), updated_at = now()
      from flagged f where r.id = f.id
      returning r.id, r.version, r.definition
    ), versions as (
      insert into rule_versions (rule_id, version, definition, change, actor)
      select id, version, definition, 'disable', ${ACTOR} from updated
      returning rule_id
    )
    insert into audit_log (actor, action, entity_type, entity_id, before, after)
    select ${ACTOR}, 'rule.disable', 'rule', u.id, null,
           jsonb_build_object('version', u.version, 'reason', 'a script.ssh command action needs approval {required: true, onTimeout: reject} and an admin token')
    from updated u
  `.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  // Removed scripts directories and disabled rules stay as they are (their old values are in the audit log).
  await db.schema.alterTable('api_tokens').dropColumn('expires_at').execute();
}
