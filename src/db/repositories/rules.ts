import { sql, type SelectQueryBuilder } from 'kysely';
import { rowsWithin, type RulePosition } from '../../domain/pages.js';
import type { Database, RuleRow } from '../database.js';
import type { Db } from './db.js';

export interface RuleListFilter {
  enabled?: boolean | undefined;
  /** PagerDuty service id: rules listing it, or applying to every service (`*`). */
  service?: string | undefined;
  includeDeleted?: boolean | undefined;
  /** Only rules of these teams (undefined: every team). */
  teams?: readonly string[] | undefined;
}

/** Filters of the rule list, applied to a query of `rules`. */
function filtered<Q extends SelectQueryBuilder<Database, 'rules', object>>(q: Q, filter: RuleListFilter): Q {
  let r = q;
  if (!filter.includeDeleted) r = r.where('deleted_at', 'is', null) as Q;
  if (filter.enabled !== undefined) r = r.where('enabled', '=', filter.enabled) as Q;
  if (filter.teams !== undefined) r = (filter.teams.length === 0 ? r.where((eb) => eb.val(false)) : r.where('team', 'in', [...filter.teams])) as Q;
  if (filter.service !== undefined) {
    const wanted = JSON.stringify([filter.service]);
    r = r.where(sql<boolean>`(definition->'services' @> ${wanted}::jsonb or definition->'services' @> '["*"]'::jsonb)`) as Q;
  }
  return r;
}

/**
 * A page of the rules `filter` lets through, by name then id, after the position `after` (the last of the
 * previous page): at most `limit`, and only as many as fit in `maxBytes` of definitions (one at least; a
 * definition is at most 1 MiB). Sizes are read first (definition_bytes, kept by Postgres), then only the
 * page's rules, the filter applied again (a rule moved to a team the reader cannot read since is left out).
 * `last`: the position of the page's last rule when more follow (the next page starts after it), else null.
 * Before, every rule was read and sent whole to one reader: 140 rules of 500 KB were 70 MB.
 */
export async function listRulePage(
  db: Db,
  filter: RuleListFilter,
  page: { after?: RulePosition | undefined; limit: number; maxBytes: number },
): Promise<{ rows: RuleRow[]; last: RulePosition | null }> {
  let q = filtered(db.selectFrom('rules').select(['id', 'name', 'definition_bytes as bytes']), filter);
  if (page.after !== undefined) q = q.where(sql<boolean>`(name, id) > (${page.after.name}::text, ${page.after.id}::text)`);
  const sizes = await q.orderBy('name').orderBy('id').limit(page.limit + 1).execute();
  const taken = rowsWithin(sizes, page.limit, page.maxBytes);
  if (taken === 0) return { rows: [], last: null };
  const ids = sizes.slice(0, taken).map((s) => s.id);
  const rows = await filtered(db.selectFrom('rules').selectAll(), filter).where('id', 'in', ids).orderBy('name').orderBy('id').execute();
  const end = sizes[taken - 1]!;
  return { rows, last: sizes.length > taken ? { name: end.name, id: end.id } : null };
}

export async function findRule(db: Db, id: string, opts: { includeDeleted?: boolean; forUpdate?: boolean } = {}): Promise<RuleRow | undefined> {
  let q = db.selectFrom('rules').selectAll().where('id', '=', id);
  if (!opts.includeDeleted) q = q.where('deleted_at', 'is', null);
  if (opts.forUpdate) q = q.forUpdate();
  return q.executeTakeFirst();
}

/** The live (not deleted) rule named `name`. */
export async function findLiveRuleByName(db: Db, name: string): Promise<RuleRow | undefined> {
  return db.selectFrom('rules').selectAll().where('name', '=', name).where('deleted_at', 'is', null).executeTakeFirst();
}

