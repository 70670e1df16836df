import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { boundStoredSummary, bucketHoursFor, MAX_GROUP_KEY_BYTES, MAX_HOUR_BUCKETS, MAX_LISTED_SUMMARY_BYTES, MAX_STORED_SUMMARY_BYTES, storableSummary } from '../../src/domain/backtest/index.js';
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

  it('a summary stored is at most 1 MiB of JSON: lists left out in turn (incidents, groups, perHour) until it fits, marked truncated, every count exact', function () {
    assert.equal(MAX_STORED_SUMMARY_BYTES, 1024 * 1024);
    assert.ok(2 * MAX_STORED_SUMMARY_BYTES <= MAX_LISTED_SUMMARY_BYTES);
    const kinds = { newly_matched: 0, no_longer_matched: 0, newly_suppressed: 0, no_longer_suppressed: 0 };
    const ids = (n: number, size: number) => Array.from({ length: n }, (_, i) => `${i}-${'\u0001'.repeat(size)}`);
    const group = (i: number, size: number) => ({ key: `k${i}-${'\u0001'.repeat(size)}`, name: `n${i}`, matched: 1, fired: 1, suppressed: 0 });
    const hours = Array.from({ length: 800 }, (_, i) => ({ hour: new Date(at + i * 3_600_000).toISOString(), firings: 1, actions: 1 }));
    const lane = (size: number) => ({ matched: 900, firings: 800, peakPerHour: hours[0], perHour: hours, perHourBucketHours: 1, byService: Array.from({ length: 100 }, (_, i) => group(i, size)), byServiceOmitted: 7, byEnvironment: Array.from({ length: 100 }, (_, i) => group(i, 10)), byEnvironmentOmitted: 0 });
    const diff = (n: number, size: number) => ({ counts: { ...kinds, newly_matched: 400 }, incidents: { ...kinds, newly_matched: ids(n, size), no_longer_matched: [], newly_suppressed: [], no_longer_suppressed: [] }, incidentsOmitted: { ...kinds, newly_matched: 3 } });
    const bytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v));

    // Within the bound: stored as it is.
    const small = { window: { from: 'a' }, candidate: lane(10), vsRecorded: { ...diff(100, 10), agreement: { same: 1, of: 2 } } };
    assert.equal(storableSummary(small), small);

    // Incident lists alone put it over: they go, counted; the groups and hours stay.
    const diffsOver = { window: { from: 'a' }, candidate: lane(10), vsCurrent: diff(100, 1000), vsRecorded: { ...diff(100, 1000), agreement: { same: 1, of: 2 } } };
    const a = storableSummary(diffsOver) as typeof diffsOver & { truncated: { bytes: number; maxBytes: number; dropped: string[] } };
    assert.ok(bytes(diffsOver) > MAX_STORED_SUMMARY_BYTES);
    assert.ok(bytes(a) <= MAX_STORED_SUMMARY_BYTES, `${bytes(a)} bytes`);
    assert.deepEqual(a.truncated, { bytes: bytes(diffsOver), maxBytes: MAX_STORED_SUMMARY_BYTES, dropped: ['incidents'] });
    assert.deepEqual([a.vsCurrent.incidents.newly_matched, a.vsCurrent.incidentsOmitted.newly_matched, a.vsCurrent.counts.newly_matched], [[], 103, 400]);
    assert.deepEqual([a.vsRecorded.incidentsOmitted.newly_matched, a.vsRecorded.agreement], [103, { same: 1, of: 2 }]);
    assert.equal(a.candidate.byService.length, 100);

    // Groups too: they go, counted in byServiceOmitted and byEnvironmentOmitted; perHour stays.
    const groupsOver = { window: { from: 'a' }, candidate: lane(1000), baseline: lane(1000), vsRecorded: { ...diff(10, 10), agreement: { same: 0, of: 0 } } };
    const g = storableSummary(groupsOver) as typeof groupsOver & { truncated: { dropped: string[] } };
    assert.ok(bytes(g) <= MAX_STORED_SUMMARY_BYTES, `${bytes(g)} bytes`);
    assert.deepEqual(g.truncated.dropped, ['incidents', 'groups']);
    assert.deepEqual([g.candidate.byService, g.candidate.byServiceOmitted, g.candidate.byEnvironment, g.candidate.byEnvironmentOmitted, g.baseline.byServiceOmitted], [[], 107, [], 100, 107]);
    assert.deepEqual([g.candidate.matched, g.candidate.firings, g.candidate.perHour.length, g.candidate.peakPerHour], [900, 800, 800, hours[0]]);
    // The stored form reads back as it is (boundStoredSummary keeps truncated and the counts).
    assert.deepEqual(boundStoredSummary(g, { from: new Date(at), to: new Date(at + 33 * DAY) }), g);

    // A summary made elsewhere, one value of which is all of it: its recap values, nothing else.
    const odd = { window: { from: 'a' }, events: { read: 3 }, note: 'x'.repeat(2 * MAX_STORED_SUMMARY_BYTES), candidate: { matched: 2, extra: 'y'.repeat(MAX_STORED_SUMMARY_BYTES) } };
    const o = storableSummary(odd) as Record<string, unknown> & { truncated: { dropped: string[] } };
    assert.deepEqual(o, { window: { from: 'a' }, events: { read: 3 }, candidate: { matched: 2 }, truncated: { bytes: bytes(odd), maxBytes: MAX_STORED_SUMMARY_BYTES, dropped: ['incidents', 'groups', 'perHour', 'rest'] } });
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
