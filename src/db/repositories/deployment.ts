import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../database.js';

// This deployment's id: a random id kept in its own database (table `deployment`), made by whichever process
// asks first. It never changes, so it is read once per database handle.

const cache = new WeakMap<object, Promise<string>>();

async function readOrCreate(db: Kysely<Database>): Promise<string> {
  await db.insertInto('deployment').values({ singleton: true, id: randomUUID() }).onConflict((oc) => oc.column('singleton').doNothing()).execute();
  const row = await db.selectFrom('deployment').select('id').executeTakeFirstOrThrow();
  return row.id;
}

/** The id of the deployment whose database `db` is. */
export function deploymentId(db: Kysely<Database>): Promise<string> {
  let id = cache.get(db);
  if (!id) {
    id = readOrCreate(db);
    cache.set(db, id);
    // A failed read (database down) is not remembered: the next call tries again.
    id.catch(() => cache.delete(db));
  }
  return id;
}
