// The rules the worker matches: the enabled, live ones, and a cheap stamp that changes whenever any rule does.
import type { Rule } from '../../domain/rules/schema.js';
import type { Db } from './db.js';

/**
 * Changes whenever what the worker matches on does: a rule created, deleted, or its definition, enabled
 * flag, version, team or deletion changed, in whatever order such writes commit (the rules_generation
 * counter, incremented by a trigger in the writer's transaction; migration 2026-12-21). One row read.
 */
export async function rulesStamp(db: Db): Promise<string> {
  const s = await db.selectFrom('rules_generation').select('n').executeTakeFirstOrThrow();
  return String(s.n);
}

/** Every enabled, not deleted rule, as stored (id, version and team from their columns). */
export async function listEnabledRules(db: Db): Promise<Rule[]> {
  const rows = await db.selectFrom('rules').select(['id', 'version', 'definition', 'team']).where('deleted_at', 'is', null).where('enabled', '=', true).execute();
  return rows.map((r) => ({ ...(r.definition as Omit<Rule, 'id' | 'version'>), id: r.id, version: r.version, team: r.team }) as Rule);
}
