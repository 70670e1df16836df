import assert from 'node:assert/strict';
import type proto from '@temporalio/proto';
import { perIncident, pgWritesBetween } from '../../bench/pg-writes.js';
import { figuresOf, toMarkdown, type BenchResults } from '../../bench/report.js';
import { memoryFigures } from '../../bench/report-capacity.js';
import { planOf, sameSteps } from '../../bench/same-shape.js';
import { cloudActions, readHistory, stepsText, totalCounts, type WorkflowShape } from '../../bench/shape.js';
import type { EndToEndResults } from '../../bench/end-to-end.js';

type Event = proto.temporal.api.history.v1.IHistoryEvent;

// The incident workflow's history for one event, one rule, one no-op action, in the order the server
// records it (attributes only where the reader looks).
const incidentHistory: Event[] = [
  { workflowExecutionStartedEventAttributes: { workflowType: { name: 'incidentWorkflow' } } },
  { workflowExecutionSignaledEventAttributes: {} },
  { workflowTaskScheduledEventAttributes: {} },
  { workflowTaskStartedEventAttributes: {} },
  { workflowTaskCompletedEventAttributes: {} },
  { markerRecordedEventAttributes: { markerName: 'core_local_activity' } },
  { markerRecordedEventAttributes: { markerName: 'core_patch' } },
  { upsertWorkflowSearchAttributesEventAttributes: {} },
  { startChildWorkflowExecutionInitiatedEventAttributes: { workflowId: 'rule-run-1' } },
  { workflowTaskCompletedEventAttributes: {} },
  { workflowExecutionSignaledEventAttributes: {} },
  { workflowTaskCompletedEventAttributes: {} },
];
const ruleRunHistory: Event[] = [
  { workflowExecutionStartedEventAttributes: { workflowType: { name: 'ruleRunWorkflow' } } },
  { workflowTaskCompletedEventAttributes: {} },
  { markerRecordedEventAttributes: { markerName: 'core_local_activity' } },
  { activityTaskScheduledEventAttributes: {} },
  { workflowTaskCompletedEventAttributes: {} },
  { markerRecordedEventAttributes: { markerName: 'core_local_activity' } },
  { markerRecordedEventAttributes: { markerName: 'core_local_activity' } },
  { signalExternalWorkflowExecutionInitiatedEventAttributes: {} },
  { timerStartedEventAttributes: {} },
  { workflowTaskCompletedEventAttributes: {} },
];

function shapeOf(events: Event[], children: WorkflowShape[] = []): WorkflowShape {
  const read = readHistory(events, 1000);
  return { workflowType: read.workflowType, steps: read.steps, counts: read.counts, children };
}

