import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../../src/db/database.js';
import { parseRuleInput, type RuleInputDocument } from '../../src/domain/rules/schema.js';

/** Store a validated rule straight in the database (what the rules API does), returning its id. */
export async function insertRule(db: Kysely<Database>, doc: RuleInputDocument): Promise<string> {
  const parsed = parseRuleInput(doc);
  if (!parsed.ok) throw new Error(`invalid test rule: ${JSON.stringify(parsed.issues)}`);
  const id = `r-${randomUUID()}`;
  await db.insertInto('rules').values({ id, name: parsed.value.name, version: 1, enabled: parsed.value.enabled, definition: JSON.stringify(parsed.value) }).execute();
  return id;
}

/** A unique PagerDuty-style service id, so rules of one test never match another test's incidents. */
export const newServiceId = (): string => `PS${randomUUID().replace(/-/g, '').slice(0, 8).toUpperCase()}`;
