// The one concurrency limiter (src/domain/map-bounded.ts): results in input order, never more than `limit`
// calls in flight, each call given its item's index, a failure rejects the whole map.
import assert from 'node:assert/strict';
import { mapBounded } from '../../src/domain/map-bounded.js';

describe('mapBounded', () => {
  it('keeps the input order, whatever order the calls finish in', async () => {
    const items = [5, 1, 4, 2, 3];
    // Later items finish first: each call waits for as many turns of the event loop as its value.
    const out = await mapBounded(items, 3, async (n, i) => {
      for (let k = 0; k < n; k++) await new Promise<void>((r) => setImmediate(r));
      return `${i}:${n * 10}`;
    });
    assert.deepEqual(out, ['0:50', '1:10', '2:40', '3:20', '4:30']);
  });

  it('never runs more than `limit` calls at a time, and uses all of them', async () => {
    let inFlight = 0;
    let most = 0;
    await mapBounded(Array.from({ length: 20 }, (_, i) => i), 4, async () => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise<void>((r) => setImmediate(r));
      inFlight--;
    });
    assert.equal(most, 4);
    assert.equal(inFlight, 0);
  });

  it('maps an empty list to an empty list and rejects when a call fails', async () => {
    assert.deepEqual(await mapBounded([], 8, async () => 1), []);
    await assert.rejects(
      mapBounded([1, 2, 3], 2, async (n) => {
        if (n === 2) throw new Error('boom 2');
        return n;
      }),
      /boom 2/,
    );
  });
});
