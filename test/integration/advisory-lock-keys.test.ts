import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { lockGuards } from '../../src/db/repositories/guards.js';
import { lockJobId } from '../../src/db/repositories/jobs.js';
import { advisoryXactLock, inTransaction, tryAdvisoryXactLock } from '../../src/db/repositories/transactions.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

// The planner locks `target:<host>` (a host an alert names) and `rule:<id>`, job edits and triggers
// `job:<id>` (an id its author chose), revocations and guard decisions fixed keys: all in Postgres' one
// advisory lock space. Hashed to 32 bits (`hashtext`, before), two names meeting on one key were found
// among 150,000 of each in under a second (the pair below): an alert naming such a host held the rule's
// lock whenever its incident was planned, and a job id could be searched for that held the token
// revocation's. Then 64 bits (`hashtextextended`): a chance meeting unlikely, a chosen one not, for
// hashtextextended can be solved (the job id below takes the guards' key). The keys are the first 64 bits
// of a SHA-256 now, and the locks of the code's own (guards, revocations) FixedLocks in the other key space.
const TARGET = 'target:host-99791';
const RULE = 'rule:98008'; // hashtext(TARGET) = hashtext(RULE) = 282233208
/** hashtextextended('job:' || GUARDS_JOB, 0) = hashtextextended('selfheal:automation-guards', 0): solved for, in a minute. */
const GUARDS_JOB = '5le1g7q2gaegh8rd0ceg';

describe('advisory locks: names that meet in 32 bits are two locks', function () {
  let db: TestDatabase;
  before(async function () {
    // Two connections of one Postgres at once: PGlite (no DATABASE_URL) has one.
    if (!process.env.DATABASE_URL) this.skip();
    db = await createTestDatabase();
  });
  after(async () => db?.close());

  it("a target's lock held, a rule whose name hashes to the same 32 bits is still taken, and the target is not", async () => {
    const [same] = (await db.pool.query<{ a: number; b: number }>('select hashtext($1) as a, hashtext($2) as b', [TARGET, RULE])).rows;
    assert.equal(same?.a, same?.b, 'the pair meets in 32 bits');
    await inTransaction(db.db, async (holder) => {
      await advisoryXactLock(holder, TARGET);
      const [rule, target] = await inTransaction(db.db, async (other) => [await tryAdvisoryXactLock(other, RULE), await tryAdvisoryXactLock(other, TARGET)]);
      assert.equal(rule, true, 'the rule lock is free');
      assert.equal(target, false, 'the target lock is held');
    });
  });

  it("a job whose id was solved to take the guards' 64-bit key holds nothing of the guards: planning goes on while its lock is held (before: it waited for the job's Temporal calls)", async () => {
    const [same] = (await db.pool.query<{ same: boolean }>("select hashtextextended($1, 0) = hashtextextended('selfheal:automation-guards', 0) as same", [`job:${GUARDS_JOB}`])).rows;
    assert.equal(same?.same, true, 'the id takes the key the guards held before');
    await inTransaction(db.db, async (holder) => {
      await lockJobId(holder, GUARDS_JOB);
      const planned = await inTransaction(db.db, async (other) => {
        await sql`set local lock_timeout = '2s'`.execute(other);
        await lockGuards(other);
        return true;
      }).catch((err: Error) => err.message);
      assert.equal(planned, true, `the guards' lock was taken while the job's was held: ${String(planned)}`);
    });
  });
});
