// The rules the worker matches: the enabled, live ones, and a cheap stamp that changes whenever any rule does.
import { sql } from 'kysely';
import type { Rule } from '../../domain/rules/schema.js';
import type { Db } from './db.js';

/** Changes whenever a rule is created, updated or deleted (the newest update and the row count). */
export async function rulesStamp(db: Db): Promise<string> {
  const s = await db
    .selectFrom('rules')
    .select([sql<string>`coalesce(max(updated_at)::text, '')`.as('at'), sql<string>`count(*)::text`.as('n')])
    .executeTakeFirstOrThrow();
  return `${s.at}|${s.n}`;
}

/** Every enabled, not deleted rule, as stored (id, version and team from their columns). */
export async function listEnabledRules(db: Db): Promise<Rule[]> {
  const rows = await db.selectFrom('rules').select(['id', 'version', 'definition', 'team']).where('deleted_at', 'is', null).where('enabled', '=', true).execute();
  return rows.map((r) => ({ ...(r.definition as Omit<Rule, 'id' | 'version'>), id: r.id, version: r.version, team: r.team }) as Rule);
}
