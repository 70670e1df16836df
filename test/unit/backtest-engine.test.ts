import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type {
  BacktestLimitError} from '../../src/domain/backtest/index.js';
import {
  definitionLane,
  MAX_DIFF_INCIDENTS,
  MAX_GROUP_KEY_BYTES,
  MAX_INCIDENT_ID_BYTES,
  runBacktest,
  versionsLane,
  warmupSeconds,
  type BacktestSpec,
  type HistoryEvent,
  type RecordedMatch,
} from '../../src/domain/backtest/index.js';
import { parseRuleInput, type RuleInput, type RuleInputDocument } from '../../src/domain/rules/schema.js';
import { TITLE_EXTRACTORS } from '../helpers/history.js';
import { sampleFor } from '../helpers/samples.js';
import { groupText } from '../../src/domain/backtest/bounds.js';

// The engine over hand-made histories with exact times: what each policy does over simulated time.

const SVC = 'PSVC0001';

function def(doc: Partial<RuleInputDocument>): RuleInput {
  const parsed = parseRuleInput({ name: 'r', services: [SVC], actions: [{ id: 'fix', type: 'pagerduty.note', content: 'fix {{ environment.host }} for {{ incident.title }}' }], ...doc });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.value;
}

let seq = 0;
const SAMPLE: Record<string, string> = {
  'incident.triggered': 'v3-incident.triggered-01.json',
  'incident.acknowledged': 'v3-incident.acknowledged-01.json',
  'incident.resolved': 'v3-incident.resolved-01.json',
  'incident.annotated': 'v3-incident.annotated-01.json',
};

/** One stored event of incident `id` on `host`, received at `at`. */
function ev(id: string, at: string, opts: { type?: string; host?: string; env?: string; title?: string; occurredAt?: string; content?: string; matches?: RecordedMatch[]; service?: string } = {}): HistoryEvent {
  const type = opts.type ?? 'incident.triggered';
  const host = opts.host ?? 'web-1';
  const env = opts.env ?? 'prod-eu';
  const title = opts.title ?? `[${host}] ${env}: Disk full`;
  const service = opts.service ?? SVC;
  seq += 1;
  const data =
    type === 'incident.annotated'
      ? { content: opts.content ?? 'note' }
      : { title, urgency: 'high', status: type.split('.')[1] === 'triggered' ? 'triggered' : type === 'incident.resolved' ? 'resolved' : 'acknowledged', service: { id: service, summary: 'svc', type: 'service_reference' } };
  const body = sampleFor(SAMPLE[type]!, id, { eventId: `E${seq}`, occurredAt: opts.occurredAt ?? at, data });
  return {
    seq: String(seq),
    eventId: `E${seq}`,
    incidentId: id,
    eventType: type,
    occurredAt: new Date(opts.occurredAt ?? at),
    receivedAt: new Date(at),
    event: body.event,
    incident: {
      id,
      number: 1,
      title,
      description: null,
      status: 'resolved',
      urgency: 'high',
      priority: null,
      serviceId: service,
      serviceName: 'svc',
      escalationPolicyId: null,
      escalationPolicyName: null,
      assignees: [],
      htmlUrl: `https://example.pagerduty.com/incidents/${id}`,
      incidentKey: null,
      environment: {},
      alerts: null,
    },
    matches: opts.matches ?? [],
  };
}

const ran = (ruleId: string, matchedAt: string, endedAt: string | null, outcome: 'succeeded' | 'failed' | 'inconclusive', target = 'web-1'): RecordedMatch => ({
  ruleId,
  ruleVersion: 1,
  decision: 'run',
  skipReason: null,
  target,
  matchedAt: new Date(matchedAt),
  run: { endedAt: endedAt ? new Date(endedAt) : null, open: endedAt === null, outcome, actions: 1 },
});

async function* stream(events: HistoryEvent[]): AsyncGenerator<HistoryEvent> {
  for (const e of events) yield e;
}

function spec(candidate: RuleInput, extra: Partial<BacktestSpec> = {}): BacktestSpec {
  return {
    candidate: definitionLane(candidate, { id: 'rule-1', version: 1 }),
    from: new Date('2026-11-01T00:00:00Z'),
    to: new Date('2026-12-01T00:00:00Z'),
    warmupFrom: new Date('2026-11-01T00:00:00Z'),
    extractors: TITLE_EXTRACTORS,
    environmentWindows: new Map(),
    otherRules: new Map(),
    assumedRunSeconds: 300,
    filters: {},
    page: { offset: 0, limit: 500, only: 'all' },
    budget: { maxEvents: 1_000_000, deadline: Infinity, clock: () => 0 },
    ...extra,
  };
}

