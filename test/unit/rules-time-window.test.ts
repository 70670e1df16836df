import assert from 'node:assert/strict';
import { inTimeWindow, isValidTimeZone, localTime, parseInstant, type TimeWindow } from '../../src/domain/rules/time-window.js';

const weekdays: TimeWindow['days'] = ['mon', 'tue', 'wed', 'thu', 'fri'];

describe('rules: time windows', () => {
  it('reads weekday and wall-clock time in the zone', () => {
    // 2024-05-06 is a Monday. 23:30 UTC is Tuesday 01:30 in Paris (CEST, UTC+2).
    const now = new Date('2024-05-06T23:30:00Z');
    assert.equal(localTime(now, 'UTC').label, 'mon 23:30');
    assert.equal(localTime(now, 'Europe/Paris').label, 'tue 01:30');
    assert.equal(localTime(now, 'America/Los_Angeles').label, 'mon 16:30');
    assert.equal(localTime(new Date('2024-05-06T00:05:00Z'), 'UTC').label, 'mon 00:05');
  });

  it('business hours in a time zone, start inclusive and end exclusive', () => {
    const window: TimeWindow = { days: weekdays, start: '09:00', end: '17:00', timezone: 'America/New_York' };
    assert.equal(inTimeWindow(window, new Date('2024-05-06T13:00:00Z')), true); // Mon 09:00 EDT
    assert.equal(inTimeWindow(window, new Date('2024-05-06T12:59:00Z')), false); // Mon 08:59
    assert.equal(inTimeWindow(window, new Date('2024-05-06T21:00:00Z')), false); // Mon 17:00
    assert.equal(inTimeWindow(window, new Date('2024-05-11T15:00:00Z')), false); // Saturday
  });

  it('handles the zone, not UTC, deciding the day', () => {
    const window: TimeWindow = { days: ['tue'], start: '00:00', end: '06:00', timezone: 'Asia/Tokyo' };
    // Monday 20:00 UTC = Tuesday 05:00 in Tokyo.
    assert.equal(inTimeWindow(window, new Date('2024-05-06T20:00:00Z')), true);
    assert.equal(inTimeWindow({ ...window, timezone: 'UTC' }, new Date('2024-05-06T20:00:00Z')), false);
  });

  it('windows crossing midnight belong to the day they start on', () => {
    const window: TimeWindow = { days: ['fri'], start: '22:00', end: '06:00', timezone: 'Europe/Paris' };
    assert.equal(inTimeWindow(window, new Date('2024-05-10T20:30:00Z')), true); // Fri 22:30 CEST
    assert.equal(inTimeWindow(window, new Date('2024-05-11T03:59:00Z')), true); // Sat 05:59
    assert.equal(inTimeWindow(window, new Date('2024-05-11T04:00:00Z')), false); // Sat 06:00
    assert.equal(inTimeWindow(window, new Date('2024-05-10T19:59:00Z')), false); // Fri 21:59
    assert.equal(inTimeWindow(window, new Date('2024-05-10T02:00:00Z')), false); // Fri 04:00 (Thu night not listed)
    assert.equal(inTimeWindow(window, new Date('2024-05-11T21:00:00Z')), false); // Sat 23:00
  });

  it('whole days and DST transitions', () => {
    const whole: TimeWindow = { days: ['sun'], start: '00:00', end: '24:00', timezone: 'Europe/Paris' };
    assert.equal(inTimeWindow(whole, new Date('2024-03-31T21:59:00Z')), true); // Sun 23:59 CEST
    assert.equal(inTimeWindow(whole, new Date('2024-03-31T22:00:00Z')), false); // Mon 00:00
    // 2024-03-31 02:00 → 03:00 in Paris: 01:30 UTC is 03:30 local.
    const early: TimeWindow = { days: ['sun'], start: '03:00', end: '04:00', timezone: 'Europe/Paris' };
    assert.equal(inTimeWindow(early, new Date('2024-03-31T01:30:00Z')), true);
  });

  it('never throws on bad zones or clocks', () => {
    assert.equal(isValidTimeZone('Europe/Paris'), true);
    assert.equal(isValidTimeZone('Mars/Olympus'), false);
    assert.equal(inTimeWindow({ days: weekdays, start: '09:00', end: '17:00', timezone: 'Mars/Olympus' }, new Date()), false);
    assert.equal(inTimeWindow({ days: weekdays, start: '9am', end: '17:00', timezone: 'UTC' }, new Date()), false);
  });

  it('parses ISO instants and relative times against the given now', () => {
    const now = new Date('2024-05-06T12:00:00Z');
    assert.equal(parseInstant('2024-05-06T11:00:00Z', now), Date.parse('2024-05-06T11:00:00Z'));
    assert.equal(parseInstant('2024-05-06T13:00:00+02:00', now), Date.parse('2024-05-06T11:00:00Z'));
    assert.equal(parseInstant('now', now), now.getTime());
    assert.equal(parseInstant('now-15m', now), now.getTime() - 15 * 60_000);
    assert.equal(parseInstant('now+2h', now), now.getTime() + 2 * 3_600_000);
    assert.equal(parseInstant('May 6, 2024', now), undefined);
    assert.equal(parseInstant(42, now), undefined);
  });
});
