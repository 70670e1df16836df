import assert from 'node:assert/strict';
import { classifyIncident, DEFAULT_WINDOW_MS, durationMs, histogram, labelCounts, labelEventOf, median, rate, ruleWindowMs, type LabelEvent, type LabelRemediation } from '../../src/domain/effectiveness.js';
import { readSample } from '../helpers/samples.js';

const t = (min: number) => new Date(Date.UTC(2026, 10, 1, 10, min));
/** A real PagerDuty sample (agent as PagerDuty sends it) at minute `min`; `agent` replaces its agent. */
function event(sample: string, min: number, opts: { own?: boolean; agent?: Record<string, unknown> | null } = {}): LabelEvent {
  const body = readSample(sample);
  body.event.occurred_at = t(min).toISOString();
  if (opts.agent !== undefined) body.event.agent = opts.agent;
  return labelEventOf(body, { type: 'x', at: null }, opts.own ?? false)!;
}
const service = { id: 'PSVC', type: 'service_reference', summary: 'monitoring' };
const fix = (start: number, end: number, status = 'succeeded', type = 'script.ssh') => ({ type, status, startedAt: t(start), finishedAt: t(end) });
const remediation = (actions: LabelRemediation['actions'], extra: Partial<LabelRemediation> = {}): LabelRemediation => ({ ruleId: 'r1', actions, windowMs: 10 * 60_000, verification: null, ...extra });
const triggered = () => event('v3-incident.triggered-01.json', 0);

describe('incident labels (who fixed it)', function () {
  it('reads the agent of real PagerDuty payloads: a user in the samples', function () {
    const e = event('v3-incident.annotated-01.json', 3);
    assert.deepEqual(e, { type: 'incident.annotated', at: t(3), agentType: 'user_reference', ownWrite: false });
  });

  it('auto-remediated: our fix succeeded and the monitor resolved within the window, nobody wrote', function () {
    const c = classifyIncident({
      status: 'resolved',
      resolvedAt: t(9),
      events: [triggered(), event('v3-incident.resolved-01.json', 9, { agent: service })],
      remediations: [remediation([fix(1, 2), fix(2, 2, 'succeeded', 'notify.slack')])],
    });
    assert.equal(c.label, 'auto-remediated');
    assert.equal(c.final, true);
  });

  it('auto-remediated when the resolve is our own pagerduty.resolve (a user agent, but our write)', function () {
    const c = classifyIncident({
      status: 'resolved',
      resolvedAt: t(2),
      events: [triggered(), event('v3-incident.resolved-01.json', 2, { own: true })],
      remediations: [remediation([fix(1, 2), fix(2, 2, 'succeeded', 'pagerduty.resolve')])],
    });
    assert.equal(c.label, 'auto-remediated');
  });

  for (const [sample, type] of [
    ['v3-incident.acknowledged-01.json', 'incident.acknowledged'],
    ['v3-incident.reassigned-01.json', 'incident.reassigned'],
    ['v3-incident.annotated-01.json', 'incident.annotated'],
    ['v3-incident.priority_updated-01.json', 'incident.priority_updated'],
  ] as const) {
    it(`assisted: a person's ${type} between our fix and the resolve`, function () {
      const c = classifyIncident({
        status: 'resolved',
        resolvedAt: t(9),
        events: [triggered(), event(sample, 4), event('v3-incident.resolved-01.json', 9, { agent: service })],
        remediations: [remediation([fix(1, 2)])],
      });
      assert.equal(c.label, 'assisted');
      assert.match(c.reason, new RegExp(type.replace('.', '\\.')));
    });
  }

  it('our own writes (echoes) are not a person acting, and a person acting before our actions started does not count', function () {
    const c = classifyIncident({
      status: 'resolved',
      resolvedAt: t(9),
      events: [triggered(), event('v3-incident.acknowledged-01.json', 0), event('v3-incident.annotated-01.json', 3, { own: true }), event('v3-incident.resolved-01.json', 9, { agent: service })],
      remediations: [remediation([fix(1, 2)])],
    });
    assert.equal(c.label, 'auto-remediated');
  });

  it('assisted: a person resolved it', function () {
    const c = classifyIncident({ status: 'resolved', resolvedAt: t(5), events: [triggered(), event('v3-incident.resolved-01.json', 5)], remediations: [remediation([fix(1, 2)])] });
    assert.equal(c.label, 'assisted');
  });

  it('assisted: the resolve came after the window, or an action failed, or verification said unverified', function () {
    const resolvedLate = { status: 'resolved', resolvedAt: t(30), events: [event('v3-incident.resolved-01.json', 30, { agent: service })] };
    assert.equal(classifyIncident({ ...resolvedLate, remediations: [remediation([fix(1, 2)])] }).label, 'assisted');
    assert.equal(classifyIncident({ ...resolvedLate, remediations: [remediation([fix(1, 2)], { windowMs: 60 * 60_000 })] }).label, 'auto-remediated');
    const failed = classifyIncident({ ...resolvedLate, resolvedAt: t(3), events: [event('v3-incident.resolved-01.json', 3, { agent: service })], remediations: [remediation([fix(1, 2, 'failed')])] });
    assert.deepEqual([failed.label, failed.reason], ['assisted', 'an action of ours failed']);
    const unverified = classifyIncident({ ...resolvedLate, resolvedAt: t(3), events: [event('v3-incident.resolved-01.json', 3, { agent: service })], remediations: [remediation([fix(1, 2)], { verification: 'unverified' })] });
    assert.deepEqual([unverified.label, unverified.reason], ['assisted', 'our remediation was not verified']);
  });

  it('human: nothing of ours ran (only notifications, a dry run, a rejected approval)', function () {
    const c = classifyIncident({
      status: 'resolved',
      resolvedAt: t(9),
      events: [event('v3-incident.resolved-01.json', 9, { agent: service })],
      remediations: [remediation([fix(1, 1, 'succeeded', 'notify.slack'), fix(1, 1, 'dry_run'), { type: 'script.ssh', status: 'rejected', startedAt: null, finishedAt: t(2) }])],
    });
    assert.deepEqual([c.label, c.final], ['human', true]);
    assert.deepEqual([classifyIncident({ status: 'triggered', resolvedAt: null, events: [], remediations: [] }).final], [false]);
  });

  it('an open incident is not final: assisted so far', function () {
    const c = classifyIncident({ status: 'triggered', resolvedAt: null, events: [triggered()], remediations: [remediation([fix(1, 2)])] });
    assert.deepEqual([c.label, c.final], ['assisted', false]);
  });
});

