import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../../src/db/database.js';
import { parseRuleInput, type RuleInputDocument } from '../../src/domain/rules/schema.js';

/** Who the rules stored by insertRule are written by (rule_versions.actor), unless a test says otherwise. */
export const TEST_RULE_AUTHOR = 'token:rule-author';

/**
 * Store a validated rule straight in the database (what the rules API does: the rule and its first
 * version, with its author), returning its id.
 */
export async function insertRule(db: Kysely<Database>, doc: RuleInputDocument, opts: { author?: string } = {}): Promise<string> {
  const parsed = parseRuleInput(doc);
  if (!parsed.ok) throw new Error(`invalid test rule: ${JSON.stringify(parsed.issues)}`);
  const id = `r-${randomUUID()}`;
  await db.insertInto('rules').values({ id, name: parsed.value.name, version: 1, enabled: parsed.value.enabled, definition: JSON.stringify(parsed.value) }).execute();
  await db
    .insertInto('rule_versions')
    .values({ rule_id: id, version: 1, definition: JSON.stringify(parsed.value), change: 'create', actor: opts.author ?? TEST_RULE_AUTHOR })
    .execute();
  return id;
}

/** A unique PagerDuty-style service id, so rules of one test never match another test's incidents. */
export const newServiceId = (): string => `PS${randomUUID().replace(/-/g, '').slice(0, 8).toUpperCase()}`;
