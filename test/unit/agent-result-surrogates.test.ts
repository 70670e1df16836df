// A compromised agent can answer with a lone UTF-16 surrogate ("ok \ud800 done" in its JSON). JSON.stringify
// keeps it as `\ud800`, Postgres jsonb refuses it ("invalid input syntax for type json"), and the activity
// recording the action run or the job run would retry forever. The same happens when the job workflow keeps
// the tail of an output and the cut falls between the halves of a surrogate pair (an emoji).
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { agentOutcome, tailText } from '../../src/domain/agent-result.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

const EMOJI = '\u{1F525}'; // '\uD83D\uDD25'
const LONE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

describe('domain/agent-result: lone surrogates in an agent answer become U+FFFD, storable as jsonb', function () {
  let database: TestDatabase;
  before(async () => {
    database = await createTestDatabase();
  });
  after(async () => {
    await database.close();
  });

  const storesAsJsonb = async (result: unknown) => {
    const json = JSON.stringify({ x: result });
    const { rows } = await sql<{ value: unknown }>`select ${json}::jsonb as value`.execute(database.db);
    assert.deepEqual(rows[0]?.value, { x: result });
  };

  it('agentOutcome replaces a lone surrogate in the output and the error', async function () {
    const out = agentOutcome({ exitCode: 0, outputExcerpt: 'ok \ud800 done' });
    assert.equal(out.outputExcerpt, 'ok \uFFFD done');
    assert.doesNotMatch(out.outputExcerpt, LONE);
    await storesAsJsonb(out);

    const failed = agentOutcome({ exitCode: 1, outputExcerpt: `\udc00${EMOJI}\ud83d`, error: `bad \udfff${EMOJI}\u0000` });
    assert.equal(failed.outputExcerpt, `\uFFFD${EMOJI}\uFFFD`, 'whole pairs are kept');
    assert.equal(failed.error, `bad \uFFFD${EMOJI}\uFFFD`);
    await storesAsJsonb(failed);
  });

  it('tailText replaces lone surrogates and never starts inside a surrogate pair', async function () {
    // The last 4 units of 'ab🔥cd' start at the low half of the emoji: the whole pair is dropped.
    const cut = tailText(`ab${EMOJI}cd`, 4);
    assert.equal(cut, '…cd');
    assert.doesNotMatch(cut, LONE);
    assert.equal(tailText(`ab${EMOJI}cd`, 5), `…${EMOJI}cd`);
    assert.equal(tailText(`${'x'.repeat(10)}${EMOJI}`, 2), '…', 'a tail too short for the pair holds none of it');
    assert.equal(tailText('ok \ud800 done', 100), 'ok \uFFFD done');
    assert.equal(tailText(`x\udc00yz`, 3), '…yz');
    for (const result of [cut, tailText('ok \ud800 done', 100), tailText(`${'y'.repeat(100)}${EMOJI.repeat(50)}`, 52)]) {
      assert.doesNotMatch(result, LONE);
      await storesAsJsonb(result);
    }
  });
});
