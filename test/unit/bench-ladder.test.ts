import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { stepProblems, stepRates } from '../../bench/ingest.js';
import { percentile, summarize } from '../../bench/lib.js';
import { figuresOf, figuresTable, toMarkdown, type BenchResults } from '../../bench/report.js';
import type { AckPair } from '../../bench/ingest.js';
import type { SignalShapeRun } from '../../bench/baselines.js';

// The bench's own arithmetic: the figures in the README are only as good as these.
describe('bench: ingest ladder and latency summaries', function () {
  it('steps the ingest rate in fractions of the raw signalWithStart rate, so the ratio reads off to 5%', function () {
    const rates = stepRates(580);
    // Every 5% of the raw rate, rounded to 5/s, from a quarter up to 120%.
    assert.deepEqual(rates.slice(0, 4), [145, 175, 205, 230]);
    assert.equal(rates.at(-1), 695);
    const ratios = rates.map((r) => r / 580);
    for (let i = 1; i < ratios.length; i++) {
      const gap = ratios[i]! - ratios[i - 1]!;
      assert.ok(gap > 0.035 && gap < 0.065, `gap ${gap} between ${rates[i - 1]} and ${rates[i]}`);
    }
    // A slow machine still gets distinct, increasing steps of at least 5/s.
    const slow = stepRates(40);
    assert.deepEqual(slow, [...new Set(slow)].sort((a, b) => a - b));
    assert.ok(slow[0]! >= 5);
  });

  it('falls back to a fixed ladder when the baselines phase did not run', function () {
    assert.deepEqual(stepRates(undefined).slice(0, 4), [25, 50, 75, 100]);
    assert.deepEqual(stepRates(0).slice(0, 4), [25, 50, 75, 100]);
  });

  it('counts a step as sustained only when every delivery was accepted, stored once and answered in step with the offered rate', function () {
    // Figures from a committed run: 280/s kept up; at 305/s every delivery was accepted with p99 532 ms,
    // but the answers came back at 282/s, a queue growing through the step.
    const ok = { rate: 280, sent: 1400, accepted: 1400, shed: 0, errors: 0, ack: { count: 1400, p50Ms: 61, p99Ms: 173, maxMs: 300 }, achievedRate: 277.4, lost: 0, duplicates: 0 };
    assert.deepEqual(stepProblems(ok, 180_000), []);
    assert.deepEqual(stepProblems({ ...ok, rate: 305, sent: 1525, accepted: 1525, achievedRate: 282.1 }, 180_000), ['answered at 282.1/s of 305/s offered']);
    assert.deepEqual(stepProblems({ ...ok, accepted: 1390, shed: 2 }, 180_000), ['12 of 1402 not accepted']);
    assert.deepEqual(stepProblems({ ...ok, ack: { ...ok.ack, p99Ms: 1200 } }, 180_000), ['ack p99 1200 ms']);
    assert.deepEqual(stepProblems({ ...ok, lost: 3, duplicates: 1 }, 90_000), ['3 events not persisted within 90 s', '1 duplicates']);
  });

  it('summarizes more samples than fit on the call stack (a fast machine’s hello-world run)', function () {
    const samples = Array.from({ length: 300_000 }, (_, i) => (i % 1000) / 10);
    samples[123_456] = 250;
    const s = summarize(samples);
    assert.equal(s.count, 300_000);
    assert.equal(s.maxMs, 250);
    assert.equal(s.p50Ms, percentile(samples, 50));
    assert.ok(s.p99Ms >= 98 && s.p99Ms <= 100, `p99 ${s.p99Ms}`);
    assert.ok(Number.isNaN(summarize([]).maxMs));
  });
});

