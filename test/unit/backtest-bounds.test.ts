import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { boundStoredSummary, bucketHoursFor, MAX_GROUP_KEY_BYTES, MAX_HOUR_BUCKETS } from '../../src/domain/backtest/index.js';
import { cutUtf8 } from '../../src/domain/text.js';

// The bounds of a backtest summary (src/domain/backtest/bounds.ts): perHour's buckets by window length, and
// a summary read back from the table, whatever it was stored with, answered within them.
const DAY = 86_400_000;
const at = Date.parse('2026-01-01T00:00:00Z');

describe('backtest summary bounds', function () {
  it('perHour keeps an hour per bucket up to 33 days, then the smallest of 2, 3, 4, 6, 8, 12 or 24 hours that fits 800 buckets', function () {
    const widths = [1, 30, 33, 34, 60, 90, 180, 366].map((d) => [d, bucketHoursFor(at, at + d * DAY)]);
    assert.deepEqual(widths, [[1, 1], [30, 1], [33, 1], [34, 2], [60, 2], [90, 3], [180, 6], [366, 12]]);
    // A window that starts mid-hour meets one bucket more, and still fits.
    assert.equal(bucketHoursFor(at + 1_800_000, at + 1_800_000 + 33 * DAY), 1);
    assert.equal(MAX_HOUR_BUCKETS, 800);
  });

  it('a stored summary is answered within the bounds; one within them already is answered as stored', function () {
    const from = new Date(at);
    const to = new Date(at + 90 * DAY);
    const hours = Array.from({ length: 90 * 24 }, (_, i) => ({ hour: new Date(at + i * 3_600_000).toISOString(), firings: 1, actions: 0 }));
    const old = { window: { from: from.toISOString() }, events: { read: 1 }, candidate: { matched: 3, perHour: hours, byEnvironment: Array.from({ length: 130 }, (_, i) => ({ key: `e${i}`, matched: 1, fired: 0, suppressed: 0 })) } };
    const bounded = boundStoredSummary(old, { from, to }) as { events: unknown; candidate: Record<string, unknown> & { perHour: unknown[]; byEnvironment: unknown[] } };
    assert.deepEqual(bounded.events, { read: 1 });
    assert.deepEqual([bounded.candidate.matched, bounded.candidate.byEnvironment.length, bounded.candidate.byEnvironmentOmitted, bounded.candidate.perHourBucketHours, bounded.candidate.perHour.length], [3, 100, 30, 3, 720]);
    assert.equal('byServiceOmitted' in bounded.candidate, false);
    assert.deepEqual(boundStoredSummary(bounded, { from, to }), bounded);
    // Hour counts outside the window (no summary this API wrote has them) still end within 800 buckets.
    const stray = Array.from({ length: 5000 }, (_, i) => ({ hour: new Date(at - i * DAY).toISOString(), firings: 1, actions: 1 }));
    const wide = boundStoredSummary({ candidate: { perHour: stray } }, { from, to: new Date(at + DAY) }) as { candidate: { perHour: unknown[]; perHourBucketHours: number } };
    assert.ok(wide.candidate.perHour.length <= MAX_HOUR_BUCKETS, String(wide.candidate.perHour.length));
    assert.ok(wide.candidate.perHourBucketHours >= 24 * 7, String(wide.candidate.perHourBucketHours));
    // Not a summary: as it is.
    assert.equal(boundStoredSummary('x', { from, to }), 'x');
  });

  it('a stored group key or name past 1,024 bytes is answered cut and ending with …(truncated #<32 hex of its SHA-256>), two that start alike keeping distinct keys; one within it as stored', function () {
    const from = new Date(at);
    const to = new Date(at + DAY);
    const long = `env-${'é'.repeat(300_000)}`;
    const other = `${long}-2`;
    const stored = { candidate: { byEnvironment: [{ key: long, matched: 2, fired: 2, suppressed: 0 }, { key: 'prod', matched: 1, fired: 1, suppressed: 0 }, { key: other, matched: 1, fired: 1, suppressed: 0 }], byService: [{ key: 'P1', name: long, matched: 3, fired: 3, suppressed: 0 }] } };
    const b = boundStoredSummary(stored, { from, to }) as { candidate: { byEnvironment: { key: string }[]; byService: { key: string; name: string }[] } };
    const [cut, prod, cutOther] = b.candidate.byEnvironment;
    const hash = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 32);
    assert.ok(Buffer.byteLength(cut!.key) <= MAX_GROUP_KEY_BYTES && cut!.key.startsWith('env-éé') && cut!.key.endsWith(`…(truncated #${hash(long)})`), cut!.key.slice(-30));
    assert.ok(Buffer.byteLength(cutOther!.key) <= MAX_GROUP_KEY_BYTES && cutOther!.key.endsWith(`…(truncated #${hash(other)})`), cutOther!.key.slice(-30));
    assert.notEqual(cut!.key, cutOther!.key);
    assert.equal(prod!.key, 'prod');
    assert.deepEqual([b.candidate.byService[0]!.key, b.candidate.byService[0]!.name], ['P1', cut!.key]);
  });

  it('a stored key cut with the former 8-hex tag is answered as stored: the summaries attached before the wider tag still read', function () {
    const from = new Date(at);
    const to = new Date(at + DAY);
    // As the engine cut a key before: 1,024 bytes at most, ending with 8 hex digits of the whole value's SHA-256.
    const whole = `svc-${'x'.repeat(5000)}`;
    const old = cutUtf8(whole, MAX_GROUP_KEY_BYTES, `…(truncated #${createHash('sha256').update(whole).digest('hex').slice(0, 8)})`);
    const stored = { candidate: { byService: [{ key: old, name: old, matched: 4, fired: 4, suppressed: 0 }], byEnvironment: [{ key: old, matched: 4, fired: 4, suppressed: 0 }] } };
    const b = boundStoredSummary(stored, { from, to }) as typeof stored;
    assert.deepEqual([b.candidate.byService[0]!.key, b.candidate.byService[0]!.name, b.candidate.byEnvironment[0]!.key], [old, old, old]);
    assert.match(old, /…\(truncated #[0-9a-f]{8}\)$/);
  });

  it('cutUtf8 keeps whole characters within the bytes, the marker included', function () {
    assert.equal(cutUtf8('abcdef', 6, '~'), 'abcdef');
    assert.equal(cutUtf8('abcdefg', 6, '~'), 'abcde~');
    // 'é' is 2 bytes, '\u{1F525}' 4: never cut in half.
    assert.equal(cutUtf8('éééé', 6, '~'), 'éé~');
    assert.equal(cutUtf8('a\u{1F525}\u{1F525}', 7, '~'), 'a\u{1F525}~');
    assert.equal(cutUtf8('a\u{1F525}\u{1F525}', 9), 'a\u{1F525}\u{1F525}');
  });
});