export async function insertRule(
  db: Db,
  row: { id: string; name: string; definition: unknown; enabled: boolean; actor: string; actorAliases?: readonly string[] | undefined; change: string; at: Date; team?: string | undefined },
): Promise<RuleRow> {
  const inserted = await db
    .insertInto('rules')
    .values({ id: row.id, name: row.name, version: 1, enabled: row.enabled, definition: JSON.stringify(row.definition), created_at: row.at, updated_at: row.at, ...(row.team ? { team: row.team } : {}) })
    .returningAll()
    .executeTakeFirstOrThrow();
  await insertRuleVersion(db, { ruleId: row.id, version: 1, definition: row.definition, change: row.change, actor: row.actor, actorAliases: row.actorAliases, at: row.at });
  return inserted;
}

/** Writes the next version of a rule (definition, enabled, name, optional soft delete) and its history row. */
export async function writeRuleVersion(
  db: Db,
  current: RuleRow,
  next: {
    name: string;
    definition: unknown;
    enabled: boolean;
    change: string;
    actor: string;
    actorAliases?: readonly string[] | undefined;
    at: Date;
    deletedAt?: Date | null;
    team?: string | undefined;
  },
): Promise<RuleRow> {
  const version = current.version + 1;
  const updated = await db
    .updateTable('rules')
    .set({
      name: next.name,
      version,
      enabled: next.enabled,
      definition: JSON.stringify(next.definition),
      updated_at: next.at,
      ...(next.deletedAt !== undefined ? { deleted_at: next.deletedAt } : {}),
      ...(next.team !== undefined ? { team: next.team } : {}),
    })
    .where('id', '=', current.id)
    .where('version', '=', current.version)
    .returningAll()
    .executeTakeFirst();
  if (!updated) throw new Error(`rule ${current.id} changed concurrently`);
  await insertRuleVersion(db, { ruleId: current.id, version, definition: next.definition, change: next.change, actor: next.actor, actorAliases: next.actorAliases, at: next.at });
  return updated;
}

async function insertRuleVersion(
  db: Db,
  v: { ruleId: string; version: number; definition: unknown; change: string; actor: string; actorAliases?: readonly string[] | undefined; at: Date },
): Promise<void> {
  await db
    .insertInto('rule_versions')
    .values({
      rule_id: v.ruleId,
      version: v.version,
      definition: JSON.stringify(v.definition),
      change: v.change,
      actor: v.actor,
      actor_aliases: [...(v.actorAliases ?? [])],
      created_at: v.at,
    })
    .execute();
}

export async function resetBreaker(db: Db, id: string, at: Date): Promise<RuleRow | undefined> {
  return db
    .updateTable('rules')
    .set({ breaker_state: 'closed', consecutive_failures: 0, breaker_opened_at: null, breaker_trial_match: null, updated_at: at })
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
}

/**
 * A page of a rule's versions, oldest first, after version `after`: at most `limit`, and only as many as
 * fit in `maxBytes` of definitions (their JSON text; one at least, a definition being at most 1 MiB).
 * Sizes are read first (definition_bytes, kept by Postgres), and only the page's definitions are read: a rule saved thousands of
 * times was sent whole to one reader, every version with its definition. `more`: versions follow the page.
 */
export async function listRuleVersions(db: Db, ruleId: string, page: { after?: number | undefined; limit: number; maxBytes: number }) {
  const sizes = await db
    .selectFrom('rule_versions')
    .select(['version', 'definition_bytes as bytes'])
    .where('rule_id', '=', ruleId)
    .$if(page.after !== undefined, (q) => q.where('version', '>', page.after!))
    .orderBy('version', 'asc')
    .limit(page.limit + 1)
    .execute();
  const taken = rowsWithin(sizes, page.limit, page.maxBytes);
  if (taken === 0) return { versions: [], more: false };
  const versions = await db
    .selectFrom('rule_versions')
    .selectAll()
    .where('rule_id', '=', ruleId)
    .where('version', 'in', sizes.slice(0, taken).map((s) => s.version))
    .orderBy('version', 'asc')
    .execute();
  return { versions, more: sizes.length > taken };
}

export async function findRuleVersion(db: Db, ruleId: string, version: number) {
  return db.selectFrom('rule_versions').selectAll().where('rule_id', '=', ruleId).where('version', '=', version).executeTakeFirst();
}