/** `decision/policy` per event, in order. */
async function decisions(events: HistoryEvent[], s: BacktestSpec): Promise<string[]> {
  const r = await runBacktest(stream(events), s);
  return r.items.map((i) => (i.candidate.matched ? `${i.candidate.decision}${i.candidate.policy ? `/${i.candidate.policy}` : ''}` : i.candidate.evaluated ? 'no match' : `not evaluated${i.candidate.skippedBecause ? `: ${i.candidate.skippedBecause}` : ''}`));
}

describe('backtest engine (src/domain/backtest)', function () {
  it('rate limit: a sliding window over simulated time', async function () {
    const times = ['10:00', '10:10', '10:20', '11:05', '11:15', '11:20'];
    const events = times.map((t, i) => ev(`I${i}`, `2026-11-10T${t}:00Z`, { host: `h-${i}` }));
    assert.deepEqual(await decisions(events, spec(def({ policies: { rateLimit: { max: 2, windowSeconds: 3600 } } }))), ['run', 'run', 'skipped/rate_limit', 'run', 'run', 'skipped/rate_limit']);
  });

  it('cooldown: per target, from the last run on it', async function () {
    const events = [ev('A', '2026-11-10T10:00:00Z', { host: 'a' }), ev('B', '2026-11-10T10:20:00Z', { host: 'a' }), ev('C', '2026-11-10T10:25:00Z', { host: 'b' }), ev('D', '2026-11-10T10:31:00Z', { host: 'a' })];
    assert.deepEqual(await decisions(events, spec(def({ policies: { cooldownSeconds: 1800 } }))), ['run', 'skipped/cooldown', 'run', 'run']);
  });

  it('concurrency: a run holds its target for its recorded duration, else the assumed one; other rules’ recorded runs hold it too', async function () {
    const events = [
      ev('A', '2026-11-10T10:00:00Z', { host: 'h', matches: [ran('rule-1', '2026-11-10T10:00:01Z', '2026-11-10T10:30:00Z', 'succeeded', 'h')] }),
      ev('B', '2026-11-10T10:10:00Z', { host: 'h' }),
      ev('C', '2026-11-10T10:35:00Z', { host: 'h' }), // no recorded run: holds 300 s (assumed)
      ev('D', '2026-11-10T10:38:00Z', { host: 'h' }),
      ev('E', '2026-11-10T10:41:00Z', { host: 'h' }),
      // Another rule remediated h from 11:00 to 11:20 (its incident was of another service).
      ev('X', '2026-11-10T11:00:00Z', { host: 'h', service: 'POTHER01', matches: [ran('rule-other', '2026-11-10T11:00:00Z', '2026-11-10T11:20:00Z', 'succeeded', 'h')] }),
      ev('F', '2026-11-10T11:05:00Z', { host: 'h' }),
      ev('G', '2026-11-10T11:25:00Z', { host: 'h' }),
    ];
    const r = await runBacktest(stream(events), spec(def({ policies: { concurrencyPerTarget: 1 } })));
    const byIncident = Object.fromEntries(r.items.map((i) => [i.incident.id, i.candidate]));
    assert.deepEqual(
      ['A', 'B', 'C', 'D', 'E', 'F', 'G'].map((id) => `${id} ${byIncident[id]!.decision}${byIncident[id]!.policy ? `/${byIncident[id]!.policy}` : ''}`),
      ['A run', 'B skipped/concurrency', 'C run', 'D skipped/concurrency', 'E run', 'F skipped/concurrency', 'G run'],
    );
    assert.equal(byIncident.A!.holdFrom, 'recorded');
    // Recorded: 30 min; a lease expires after leaseSeconds (here 1200 s: a 300 s margin, a note's 8 attempts of
    // the preset's 60 s and the 7 pauses of 60 s between them), so it held 1200 s.
    assert.equal(byIncident.A!.holdSeconds, 1200);
    assert.equal(byIncident.C!.holdFrom, 'assumed');
    assert.equal(byIncident.C!.holdSeconds, 300);
    assert.equal(r.summary.candidate.assumptions.holdsAssumed, 3);
    assert.ok(!r.items.some((i) => i.incident.id === 'X'), 'the other service’s incident is not this rule’s to list');
  });

  it('circuit breaker: fed by recorded outcomes at the runs’ ends, unknown outcomes not counted, a half-open trial after resetSeconds', async function () {
    const rule = def({ policies: { circuitBreaker: { failureThreshold: 2, resetSeconds: 3600 } } });
    const events = [
      ev('A', '2026-11-10T10:00:00Z', { matches: [ran('rule-1', '2026-11-10T10:00:00Z', '2026-11-10T10:01:00Z', 'failed')] }),
      ev('U', '2026-11-10T10:02:00Z', { host: 'web-9' }), // no recorded outcome: unknown, not counted
      ev('B', '2026-11-10T10:05:00Z', { matches: [ran('rule-1', '2026-11-10T10:05:00Z', '2026-11-10T10:06:00Z', 'failed')] }),
      ev('C', '2026-11-10T10:05:30Z', { host: 'web-2' }), // before B ended: the breaker is still closed
      ev('D', '2026-11-10T10:10:00Z', { host: 'web-3' }),
      ev('E', '2026-11-10T11:07:00Z', { host: 'web-4', matches: [ran('rule-1', '2026-11-10T11:07:00Z', '2026-11-10T11:08:00Z', 'succeeded', 'web-4')] }),
      ev('F', '2026-11-10T11:07:30Z', { host: 'web-5' }),
      ev('G', '2026-11-10T11:10:00Z', { host: 'web-6' }),
    ];
    assert.deepEqual(await decisions(events, spec(rule)), ['run', 'run', 'run', 'run', 'notify_only/breaker_open', 'run/breaker_trial', 'notify_only/breaker_half_open', 'run']);
    const r = await runBacktest(stream(events), spec(rule));
    assert.equal(r.items[1]!.candidate.outcome, 'unknown');
    assert.equal(r.items[0]!.candidate.outcomeFrom, 'this rule');
  });

  it('an outcome recorded for the same target by another rule stands in for this rule’s', async function () {
    const rule = def({ policies: { circuitBreaker: { failureThreshold: 1, resetSeconds: 3600 } } });
    const events = [ev('A', '2026-11-10T10:00:00Z', { matches: [ran('rule-other', '2026-11-10T10:00:00Z', '2026-11-10T10:00:30Z', 'failed')] }), ev('B', '2026-11-10T10:05:00Z', { host: 'web-2' })];
    const r = await runBacktest(stream(events), spec(rule));
    assert.deepEqual([r.items[0]!.candidate.outcomeFrom, r.items[0]!.candidate.outcome, r.items[1]!.candidate.decision], ['same target', 'failed', 'notify_only']);
  });

  it('maintenance windows in their time zones: the rule’s (weekends in Paris) and the environment’s (nights in New York)', async function () {
    const rule = def({ policies: { maintenanceWindows: [{ days: ['sat', 'sun'], start: '00:00', end: '24:00', timezone: 'Europe/Paris' }] } });
    const events = [
      ev('A', '2026-11-13T22:30:00Z'), // Friday 23:30 in Paris
      ev('B', '2026-11-13T23:30:00Z'), // Saturday 00:30 in Paris
      ev('C', '2026-11-17T03:00:00Z', { host: 'db-1', env: 'prod-us' }), // Monday 22:00 in New York
      ev('D', '2026-11-17T12:00:00Z', { host: 'db-2', env: 'prod-us' }), // Tuesday 07:00 in New York
    ];
    const environmentWindows = new Map([['prod-us', [{ days: ['mon' as const], start: '21:00', end: '06:00', timezone: 'America/New_York' }]]]);
    assert.deepEqual(await decisions(events, spec(rule, { environmentWindows })), ['run', 'skipped/maintenance_window', 'skipped/maintenance_window', 'run']);
  });

  it('the incident as each event left it: stale events and Self-healing’s own notes are not matched, a resolved incident’s later events are skipped', async function () {
    const rule = def({ eventTypes: ['incident.triggered', 'incident.acknowledged', 'incident.annotated'] });
    const events = [
      ev('A', '2026-11-10T10:00:00Z'),
      ev('A', '2026-11-10T10:01:00Z', { type: 'incident.acknowledged', occurredAt: '2026-11-10T09:59:00Z' }), // older than the trigger
      ev('A', '2026-11-10T10:02:00Z', { type: 'incident.annotated', content: '[self-healing] Rule "r" (v1): fix ran' }),
      ev('A', '2026-11-10T10:03:00Z', { type: 'incident.annotated', content: 'by hand' }),
      ev('A', '2026-11-10T10:04:00Z', { type: 'incident.resolved' }),
      ev('A', '2026-11-10T10:05:00Z', { type: 'incident.annotated', content: 'post-mortem' }),
    ];
    const r = await runBacktest(stream(events), spec(rule));
    // Stale events and own notes produce no item; the resolve event is not in the rule's event types.
    assert.deepEqual(
      r.items.map((i) => `${i.eventType} ${i.candidate.matched ? `${i.candidate.decision}${i.candidate.policy ? `/${i.candidate.policy}` : ''}` : 'no'}`),
      ['incident.triggered run', 'incident.annotated run', 'incident.resolved no', 'incident.annotated skipped/resolved'],
    );
    assert.equal(r.summary.events.stale, 1);
    // The annotation (a sub-resource event) still sees the incident's title and service.
    assert.equal(r.items[1]!.incident.title, '[web-1] prod-eu: Disk full');
    assert.deepEqual(r.items[0]!.candidate.actions, [{ id: 'fix', type: 'pagerduty.note', when: 'success', params: { content: 'fix web-1 for [web-1] prod-eu: Disk full' } }]);
  });

  it('a resolve that occurred just before a note and arrived after it is replayed as a resolve, as the pipeline stores it', async function () {
    const rule = def({ eventTypes: ['incident.resolved'] });
    const events = [
      ev('B', '2026-11-10T10:00:00Z'),
      ev('B', '2026-11-10T10:05:01Z', { type: 'incident.annotated', content: 'resolving', occurredAt: '2026-11-10T10:05:00.200Z' }),
      ev('B', '2026-11-10T10:05:02Z', { type: 'incident.resolved', occurredAt: '2026-11-10T10:05:00.100Z' }),
    ];
    const r = await runBacktest(stream(events), spec(rule));
    assert.equal(r.summary.events.stale, 0);
    assert.deepEqual(r.items.map((i) => `${i.eventType} ${i.candidate.matched ? i.candidate.decision : 'no'}`), ['incident.triggered no', 'incident.annotated no', 'incident.resolved run']);
  });

  it('diff: an edited rule against the current version and the recorded decisions, with the incidents behind each change', async function () {
    const current = def({ conditions: { field: 'incident.title', op: 'contains', value: 'Disk' } });
    const edited = def({ conditions: { field: 'incident.title', op: 'contains', value: 'web-' }, policies: { cooldownSeconds: 3600 } });
    const recordedRun = (t: string): RecordedMatch => ({ ...ran('rule-1', t, t, 'succeeded'), run: null });
    const events = [
      ev('A', '2026-11-10T10:00:00Z', { host: 'web-1', matches: [recordedRun('2026-11-10T10:00:00Z')] }), // both match, run
      ev('B', '2026-11-10T10:10:00Z', { host: 'web-1', matches: [recordedRun('2026-11-10T10:10:00Z')] }), // edited: cooldown → newly suppressed
      ev('C', '2026-11-10T10:20:00Z', { host: 'db-1', matches: [recordedRun('2026-11-10T10:20:00Z')] }), // edited: no longer matched
      ev('D', '2026-11-10T10:30:00Z', { host: 'web-2', title: '[web-2] prod-eu: CPU high' }), // edited: newly matched
    ];
    const s = spec(edited, { baseline: definitionLane(current, { id: 'rule-1', version: 3 }), ruleId: 'rule-1', page: { offset: 0, limit: 50, only: 'changed' } });
    const r = await runBacktest(stream(events), s);
    assert.deepEqual(r.summary.vsCurrent!.counts, { newly_matched: 1, no_longer_matched: 1, newly_suppressed: 1, no_longer_suppressed: 0 });
    assert.deepEqual(r.summary.vsCurrent!.incidents, { newly_matched: ['D'], no_longer_matched: ['C'], newly_suppressed: ['B'], no_longer_suppressed: [] });
    assert.deepEqual(r.summary.vsRecorded!.counts, { newly_matched: 1, no_longer_matched: 1, newly_suppressed: 1, no_longer_suppressed: 0 });
    assert.deepEqual(r.summary.vsRecorded!.agreement, { same: 1, of: 4 });
    assert.deepEqual(r.items.map((i) => [i.incident.id, i.changes.vsCurrent]), [['B', 'newly_suppressed'], ['C', 'no_longer_matched'], ['D', 'newly_matched']]);
    assert.equal(r.items[0]!.baseline!.decision, 'run');
    assert.equal(r.items[0]!.recorded!.decision, 'run');
    assert.equal(r.summary.baseline!.matched, 3);
  });

  it('diff incidents: the first 100 distinct ids of at most 256 bytes listed, every other incident counted in incidentsOmitted, the event counts exact', async function () {
    // 150 incidents matched twice each (newly matched: nothing recorded), and 5 whose id is 300 KB long.
    const events: HistoryEvent[] = [];
    for (let i = 0; i < 150; i++) for (const m of ['00', '30']) events.push(ev(`I${String(i).padStart(3, '0')}`, `2026-11-10T10:${m}:${String(i % 60).padStart(2, '0')}Z`, { host: `h${i}` }));
    const long = Array.from({ length: 5 }, (_, i) => `L${i}-${'x'.repeat(300_000)}`);
    for (const id of long) events.push(ev(id, '2026-11-10T11:00:00Z', { host: 'h-long' }));
    events.sort((a, b) => a.receivedAt.getTime() - b.receivedAt.getTime());
    const r = await runBacktest(stream(events), spec(def({}), { ruleId: 'rule-1', page: { offset: 0, limit: 0, only: 'matched' } }));
    const d = r.summary.vsRecorded!;
    assert.deepEqual(d.counts, { newly_matched: 305, no_longer_matched: 0, newly_suppressed: 0, no_longer_suppressed: 0 });
    assert.equal(d.incidents.newly_matched.length, MAX_DIFF_INCIDENTS);
    assert.equal(new Set(d.incidents.newly_matched).size, MAX_DIFF_INCIDENTS);
    assert.ok(d.incidents.newly_matched.every((id) => Buffer.byteLength(id) <= MAX_INCIDENT_ID_BYTES));
    assert.deepEqual(d.incidentsOmitted, { newly_matched: 55, no_longer_matched: 0, newly_suppressed: 0, no_longer_suppressed: 0 });
    assert.ok(JSON.stringify(d).length < 5_000, `${JSON.stringify(d).length} characters`);
    // Few incidents, short ids: all listed, none omitted.
    const few = await runBacktest(stream([ev('A', '2026-11-10T10:00:00Z'), ev('A', '2026-11-10T10:05:00Z'), ev(long[0]!, '2026-11-10T10:06:00Z')]), spec(def({}), { ruleId: 'rule-1' }));
    assert.deepEqual([few.summary.vsRecorded!.counts.newly_matched, few.summary.vsRecorded!.incidents.newly_matched, few.summary.vsRecorded!.incidentsOmitted.newly_matched], [3, ['A'], 1]);
  });

  it('per-hour firings and their peak; counts by service and environment', async function () {
    const events: HistoryEvent[] = [];
    for (let i = 0; i < 7; i++) events.push(ev(`S${i}`, `2026-11-10T14:${String(i * 8).padStart(2, '0')}:00Z`, { host: `h${i}`, env: i < 5 ? 'prod-eu' : 'prod-us' }));
    events.push(ev('T', '2026-11-10T16:30:00Z', { host: 'hx' }));
    const rule = def({ actions: [{ id: 'a', type: 'pagerduty.note', content: 'x' }, { id: 'b', type: 'pagerduty.escalate', level: 2, when: 'failure' }, { id: 'c', type: 'pagerduty.note', content: 'y', when: 'always' }] });
    const r = await runBacktest(stream(events), spec(rule));
    assert.deepEqual(r.summary.candidate.peakPerHour, { hour: '2026-11-10T14:00:00.000Z', firings: 7, actions: 14 });
    assert.deepEqual(r.summary.candidate.perHour.map((h) => [h.hour.slice(11, 13), h.firings]), [['14', 7], ['16', 1]]);
    assert.deepEqual(r.summary.candidate.byEnvironment.map((g) => [g.key, g.matched]), [['prod-eu', 6], ['prod-us', 2]]);
    assert.deepEqual(r.summary.candidate.byService.map((g) => [g.key, g.name, g.fired]), [[SVC, 'svc', 8]]);
    assert.deepEqual([r.summary.candidate.byServiceOmitted, r.summary.candidate.byEnvironmentOmitted], [0, 0]);
  });

  it('a window of a year counts perHour in 12-hour buckets (730, not 8,760 hours) and keeps the busiest single hour as the peak', async function () {
    // A firing every hour of the year (one incident each, an hour apart), three in the hour of 2026-06-01T05.
    const from = new Date('2025-12-01T00:00:00Z');
    const to = new Date('2026-12-01T00:00:00Z');
    const events: HistoryEvent[] = [];
    for (let t = from.getTime(), i = 0; t < to.getTime(); t += 3_600_000, i++) events.push(ev(`Y${i}`, new Date(t + 60_000).toISOString(), { host: `h${i}` }));
    for (let i = 0; i < 2; i++) events.push(ev(`Z${i}`, `2026-06-01T05:3${i}:00Z`, { host: `z${i}` }));
    const r = await runBacktest(stream(events), spec(def({ actions: [{ id: 'a', type: 'pagerduty.note', content: 'x' }] }), { from, to, warmupFrom: from }));
    const s = r.summary.candidate;
    assert.equal(s.firings, 8760 + 2);
    assert.equal(s.perHourBucketHours, 12);
    assert.equal(s.perHour.length, 730);
    assert.deepEqual(s.perHour[0], { hour: '2025-12-01T00:00:00.000Z', firings: 12, actions: 12 });
    assert.deepEqual(s.perHour.find((h) => h.hour === '2026-06-01T00:00:00.000Z'), { hour: '2026-06-01T00:00:00.000Z', firings: 14, actions: 14 });
    assert.equal(s.perHour.reduce((n, h) => n + h.firings, 0), s.firings);
    assert.deepEqual(s.peakPerHour, { hour: '2026-06-01T05:00:00.000Z', firings: 3, actions: 3 });
    // The default 30 days keep an hour each.
    const month = await runBacktest(stream(events.slice(0, 48)), spec(def({ actions: [{ id: 'a', type: 'pagerduty.note', content: 'x' }] }), { from, to: new Date(from.getTime() + 30 * 86_400_000), warmupFrom: from }));
    assert.deepEqual([month.summary.candidate.perHourBucketHours, month.summary.candidate.perHour.length], [1, 48]);
  });

  it('a summary keeps the 100 environments with the most matches and counts the others (one group per distinct extracted value)', async function () {
    const events: HistoryEvent[] = [];
    // 'prod-eu' matches three times; 249 other environments once each (hostile alerts: a new value every event).
    for (let i = 0; i < 3; i++) events.push(ev(`E${i}`, `2026-11-10T10:0${i}:00Z`, { host: 'h', env: 'prod-eu' }));
    for (let i = 0; i < 249; i++) events.push(ev(`X${i}`, new Date(Date.UTC(2026, 10, 10, 11) + i * 1000).toISOString(), { host: 'h', env: `env-${String(i).padStart(3, '0')}-${'x'.repeat(200)}` }));
    const r = await runBacktest(stream(events), spec(def({})));
    const s = r.summary.candidate;
    assert.equal(s.matched, 252);
    assert.equal(s.byEnvironment.length, 100);
    assert.equal(s.byEnvironmentOmitted, 150);
    assert.deepEqual([s.byEnvironment[0]!.key, s.byEnvironment[0]!.matched], ['prod-eu', 3]);
    assert.ok(JSON.stringify(s).length < 100 * 400, `${JSON.stringify(s).length} characters`);
  });

  it('a group key and name of megabytes (a hostile service id and name) are cut to 1,024 bytes of UTF-8 ending with …(truncated #<32 hex of their SHA-256>): two that start alike stay two groups', async function () {
    // 'Ω' is 2 bytes of UTF-8: each value is 4 MB; two incidents whose values differ past the cut, so the
    // hash of the whole value tells them apart (they were one group).
    const huge = (tail: string) => `P${'Ω'.repeat(2_000_000)}${tail}`;
    const events = ['a', 'b'].map((tail, i) => {
      const e = ev(`H${i}`, `2026-11-10T10:0${i}:00Z`, { service: huge(tail), host: 'h' });
      ((e.event as { data: { service: { summary: string } } }).data.service).summary = huge(tail);
      e.incident.serviceName = huge(tail);
      return e;
    });
    const r = await runBacktest(stream(events), spec(def({ services: ['*'] })));
    const groups = r.summary.candidate.byService;
    assert.equal(r.summary.candidate.matched, 2);
    for (const text of groups.flatMap((g) => [g.key, g.name!])) {
      assert.ok(Buffer.byteLength(text) <= MAX_GROUP_KEY_BYTES, `${Buffer.byteLength(text)} bytes`);
      assert.match(text.slice(-60), /…\(truncated #[0-9a-f]{32}\)$/);
      assert.ok(text.startsWith('PΩΩ'));
    }
    const hash = (tail: string) => createHash('sha256').update(huge(tail)).digest('hex').slice(0, 32);
    assert.deepEqual(groups.map((g) => [g.key.slice(-46), g.name!.slice(-46), g.matched]).sort(), [
      [`…(truncated #${hash('a')})`, `…(truncated #${hash('a')})`, 1],
      [`…(truncated #${hash('b')})`, `…(truncated #${hash('b')})`, 1],
    ].sort());
    assert.equal(MAX_GROUP_KEY_BYTES, 1024);
    assert.ok(JSON.stringify(r.summary).length < 20_000, `${JSON.stringify(r.summary).length} characters`);
  });

  it('an incident whose service reads as the cut form of another, or as (none), is a group of its own: it does not count in theirs', async function () {
    const long = `P${'x'.repeat(2_000)}`;
    const cutForm = groupText(long);
    const events = [long, cutForm, '(none)', null].map((service, i) => {
      const e = ev(`M${i}`, `2026-11-10T10:0${i}:00Z`, { service: service ?? 'PLAIN', host: 'h' });
      if (service === null) {
        e.incident.serviceId = null;
        delete (e.event as { data: { service?: unknown } }).data.service;
      }
      return e;
    });
    const r = await runBacktest(stream(events), spec(def({ services: ['*'] })));
    const keys = r.summary.candidate.byService.map((g) => [g.key, g.matched] as const);
    assert.equal(keys.length, 4, JSON.stringify(keys.map(([k, n]) => [k.slice(-50), n])));
    assert.ok(keys.every(([, n]) => n === 1));
    assert.equal(keys.filter(([k]) => k === cutForm).length, 1, "the cut form is the long value's group only");
    assert.equal(keys.filter(([k]) => k === '(none)').length, 1, '(none) is the group of the event with no service only');
  });

  it('pages: offset and limit over the events listed, the total counted over all of them, filters for what is reported', async function () {
    const events = Array.from({ length: 12 }, (_, i) => ev(`P${i}`, `2026-11-10T10:${String(i).padStart(2, '0')}:00Z`, { host: `h${i}`, env: i % 2 ? 'prod-us' : 'prod-eu' }));
    const r = await runBacktest(stream(events), spec(def({}), { page: { offset: 5, limit: 4, only: 'matched' } }));
    assert.equal(r.totalItems, 12);
    assert.deepEqual(r.items.map((i) => i.incident.id), ['P5', 'P6', 'P7', 'P8']);
    const filtered = await runBacktest(stream(events), spec(def({ policies: { rateLimit: { max: 6, windowSeconds: 3600 } } }), { filters: { environments: new Set(['prod-us']) } }));
    // Every event counts for the rate limit; only prod-us is reported.
    assert.deepEqual(filtered.items.map((i) => `${i.incident.id} ${i.candidate.decision}`), ['P1 run', 'P3 run', 'P5 run', 'P7 skipped', 'P9 skipped', 'P11 skipped']);
  });

  it('warm-up events build the policy state and are not reported', async function () {
    const rule = def({ policies: { rateLimit: { max: 1, windowSeconds: 3600 } } });
    const events = [ev('W', '2026-11-10T09:30:00Z'), ev('A', '2026-11-10T10:10:00Z', { host: 'web-2' })];
    const r = await runBacktest(stream(events), spec(rule, { warmupFrom: new Date('2026-11-10T09:00:00Z'), from: new Date('2026-11-10T10:00:00Z') }));
    assert.deepEqual(r.items.map((i) => `${i.incident.id} ${i.candidate.decision}`), ['A skipped']);
    assert.equal(r.summary.events.read, 2);
    assert.equal(warmupSeconds([definitionLane(rule, { id: 'x', version: 1 })]), 3600);
  });

  it('the versions of a stored rule as they were: disabled and deleted versions do not match, state carries over', async function () {
    const v1 = def({ policies: { rateLimit: { max: 1, windowSeconds: 86_400 } } });
    const lane = versionsLane('rule-1', [
      { version: 1, createdAt: new Date('2026-11-10T09:30:00Z'), change: 'create', definition: v1 },
      { version: 2, createdAt: new Date('2026-11-10T11:00:00Z'), change: 'update', definition: { ...v1, enabled: false } },
      { version: 3, createdAt: new Date('2026-11-10T12:00:00Z'), change: 'update', definition: { ...v1, policies: { rateLimit: { max: 2, windowSeconds: 86_400 } } } },
      { version: 4, createdAt: new Date('2026-11-10T13:00:00Z'), change: 'delete', definition: v1 },
    ]);
    const events = ['09:00', '10:00', '10:30', '11:30', '12:30', '13:30'].map((t, i) => ev(`V${i}`, `2026-11-10T${t}:00Z`, { host: `h${i}` }));
    assert.deepEqual(await decisions(events, { ...spec(v1), candidate: lane }), [
      'not evaluated: the rule did not exist yet',
      'run',
      'skipped/rate_limit',
      'not evaluated: version 2 was disabled or deleted',
      'run',
      'not evaluated: version 4 was disabled or deleted',
    ]);
  });

  it('a rule matched first with stopOnMatch stops this one, as the live matcher does', async function () {
    const events = [ev('A', '2026-11-10T10:00:00Z', { matches: [{ ...ran('rule-stop', '2026-11-10T10:00:00Z', null, 'inconclusive'), run: null }] })];
    const otherRules = new Map([['rule-stop', { id: 'rule-stop', name: 'aaa', priority: 1, stopOnMatch: true, dryRun: false, team: 'default' }]]);
    assert.deepEqual(await decisions(events, spec(def({}), { otherRules })), ['not evaluated: rule aaa matched first and stops matching (stopOnMatch)']);
    const lower = new Map([['rule-stop', { id: 'rule-stop', name: 'zzz', priority: 500, stopOnMatch: true, dryRun: false, team: 'default' }]]);
    assert.deepEqual(await decisions(events, spec(def({}), { otherRules: lower })), ['run']);
    // Another team's stopOnMatch does not reach this rule, live or replayed.
    const elsewhere = new Map([['rule-stop', { id: 'rule-stop', name: 'aaa', priority: 1, stopOnMatch: true, dryRun: false, team: 'shop' }]]);
    assert.deepEqual(await decisions(events, spec(def({}), { otherRules: elsewhere })), ['run']);
  });

  it('an unknown target with a cooldown is skipped and said so', async function () {
    const events = [ev('A', '2026-11-10T10:00:00Z', { title: 'no host in this title' })];
    const r = await runBacktest(stream(events), spec(def({ policies: { cooldownSeconds: 60 } })));
    assert.equal(r.items[0]!.target, null);
    assert.equal(r.items[0]!.candidate.policy, 'unknown_target');
  });

  it('stops at the event cap and at the time budget', async function () {
    const events = Array.from({ length: 600 }, (_, i) => ev(`L${i}`, new Date(Date.parse('2026-11-10T00:00:00Z') + i * 60_000).toISOString()));
    await assert.rejects(runBacktest(stream(events), spec(def({}), { budget: { maxEvents: 100, deadline: Infinity, clock: () => 0 } })), (err: BacktestLimitError) => err.limit === 'events' && err.processed === 100);
    let now = 0;
    const clock = () => (now += 1000); // one second per look at the clock
    await assert.rejects(
      runBacktest(stream(events), spec(def({}), { budget: { maxEvents: 1_000_000, deadline: 500, clock } })),
      // At the first event past the deadline, not 256 events on (found in review).
      (err: BacktestLimitError) => err.limit === 'time' && err.processed < 5 && err.reachedAt !== null && err.reachedAt.getTime() < Date.parse('2026-11-10T00:05:00Z'),
    );
  });
});
