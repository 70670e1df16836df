// Text cut to a bound must stay storable: a cut inside a surrogate pair (an emoji) leaves a lone
// surrogate, which Postgres jsonb refuses, so the row (a match explanation, an environment value, an agent
// answer carried into the next action's parameters) could never be written and its activity would retry
// forever. Anyone who can open a PagerDuty incident chooses where the emoji falls.
import assert from 'node:assert/strict';
import pg from 'pg';
import { agentOutcome } from '../../src/domain/agent-result.js';
import { cleanValue, MAX_VALUE_LENGTH } from '../../src/domain/extract.js';
import { buildContext, evaluateCondition } from '../../src/domain/rules/evaluate.js';
import { cutAt } from '../../src/domain/text.js';

const EMOJI = '\u{1F525}';

describe('text cut to a bound stays whole characters (jsonb-storable)', function () {
  it('cutAt never ends between the halves of a surrogate pair', function () {
    assert.equal(cutAt(`ab${EMOJI}`, 3), 'ab', 'the pair is dropped whole');
    assert.equal(cutAt(`ab${EMOJI}`, 4), `ab${EMOJI}`);
    assert.equal(cutAt('abcdef', 3), 'abc');
    assert.equal(cutAt('ab', 5), 'ab');
  });

  const cases: [string, () => unknown][] = [
    ['a match explanation quoting a 119-character title followed by an emoji', () =>
      evaluateCondition({ field: 'incident.title', op: 'contains', value: 'disk' } as never, buildContext({ incident: { title: `${'a'.repeat(119)}${EMOJI} disk full` }, environment: {}, alerts: [], event: {} } as never), new Date())],
    ['an agent answer cut to its bound', () => agentOutcome({ exitCode: 0, outputExcerpt: `${'a'.repeat(64 * 1024 - 1)}${EMOJI} rest` })],
    ['an extracted value cut to its bound', () => cleanValue(`${'a'.repeat(MAX_VALUE_LENGTH - 1)}${EMOJI}`)],
  ];

  for (const [what, make] of cases) {
    it(`${what}: no lone surrogate, and Postgres stores it as jsonb`, async function () {
      const value = make();
      const json = JSON.stringify(value);
      // JSON.stringify escapes only a lone surrogate (a whole pair is written as is).
      assert.doesNotMatch(json, /\\ud[89a-f][0-9a-f]{2}/i, 'no lone surrogate');
      const client = new pg.Client({ connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres' });
      await client.connect();
      try {
        await client.query('select $1::jsonb', [json]);
      } finally {
        await client.end();
      }
    });
  }
});