describe('bench: an incident’s Temporal shape and its floor', function () {
  const child = shapeOf(ruleRunHistory);
  const incident = shapeOf(incidentHistory, [child]);

  it('reads the commands of a history in order and counts them (patch markers are not local activities)', function () {
    const read = readHistory(incidentHistory, 1234);
    assert.equal(read.workflowType, 'incidentWorkflow');
    assert.deepEqual(read.steps, ['localActivity', 'upsert', 'child']);
    assert.deepEqual(read.childIds, ['rule-run-1']);
    assert.equal(read.counts.events, 12);
    assert.equal(read.counts.workflowTasks, 3);
    assert.equal(read.counts.localActivities, 1);
    assert.equal(read.counts.signalsReceived, 2);
    assert.equal(read.counts.historyBytes, 1234);
    assert.deepEqual(child.steps, ['localActivity', 'activity', 'localActivity', 'localActivity', 'signal', 'timer']);
  });

  it('sums an incident over its workflows and counts its Temporal Cloud actions rule by rule', function () {
    const total = totalCounts(incident);
    assert.equal(total.workflows, 2);
    assert.equal(total.events, 22);
    assert.equal(total.localActivities, 4);
    assert.equal(total.activities, 1);
    assert.equal(total.historyBytes, 2000);
    // Incident: start 1 + 2 signals received + 1 upsert + local activities in 1 of its tasks (min(1, 3)) = 5.
    // Rule run: its start 1 + 1 activity + 1 timer + local activities min(3, 3) = 6; the signal it sends is
    // the incident's second one, counted there.
    assert.equal(cloudActions(incident), 5 + 6);
  });

  it('plans the floor from the shape: same steps, the children’s plans, the signals beyond the starting one', function () {
    const plan = planOf(incident);
    assert.deepEqual(plan.steps, ['localActivity', 'upsert', 'child']);
    assert.equal(plan.extraSignals, 1);
    assert.equal(plan.children.length, 1);
    assert.deepEqual(plan.children[0]!.steps, child.steps);
    assert.equal(plan.children[0]!.extraSignals, 0);
  });

  it('folds repeated steps when it prints them (a job run is hundreds of activities)', function () {
    assert.equal(stepsText(['activity', 'activity', 'activity', 'localActivity']), 'activity ×3 → localActivity');
    assert.equal(stepsText([]), 'none');
  });

  it('tells shapes with the same commands from shapes that differ anywhere, children included', function () {
    assert.equal(sameSteps(incident, structuredClone(incident)), true);
    const otherChild = structuredClone(incident);
    otherChild.children[0]!.steps.pop();
    assert.equal(sameSteps(incident, otherChild), false);
    const noChild = { ...structuredClone(incident), children: [] };
    assert.equal(sameSteps(incident, noChild), false);
  });

  it('counts Postgres writes between two snapshots, less the bench’s own queries, per incident', function () {
    const before = { transactions: 100, tables: { incidents: { inserted: 5, updated: 1, deleted: 0 } } };
    const after = {
      transactions: 1130,
      tables: { incidents: { inserted: 205, updated: 201, deleted: 0 }, action_runs: { inserted: 200, updated: 200, deleted: 0 }, rules: { inserted: 0, updated: 0, deleted: 0 } },
    };
    const w = pgWritesBetween(before, after, 30);
    assert.deepEqual(w, { transactions: 1000, rowsWritten: 800, byTable: { incidents: 400, action_runs: 400 } });
    assert.deepEqual(perIncident(w, 200), { transactions: 5, rowsWritten: 4, byTable: { incidents: 2, action_runs: 2 } });
  });

  describe('the storm figures against the floor', function () {
    const latency = { count: 300, p50Ms: 0, p99Ms: 0, maxMs: 0 };
    const cpu = { seconds: 1, parts: { temporal: 0, api: 0, worker: 0, postgres: 0, bench: 0 }, machineBusy: 0 };
    const results = (real: { perSecond: number; p50: number; complete?: boolean }, floor: { perSecond: number; p50: number }): Omit<BenchResults, 'figures'> => {
      const endToEnd: EndToEndResults = {
        shape: { workflows: incident, total: totalCounts(incident), cloudActions: cloudActions(incident) },
        floor: {
          incidents: 300,
          startedSeconds: 1,
          drainSeconds: 300 / floor.perSecond,
          processedPerSecond: floor.perSecond,
          finished: 300,
          toActionStarted: { ...latency, p50Ms: floor.p50, p99Ms: floor.p50 * 2 },
          complete: true,
          cpu,
          cpuPerIncidentMs: cpu.parts,
          shape: incident,
        },
        latency: { rate: 5, incidents: 20, toActionStarted: latency, toSink: latency, missing: 0 },
        storm: {
          incidents: 300,
          deliverSeconds: 1,
          deliverPerSecond: 300,
          accepted: 300,
          redeliveries: 0,
          persisted: 300,
          actionsFinished: 300,
          actionsSucceeded: 300,
          drainSeconds: 300 / real.perSecond,
          processedPerSecond: real.perSecond,
          toActionStarted: { ...latency, p50Ms: real.p50, p99Ms: real.p50 * 2 },
          complete: real.complete ?? true,
          cpu,
          cpuPerIncidentMs: cpu.parts,
          pgWritesPerIncident: { transactions: 13, rowsWritten: 9, byTable: { incidents: 2 } },
        },
      };
      return { generatedAt: '', quick: true, machine: { cpus: 2, cpuModel: 'x', node: 'v22', platform: 'linux', temporal: 't', postgres: 'p', loadAverage: { start: [], end: [] } }, durationSeconds: 1, endToEnd, errors: [] };
    };
    const row = (r: Omit<BenchResults, 'figures'>, start: string) => figuresOf(r).find((x) => x.name.startsWith(start))!;

    it('passes throughput at 0.8 × the floor and fails below it, or when the storm was incomplete', function () {
      const at = row(results({ perSecond: 40, p50: 100 }, { perSecond: 50, p50: 100 }), 'Incidents fully processed (no-op action)');
      assert.equal(at.ratio, 0.8);
      assert.equal(at.pass, true);
      assert.equal(at.target, '≥ 0.8 × the same-shape floor');
      assert.equal(row(results({ perSecond: 39, p50: 100 }, { perSecond: 50, p50: 100 }), 'Incidents fully processed (no-op action)').pass, false);
      assert.equal(row(results({ perSecond: 60, p50: 100, complete: false }, { perSecond: 50, p50: 100 }), 'Incidents fully processed (no-op action)').pass, false);
    });

    it('passes the storm’s webhook→first action p50 up to 2 × the floor’s', function () {
      const ok = row(results({ perSecond: 40, p50: 200 }, { perSecond: 50, p50: 100 }), 'Webhook → first action started p50 during the storm');
      assert.equal(ok.pass, true);
      assert.equal(ok.baseline?.value, 100);
      assert.equal(row(results({ perSecond: 40, p50: 201 }, { perSecond: 50, p50: 100 }), 'Webhook → first action started p50 during the storm').pass, false);
    });

    it('prints the measured shape, the floor’s, and the Postgres writes in the report', function () {
      const r = results({ perSecond: 40, p50: 200 }, { perSecond: 50, p50: 100 });
      const md = toMarkdown({ ...r, figures: figuresOf(r) });
      assert.match(md, /## One incident on Temporal/);
      assert.match(md, /2 workflows, 22 history events, 6 workflow tasks, 4 local activities, 1 activities/);
      assert.match(md, /about 11 Temporal Cloud actions/);
      assert.match(md, /gave the same commands in the same order/);
      assert.match(md, /ruleRunWorkflow: .*steps: localActivity → activity → localActivity ×2 → signal → timer\)/);
      assert.match(md, /Postgres per incident over the storm: 13 transactions committed, 9 rows written \(incidents 2\)/);
    });
  });

  it('reports memory beside its baselines and says when the probed incidents were not evicted after all', function () {
    const memory = { openIncidents: 10_400, workerRssMb: 900, workerRssBeforeMb: 450, cache: { size: 2310, held: 2310 }, newEventToPersisted: { cachedMs: 40, evictedMs: 90, samples: 7 }, evicted: true };
    const [rss, replay] = memoryFigures({ memory });
    assert.equal(rss!.name, 'Worker RSS with 10,400 open incident workflows (cache holds 2,310 of 2,310)');
    assert.equal(rss!.ratio, 2);
    assert.match(replay!.name, /^New event to an evicted incident/);
    assert.equal(replay!.ratio, 2.25);
    const [, notEvicted] = memoryFigures({ memory: { ...memory, evicted: false } });
    assert.match(notEvicted!.name, /old \(NOT evicted\)/);
    // The backlog drain, when the run measured it: persisted against opened.
    const drained = memoryFigures({ memory: { ...memory, drain: { opened: 2360, openedPerSecond: 156, persistedPerSecond: 15.6, seconds: 151.3 } } });
    assert.equal(drained.length, 3);
    assert.equal(drained[2]!.name, "New incidents persisted per second while 2,360 were opened by signalWithStart (the worker's backlog drain)");
    assert.equal(drained[2]!.ratio, 0.1);
  });
});
