import assert from 'node:assert/strict';
import { advisoryXactLock, inTransaction, tryAdvisoryXactLock } from '../../src/db/repositories/transactions.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

// The planner locks `target:<host>` (a host an alert names) and `rule:<id>`, job edits and triggers
// `job:<id>` (an id its author chose), revocations and guard decisions fixed keys: all in Postgres' one
// advisory lock space. Hashed to 32 bits (`hashtext`, before), two names meeting on one key were found
// among 150,000 of each in under a second (the pair below): an alert naming such a host held the rule's
// lock whenever its incident was planned, and a job id could be searched for that held the token
// revocation's. The keys are 64 bits now (`hashtextextended`): a chance meeting is unlikely, a chosen one is
// not (hashtextextended can be solved), so the token revocations' lock is a FixedLock now, in the key space of
// two 32-bit keys (test/security/sign-in-cut-off-race.test.ts).
const TARGET = 'target:host-99791';
const RULE = 'rule:98008'; // hashtext(TARGET) = hashtext(RULE) = 282233208

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
});