describe('effectiveness arithmetic', function () {
  it('median, rate, histogram and counts', function () {
    assert.equal(median([]), null);
    assert.equal(median([5, 1, 3]), 3);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(rate(1, 0), null);
    assert.equal(rate(1, 4), 0.25);
    assert.deepEqual(histogram([30, 60, 61, 100_000], [60, 300]), [2, 1, 1]);
    assert.deepEqual(labelCounts([{ label: 'human', final: true, reason: '' }, { label: 'assisted', final: false, reason: '' }]), { 'auto-remediated': 0, assisted: 0, human: 1 });
  });

  it('durations and the rule window', function () {
    assert.equal(durationMs('10m'), 600_000);
    assert.equal(durationMs('90s'), 90_000);
    assert.equal(durationMs(120), 120_000);
    assert.equal(durationMs('soon'), undefined);
    assert.equal(ruleWindowMs({ verify: { within: '1h' } }), 3_600_000);
    assert.equal(ruleWindowMs({}), DEFAULT_WINDOW_MS);
  });
});

describe('dashboard chart data (src/dashboard/client/stats-data.ts)', function () {
  it('fills every day of the range and names the histogram buckets', async function () {
    const { bucketLabels, dailySeries, duration, percent } = await import('../../src/dashboard/client/stats-data.js');
    const [xs, runs, verified] = dailySeries('2026-03-01T00:00:00Z', '2026-03-04T00:00:00Z', [{ day: '2026-03-02', runs: 3, verified: 1 }]);
    assert.deepEqual(xs, [Date.UTC(2026, 2, 1) / 1000, Date.UTC(2026, 2, 2) / 1000, Date.UTC(2026, 2, 3) / 1000]);
    assert.deepEqual(runs, [0, 3, 0]);
    assert.deepEqual(verified, [0, 1, 0]);
    assert.deepEqual(bucketLabels([60, 300, 3600, 86_400]), ['≤ 1m', '≤ 5m', '≤ 1h', '≤ 1d', '> 1d']);
    assert.deepEqual([duration(750), duration(3600), duration(null), percent(2 / 3), percent(null)], ['12m 30s', '1h', '–', '67%', '–']);
  });
});