describe('bench: the figures table', function () {
  // A committed run's results, with the ack figures at 100/s set for each case.
  const committed = JSON.parse(readFileSync(new URL('../../bench/results/latest.json', import.meta.url), 'utf8')) as BenchResults;
  const withAck = (ackP99: number, floorP99: number): Omit<BenchResults, 'figures'> => {
    const r = structuredClone(committed);
    const run = r.ingest!.ackLatency.find((x) => x.rate === 100)!;
    run.ack.p99Ms = ackP99;
    run.lost = 0;
    run.accepted = run.sent;
    r.baselines!.signalWithStartAt.find((x) => x.rate === 100)!.latency.p99Ms = floorP99;
    return r;
  };
  const ackRow = (r: Omit<BenchResults, 'figures'>) => figuresOf(r).find((x) => x.name === 'Ack latency p99 at 100/s')!;

  it('passes the ack target at 100/s up to 1.5 × raw signalWithStart p99 at the same rate, and says MISS past it', function () {
    const pass = ackRow(withAck(130, 88.2));
    assert.equal(pass.ratio, 1.47);
    assert.equal(pass.target, '≤ 1.5 × raw signalWithStart p99');
    assert.equal(pass.pass, true);
    assert.match(figuresTable([pass]), /\| 1\.47× \| ≤ 1\.5 × raw signalWithStart p99 \| \*\*PASS\*\* \|$/);
    // Under 100 ms but twice its floor: a miss (the absolute figure follows the host, the ratio does not).
    const miss = ackRow(withAck(60, 30));
    assert.equal(miss.pass, false);
    assert.match(figuresTable([miss]), /\| \*\*MISS\*\* \|$/);
    // Far over 100 ms on a slow host, but close to its floor: a pass.
    assert.equal(ackRow(withAck(420, 300)).pass, true);
  });

  it('reports the server CPU of the webhook-shaped start next to the trivial one, per round, and their ratio of means', function () {
    const r = structuredClone(committed) as BenchResults;
    const run = (shape: SignalShapeRun['shape'], round: number, serverCpuMs: number): SignalShapeRun => ({
      shape,
      round,
      serverCpuMs,
      workerCpuMs: 1,
      signalBytes: shape === 'trivial' ? 4 : 1386,
      result: { ops: 600, errors: 0, seconds: 4, perSecond: 150, latency: { count: 600, p50Ms: 100, p99Ms: 200, maxMs: 250 } },
    });
    r.baselines!.signalShapes = [run('trivial', 1, 10), run('message', 1, 11), run('webhook', 1, 14), run('trivial', 2, 10), run('message', 2, 9), run('webhook', 2, 16)];
    const md = toMarkdown(r);
    assert.match(md, /\| a short string \(the baselines above\) \| 4 \| 150\/s \/ 150\/s \| 10 ms \/ 10 ms \| 1 ms \/ 1 ms \|/);
    assert.match(md, /\| the webhook's IncidentEventMessage \| 1,386 \| 150\/s \/ 150\/s \| 11 ms \/ 9 ms \|/);
    assert.match(md, /The webhook's start cost the server 1\.5× the trivial start's CPU \(means over the rounds: 15 against 10 ms\)/);
    // Results from before the measurement have no such section.
    delete r.baselines!.signalShapes;
    assert.doesNotMatch(toMarkdown(r), /by what it carries/);
  });

  it('names the code it measured, and says when it was not a commit as it stands', function () {
    const r = structuredClone(committed) as BenchResults;
    r.code = { commit: 'a'.repeat(40), uncommittedChanges: false };
    assert.match(toMarkdown(r), new RegExp(`^Code measured: commit ${'a'.repeat(40)}\\.$`, 'm'));
    r.code.uncommittedChanges = true;
    assert.match(toMarkdown(r), /^Code measured: commit a{40}, with uncommitted changes to tracked files\.$/m);
    delete r.code;
    assert.doesNotMatch(toMarkdown(r), /Code measured/);
  });

  it('does not pass the ack target when a delivery was lost, whatever the latency', function () {
    const r = withAck(30, 88.2);
    r.ingest!.ackLatency.find((x) => x.rate === 100)!.lost = 1;
    assert.equal(ackRow(r).pass, false);
  });

  it('judges the ack target on the median of the paired rounds, each ack against the raw signalWithStart measured right before it', function () {
    const r = structuredClone(committed) as BenchResults;
    const pair = (round: number, rawP99: number, ackP99: number, lost = 0): AckPair => ({
      rate: 100,
      round,
      raw: { latency: { count: 1000, p50Ms: 3, p99Ms: rawP99, maxMs: rawP99 * 2 }, errors: 0, sent: 1000 },
      ack: { ack: { count: 1000, p50Ms: 7, p99Ms: ackP99, maxMs: ackP99 * 2 }, accepted: 1000, sent: 1000, lost, duplicates: 0 },
    });
    const paired = (pairs: AckPair[]) => {
      r.ingest!.ackPairs = pairs;
      const figures = figuresOf(r);
      return { row: figures.find((x) => x.name.startsWith('Ack latency p99 at 100/s, paired'))!, plain: figures.find((x) => x.name === 'Ack latency p99 at 100/s')! };
    };
    // Ratios 3.0, 1.4 and 1.2: the median round (1.4) is the one shown and judged.
    const { row, plain } = paired([pair(1, 10, 30), pair(2, 20, 28), pair(3, 25, 30)]);
    assert.equal(row.name, 'Ack latency p99 at 100/s, paired, the median of 3 paired rounds');
    assert.equal(row.value, 28);
    assert.equal(row.baseline?.value, 20);
    assert.equal(row.pass, true);
    // With paired rounds, the baselines phase's floor is shown for comparison only.
    assert.equal(plain.target, undefined);
    assert.match(toMarkdown(r), /\| 100\/s \| 1 \| 3 ms \| 10 ms \| 7 ms \| 30 ms \| 3× \| 1000\/1000 \| 0 \|/);
    // The median round at 1.6: a miss, though another round passed.
    assert.equal(paired([pair(1, 10, 30), pair(2, 20, 32), pair(3, 25, 30)]).row.pass, false);
    // A delivery lost in any round: a miss, whatever the latencies.
    assert.equal(paired([pair(1, 20, 20), pair(2, 20, 20), pair(3, 20, 20, 1)]).row.pass, false);
  });
});
