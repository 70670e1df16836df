// The four places that keep unstorable strings out of Postgres (request bodies, list cursors, PagerDuty
// events, agent answers) ask String.prototype.isWellFormed and toWellFormed, where each had its own copy of
// a lone-surrogate regex. This holds them to what that regex said, over every string of up to four units
// drawn from both ends of both surrogate ranges, an ordinary letter and NUL (checked apart, as before).
import assert from 'node:assert/strict';
import { unstorableChar } from '../../src/api/body.js';
import { jsonbRefusal, storable } from '../../src/db/repositories/incidents.js';
import { agentOutcome } from '../../src/domain/agent-result.js';
import { decodeCursor, encodeCursor } from '../../src/services/list-pages.js';

/** The regex the four places used. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');

function allStrings(units: string[], maxLength: number): string[] {
  const out = [''];
  let level = [''];
  for (let n = 1; n <= maxLength; n++) {
    level = level.flatMap((s) => units.map((u) => s + u));
    out.push(...level);
  }
  return out;
}

describe('unstorable strings: isWellFormed and toWellFormed say what the lone-surrogate regex said', function () {
  const strings = allStrings(['a', '\uD800', '\uDBFF', '\uDC00', '\uDFFF', '\0'], 4);

  it('covers the cases (lone high, lone low, pairs, reversed pairs, NUL)', function () {
    assert.equal(strings.length, 1 + 6 + 36 + 216 + 1296);
    assert.ok(strings.some((s) => LONE_SURROGATE.test(s)) && strings.some((s) => s.length > 1 && !LONE_SURROGATE.test(s) && /[\uD800-\uDFFF]/.test(s)));
  });

  it('request bodies and parameters (api/body.ts unstorableChar)', function () {
    for (const s of strings) {
      const expected = s.includes('\0') ? 'U+0000 (NUL)' : LONE_SURROGATE.test(s) ? 'a lone UTF-16 surrogate' : undefined;
      assert.equal(unstorableChar(s), expected, JSON.stringify(s));
    }
  });

  it('PagerDuty events (db/repositories/incidents.ts jsonbRefusal and storable)', function () {
    for (const s of strings) {
      const lone = LONE_SURROGATE.test(s);
      assert.equal(jsonbRefusal({ title: s }), lone ? '$.title holds a lone UTF-16 surrogate, which jsonb cannot store' : undefined, JSON.stringify(s));
      assert.equal(jsonbRefusal({ [s]: 1 }), lone ? 'a key under $ holds a lone UTF-16 surrogate, which jsonb cannot store' : undefined, JSON.stringify(s));
      assert.equal(storable(s), s.replace(LONE_SURROGATES, '\uFFFD').replaceAll('\0', '\uFFFD'), JSON.stringify(s));
    }
  });

  it('agent answers (domain/agent-result.ts)', function () {
    for (const s of strings) {
      assert.equal(agentOutcome({ exitCode: 0, outputExcerpt: s }).outputExcerpt, s.replaceAll('\0', '\uFFFD').replace(LONE_SURROGATES, '\uFFFD'), JSON.stringify(s));
    }
  });

  it('list cursors (services/list-pages.ts decodeCursor)', function () {
    for (const s of strings.filter((x) => x.length > 0)) {
      const storableKey = !s.includes('\0') && !LONE_SURROGATE.test(s);
      const decoded = (() => {
        try {
          return decodeCursor(encodeCursor([s]), 1);
        } catch {
          return undefined;
        }
      })();
      assert.deepEqual(decoded, storableKey ? [s] : undefined, JSON.stringify(s));
    }
  });
});
