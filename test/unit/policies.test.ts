import assert from 'node:assert/strict';
import { NOTE_MARKER as PIPELINE_NOTE_MARKER } from '../../activities/action-runs.js';
import { NOTE_MARKER } from '../../src/domain/backtest/index.js';
import {
  actionErrorFor,
  approvedTrialReason,
  breakerAfterOutcome,
  breakerAtTrial,
  breakerStopsStart,
  breakerTrialSeconds,
  CLOSED_BREAKER,
  decidePolicies,
  isCurrentTrial,
  leaseSeconds,
  policyOfRecorded,
  policyWindows,
  reasonFor,
  startBeginsTrial,
  targetOf,
  type PolicyInput,
  type PolicyRule,
  type PolicyState,
  verificationDetailFor,
} from '../../src/domain/policies.js';
import { parseRule } from '../../src/domain/rules/schema.js';

function rule(extra: Record<string, unknown> = {}): PolicyRule {
  const parsed = parseRule({ id: 'r1', version: 1, name: 'r1', actions: [{ id: 'fix', type: 'script.agent', script: 'fix.sh' }, { id: 'tell', type: 'pagerduty.note', content: 'x', when: 'always' }], ...extra });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.value as PolicyRule;
}

const at = new Date('2026-11-10T12:00:00Z'); // a Tuesday
const state = (s: Partial<PolicyState> = {}): PolicyState => ({ breaker: CLOSED_BREAKER, runsInRateWindow: 0, lastRunOnTarget: null, activeOnTarget: 0, ...s });
const input = (r: PolicyRule, i: Partial<PolicyInput> = {}): PolicyInput => ({ rule: r, at, eventType: 'incident.triggered', incidentStatus: 'triggered', target: 'web-1', environmentWindows: [], ...i });

describe('policies (src/domain/policies.ts)', function () {
  it('a plain match runs and takes a lease on its target', function () {
    assert.deepEqual(decidePolicies(input(rule()), state()), { decision: 'run', takesLease: true });
    assert.deepEqual(decidePolicies(input(rule(), { target: undefined }), state()), { decision: 'run', takesLease: false });
  });

  it('decides in order: resolved, maintenance window, dry-run, breaker, rate limit, unknown target, cooldown, concurrency', function () {
    const everything = rule({
      dryRun: true,
      policies: { rateLimit: { max: 1, windowSeconds: 60 }, cooldownSeconds: 60, concurrencyPerTarget: 1, maintenanceWindows: [{ days: ['tue'], start: '11:00', end: '14:00', timezone: 'UTC' }] },
    });
    const busy = state({ runsInRateWindow: 5, lastRunOnTarget: at, activeOnTarget: 3, breaker: { state: 'open', openedAt: at, consecutiveFailures: 3 } });
    assert.equal(decidePolicies(input(everything, { incidentStatus: 'resolved', eventType: 'incident.acknowledged' }), busy).policy, 'resolved');
    assert.equal(decidePolicies(input(everything), busy).policy, 'maintenance_window');
    const noWindow = rule({ ...everything, policies: { ...everything.policies, maintenanceWindows: [] } });
    assert.deepEqual(decidePolicies(input(noWindow), busy), { decision: 'dry_run', policy: 'dry_run' });
    const live = rule({ ...noWindow, dryRun: false });
    assert.equal(decidePolicies(input(live), busy).policy, 'breaker_open');
    assert.equal(decidePolicies(input(live), { ...busy, breaker: CLOSED_BREAKER }).policy, 'rate_limit');
    assert.equal(decidePolicies(input(live, { target: undefined }), { ...busy, breaker: CLOSED_BREAKER, runsInRateWindow: 0 }).policy, 'unknown_target');
    assert.equal(decidePolicies(input(live), { ...busy, breaker: CLOSED_BREAKER, runsInRateWindow: 0 }).policy, 'cooldown');
    assert.equal(decidePolicies(input(live), { ...busy, breaker: CLOSED_BREAKER, runsInRateWindow: 0, lastRunOnTarget: new Date(at.getTime() - 61_000) }).policy, 'concurrency');
  });

  it("teams: a rule's scripts are skipped on another team's environment, saying why; notifications and its own team's environments are not held back", function () {
    const ofPay = rule({ team: 'pay' });
    const shopEnv = { environmentTeam: { name: 'shop-vm', team: 'shop' } };
    const skipped = decidePolicies(input(ofPay, shopEnv), state());
    assert.deepEqual(skipped, { decision: 'skipped', policy: 'other', reason: 'environment shop-vm belongs to team shop: a rule of team pay may not run scripts there' });
    assert.equal(policyOfRecorded(skipped.decision, skipped.reason), 'other');
    assert.equal(decidePolicies(input(ofPay, { environmentTeam: { name: 'pay-vm', team: 'pay' } }), state()).decision, 'run');
    const notifyOnly = rule({ team: 'pay', actions: [{ id: 'tell', type: 'pagerduty.note', content: 'x' }] });
    assert.equal(decidePolicies(input(notifyOnly, shopEnv), state()).decision, 'run');
    // A verification check is a script run there too.
    for (const type of ['script.agent', 'script.ssh']) {
      const checking = rule({ ...notifyOnly, verify: { within: '10m', onUnverified: [], check: { type, script: 'health-check.sh', args: [], idempotent: true, when: 'success' } } } as never);
      assert.equal(decidePolicies(input(checking, shopEnv), state()).policy, 'other', type);
    }
    // No registered environment, or a rule without a team (a backtest's unsaved rule): nothing to compare.
    assert.equal(decidePolicies(input(ofPay), state()).decision, 'run');
    assert.equal(decidePolicies(input(rule(), shopEnv), state()).decision, 'run');
  });

  it('a resolved incident still runs the rules for its resolve event', function () {
    assert.equal(decidePolicies(input(rule(), { incidentStatus: 'resolved', eventType: 'incident.resolved' }), state()).decision, 'run');
  });

  it('maintenance windows are read in their time zones, the rule’s and its environment’s', function () {
    // 12:00 UTC on Tuesday is 21:00 in Tokyo and 07:00 in New York.
    const tokyoEvening = { days: ['tue' as const], start: '20:00', end: '22:00', timezone: 'Asia/Tokyo' };
    const newYorkEvening = { days: ['tue' as const], start: '20:00', end: '22:00', timezone: 'America/New_York' };
    assert.equal(decidePolicies(input(rule({ policies: { maintenanceWindows: [tokyoEvening] } })), state()).reason, 'maintenance window');
    assert.equal(decidePolicies(input(rule({ policies: { maintenanceWindows: [newYorkEvening] } })), state()).decision, 'run');
    assert.equal(decidePolicies(input(rule(), { environmentWindows: [tokyoEvening] }), state()).policy, 'maintenance_window');
    // Across midnight: Monday 23:00 – Tuesday 08:00 in New York holds 07:00 on Tuesday.
    const overnight = { days: ['mon' as const], start: '23:00', end: '08:00', timezone: 'America/New_York' };
    assert.equal(decidePolicies(input(rule(), { environmentWindows: [overnight] }), state()).policy, 'maintenance_window');
  });

  it('rate limit and cooldown count what policyWindows asks for; the reasons are the planner’s', function () {
    const r = rule({ policies: { rateLimit: { max: 3, windowSeconds: 600 }, cooldownSeconds: 1800 } });
    const w = policyWindows(r, at, 'web-1');
    assert.deepEqual(w, { rateLimitSince: new Date(at.getTime() - 600_000), cooldownSince: new Date(at.getTime() - 1_800_000), concurrency: false });
    assert.equal(decidePolicies(input(r), state({ runsInRateWindow: 2 })).decision, 'run');
    assert.deepEqual(decidePolicies(input(r), state({ runsInRateWindow: 3 })), { decision: 'skipped', policy: 'rate_limit', reason: 'rate limit: 3 runs in the last 600 s (max 3)' });
    assert.equal(decidePolicies(input(r), state({ lastRunOnTarget: new Date(at.getTime() - 1_799_000) })).reason, 'cooldown: web-1 was remediated by this rule less than 1800 s ago');
    assert.equal(decidePolicies(input(r), state({ lastRunOnTarget: new Date(at.getTime() - 1_800_000) })).decision, 'run');
  });

  it('an unknown target is skipped and said so, unless the rule says run; without cooldown or concurrency it does not matter', function () {
    const targeted = rule({ policies: { concurrencyPerTarget: 2 } });
    const d = decidePolicies(input(targeted, { target: undefined }), state());
    assert.equal(d.decision, 'skipped');
    assert.match(d.reason!, /^target unknown: no host or environment was extracted/);
    const runAnyway = { ...targeted, policies: { ...targeted.policies, unknownTarget: 'run' as const } };
    assert.deepEqual(decidePolicies(input(runAnyway, { target: undefined }), state()), { decision: 'run', takesLease: false });
    assert.equal(decidePolicies(input(rule(), { target: undefined }), state()).decision, 'run');
  });

  it('an open breaker lets notifications through until resetSeconds, then allows one half-open trial', function () {
    const r = rule({ policies: { circuitBreaker: { failureThreshold: 2, resetSeconds: 600 } } });
    const opened = { state: 'open' as const, openedAt: new Date(at.getTime() - 599_000), consecutiveFailures: 2 };
    const open = decidePolicies(input(r), state({ breaker: opened }));
    assert.equal(open.decision, 'notify_only');
    assert.match(open.reason!, /^circuit breaker open: only notifications run until a half-open trial at 2026-11-10T12:00:01.000Z/);
    const trial = decidePolicies(input(r), state({ breaker: { ...opened, openedAt: new Date(at.getTime() - 600_000) } }));
    assert.equal(trial.decision, 'run');
    assert.equal(trial.breakerTrial, true);
    assert.equal(trial.policy, 'breaker_trial');
    assert.equal(policyOfRecorded('run', trial.reason), 'breaker_trial');
    // A trial begun at an approved start says so on its match, but the planner had decided a plain run.
    assert.equal(policyOfRecorded('run', approvedTrialReason(600, 'this action waited for its approval')), undefined);
    const during = decidePolicies(input(r), state({ breaker: { state: 'half_open', openedAt: new Date(at.getTime() - 10_000), consecutiveFailures: 2 } }));
    assert.equal(during.policy, 'breaker_half_open');
    // A trial may run as long as its lease (here an hour's approval wait): no second trial before that ends,
    // though resetSeconds passed; after it, the trial is taken for dead and another may run.
    const gated = rule({ policies: { circuitBreaker: { failureThreshold: 2, resetSeconds: 600 } }, actions: [{ id: 'fix', type: 'script.ssh', script: 'fix.sh', approval: { required: true, timeoutMinutes: 60 } }] });
    const halfOpenFor = (seconds: number) => decidePolicies(input(gated), state({ breaker: { state: 'half_open', openedAt: new Date(at.getTime() - seconds * 1000), consecutiveFailures: 2 } }));
    assert.equal(halfOpenFor(601).policy, 'breaker_half_open', 'the first trial may still wait for its approval');
    assert.equal(halfOpenFor(leaseSeconds(gated)).policy, 'breaker_trial');
    // A trial stopped by the rate limit is no trial.
    const limited = rule({ policies: { circuitBreaker: { failureThreshold: 2, resetSeconds: 600 }, rateLimit: { max: 1, windowSeconds: 60 } } });
    assert.equal(decidePolicies(input(limited), state({ breaker: { ...opened, openedAt: new Date(0) }, runsInRateWindow: 1 })).policy, 'rate_limit');
  });

  it('breakerAfterOutcome: K consecutive failures open it, a success resets, a trial closes or re-opens, inconclusive changes nothing', function () {
    const opts = { threshold: 2, trial: false, at };
    const one = breakerAfterOutcome(CLOSED_BREAKER, 'failed', opts);
    assert.deepEqual(one, { state: 'closed', openedAt: null, consecutiveFailures: 1, opened: false });
    const two = breakerAfterOutcome(one, 'failed', opts);
    assert.deepEqual(two, { state: 'open', openedAt: at, consecutiveFailures: 2, opened: true });
    assert.equal(breakerAfterOutcome(one, 'succeeded', opts).consecutiveFailures, 0);
    assert.deepEqual(breakerAfterOutcome(one, 'inconclusive', opts), { ...one, opened: false });
    const halfOpen = { state: 'half_open' as const, openedAt: at, consecutiveFailures: 2 };
    assert.deepEqual(breakerAfterOutcome(halfOpen, 'succeeded', { ...opts, trial: true }), { state: 'closed', openedAt: null, consecutiveFailures: 0, opened: false });
    assert.equal(breakerAfterOutcome(halfOpen, 'failed', { ...opts, trial: true }).state, 'open');
    assert.equal(breakerAfterOutcome(halfOpen, 'inconclusive', { ...opts, trial: true }).state, 'open');
    // Every rule has a breaker: without a policy it opens at three.
    assert.equal(breakerAfterOutcome(breakerAfterOutcome(breakerAfterOutcome(CLOSED_BREAKER, 'failed', { ...opts, threshold: 3 }), 'failed', { ...opts, threshold: 3 }), 'failed', { ...opts, threshold: 3 }).state, 'open');
  });

  it('reads the planner’s recorded reasons, old and new', function () {
    const cases: [string, string | null, string | undefined][] = [
      ['run', null, undefined],
      ['dry_run', null, 'dry_run'],
      ['skipped', 'incident already resolved', 'resolved'],
      ['skipped', 'maintenance window', 'maintenance_window'],
      ['notify_only', 'circuit breaker open: only notifications run until an SRE resets it', 'breaker_open'],
      ['skipped', 'rate limit: 3 runs in the last 60 s (max 3)', 'rate_limit'],
      ['skipped', 'cooldown: web-1 was remediated by this rule less than 60 s ago', 'cooldown'],
      ['skipped', 'concurrency: 1 remediation(s) already running on web-1', 'concurrency'],
      ['skipped', 'concurrency: 1 remediation(s) already running on web-1 (max 1)', 'concurrency'],
      ['skipped', 'target unknown: no host or environment was extracted', 'unknown_target'],
    ];
    for (const [decision, reason, kind] of cases) assert.equal(policyOfRecorded(decision, reason), kind, `${decision} ${reason}`);
  });

  it('leaseSeconds', function () {
    // 300 margin + script.agent (300 s timeout, 1 attempt, +20 to stop, agent pickup 300) + note (the preset's
    // 60 s an attempt, 8 attempts, 60 s between).
    assert.equal(leaseSeconds(rule()), 300 + 320 + 300 + 60 * 8 + 60 * 7);
    // Long pauses between attempts are held too: 600 s, 1,200 s, 2,400 s between four attempts of a script
    // (before, 60 s a pause were counted, and the lease ended while the script still retried).
    const backoff = rule({ actions: [{ id: 'fix', type: 'script.agent', script: 'fix.sh', idempotent: true, retry: { maximumAttempts: 4, initialIntervalSeconds: 600, backoffCoefficient: 2 } }] });
    assert.equal(leaseSeconds(backoff), 300 + 320 * 4 + (600 + 1200 + 2400) + 300);
    const gated = rule({ actions: [{ id: 'g', type: 'pagerduty.note', content: 'x', approval: { required: true, timeoutMinutes: 30 }, retry: { maximumAttempts: 1 } }] });
    assert.equal(leaseSeconds(gated), 300 + 1800 + 60);
    // A verifying run holds its host until the verification ends: a 30-minute `within` with an SSH check of
    // 60 s and one escalation when unverified (before, the lease ran out at minute 6 while checks still ran).
    const verifying = rule({
      actions: [{ id: 's', type: 'script.ssh', script: 'fix.sh', timeoutSeconds: 60 }],
      verify: { within: '30m', check: { type: 'script.ssh', script: 'check.sh', timeoutSeconds: 60 }, onUnverified: [{ type: 'pagerduty.escalate', level: 2 }] },
    });
    assert.equal(leaseSeconds(verifying), 300 + 80 + (1800 + 80 + 60 * 8 + 60 * 7));
  });

  it('targetOf: the host, else the environment, else none (the planner and the backtest share it)', function () {
    assert.equal(targetOf({ host: 'web-1', environment: 'prod' }), 'web-1');
    assert.equal(targetOf({ environment: 'prod' }), 'prod');
    assert.equal(targetOf({ host: 7, environment: 'prod' }), 'prod');
    assert.equal(targetOf({ host: ['a'] }), undefined);
    assert.equal(targetOf({}), undefined);
  });

  it('breakerStopsStart: a remediation that waited starts under the breaker as it is now: closed, or as the half-open trial it waits on', function () {
    const openedAt = new Date('2026-11-10T11:30:00Z');
    // Half an hour after the breaker opened: its trial is not due yet (resetSeconds 3600).
    // A run of the rule may take two hours (its lease): a trial begun less long ago may still be running.
    const run = { ruleId: 'r1', matchId: '7', plannedAsTrial: false, resetSeconds: 3600, trialSeconds: 7200, waited: 'this action waited for its approval', at: new Date('2026-11-10T12:00:00Z') };
    // Closed: never opened, or reset by an admin while it waited.
    assert.equal(breakerStopsStart({ ...CLOSED_BREAKER, trialMatch: null }, run), undefined);
    // Open: only notifications, as the planner deciding now would say.
    assert.equal(
      breakerStopsStart({ state: 'open', openedAt, consecutiveFailures: 3, trialMatch: null }, run),
      "not run: the rule's circuit breaker opened while this action waited for its approval: only notifications run until its half-open trial (due 2026-11-10T12:30:00.000Z) or POST /api/rules/r1/reset-breaker",
    );
    // Half-open: the trial the breaker waits on runs (else it never closes); any other run does not.
    const halfOpen = { state: 'half_open' as const, openedAt, consecutiveFailures: 3, trialMatch: '7' };
    assert.equal(breakerStopsStart(halfOpen, { ...run, plannedAsTrial: true }), undefined);
    assert.match(breakerStopsStart(halfOpen, { ...run, matchId: '8' }) ?? '', /^not run: the rule's circuit breaker opened while this action waited for its approval, and its half-open trial is another run/);
    // The trial named by its match is that run's, planned as one or not (begun at an approved start of it).
    assert.equal(breakerStopsStart(halfOpen, run), undefined);
    assert.match(breakerStopsStart({ ...halfOpen, trialMatch: '8' }, { ...run, plannedAsTrial: true }) ?? '', /half-open trial is another run/, 'a trial overtaken (an admin reset, the breaker opened and half-opened again)');
    // A trial begun before trials were named by their match is told by its plan alone, as isCurrentTrial says.
    assert.equal(breakerStopsStart({ ...halfOpen, trialMatch: null }, { ...run, plannedAsTrial: true }), undefined);
    assert.match(breakerStopsStart({ ...halfOpen, trialMatch: null }, run) ?? '', /half-open trial is another run/);
    // Another run's trial begun longer ago than a run may take can no longer be running (lost, or ended
    // without a verdict): this start takes its place, as a new match would (before: skipped for ever).
    const later = { ...run, matchId: '8', at: new Date(openedAt.getTime() + 7200_000) };
    assert.equal(breakerStopsStart(halfOpen, later), undefined);
    assert.equal(startBeginsTrial(halfOpen, later), true);
    assert.equal(startBeginsTrial(halfOpen, { ...later, at: new Date(later.at.getTime() - 1000) }), false, 'a second earlier it may still be running');
    assert.match(breakerStopsStart(halfOpen, { ...later, at: new Date(later.at.getTime() - 1000) }) ?? '', /half-open trial is another run/);
    assert.equal(startBeginsTrial(halfOpen, { ...later, matchId: '7' }), false, 'its own trial is not begun again');
  });

  it('breakerStopsStart: an open breaker past its resetSeconds, no trial begun, lets the approved fix start as its trial, as decidePolicies lets the next match through', function () {
    const r = rule({ policies: { circuitBreaker: { failureThreshold: 3, resetSeconds: 600 } } });
    const openedAt = new Date('2026-11-10T11:30:00Z');
    const open = { state: 'open' as const, openedAt, consecutiveFailures: 3 };
    const run = { ruleId: r.id, matchId: '7', plannedAsTrial: false, resetSeconds: 600, trialSeconds: breakerTrialSeconds(r), waited: 'this action waited for its approval' };
    for (const [at, due] of [
      [new Date('2026-11-10T11:39:59Z'), false],
      [new Date('2026-11-10T11:40:00Z'), true],
      [new Date('2026-11-12T09:00:00Z'), true],
    ] as const) {
      // What a new match would be at that moment, and what the approved start does: the same.
      const planned = decidePolicies(input(r, { at }), state({ breaker: open }));
      assert.equal(planned.breakerTrial === true, due, `${at.toISOString()}: ${planned.reason}`);
      const stop = breakerStopsStart({ ...open, trialMatch: null }, { ...run, at });
      if (due) assert.equal(stop, undefined, `${at.toISOString()}: starts as the trial`);
      else assert.match(stop ?? '', /only notifications run until its half-open trial \(due 2026-11-10T11:40:00.000Z\)/);
    }
    // A breaker with no time of opening is due at once, as decidePolicies reads it.
    assert.equal(breakerStopsStart({ ...open, openedAt: null, trialMatch: null }, { ...run, at }), undefined);
    // Begun (by the planner or another approved start), the trial is that one: this fix waits for it to end.
    assert.match(breakerStopsStart({ ...breakerAtTrial(open, at), trialMatch: '6' }, { ...run, at }) ?? '', /half-open trial is another run/);
    // Once begun on this match, the trial's outcome is this run's, though it was not planned as one.
    assert.equal(isCurrentTrial({ state: 'half_open', trialMatch: '7' }, '7', false), true);
    assert.equal(isCurrentTrial({ state: 'half_open', trialMatch: '7' }, '8', true), false);
  });

  it("reasonFor: the team skip reasons the planner writes name only the teams the reader may read; other reasons are kept", function () {
    const alphaEnv = { environmentTeam: { name: 'pay-vault', team: 'alpha' } };
    const scripts = decidePolicies(input(rule({ team: 'beta' }), alphaEnv), state()).reason!;
    const resolves = decidePolicies(input(rule({ team: 'beta', actions: [{ id: 'r', type: 'pagerduty.resolve' }] }), alphaEnv), state()).reason!;
    const only = (team: string) => (t: string) => t === team;
    assert.equal(reasonFor(scripts, only('beta')), "environment pay-vault is another team's environment: a rule of team beta may not run scripts there");
    assert.equal(reasonFor(scripts, only('alpha')), "environment pay-vault belongs to team alpha: another team's rule may not run scripts there");
    assert.equal(reasonFor(resolves, only('none')), "environment pay-vault is another team's environment: another team's rule may not acknowledge, resolve or reprioritise its incidents");
    assert.equal(reasonFor(scripts, () => true), scripts);
    assert.equal(reasonFor('rate limit: 3 runs in 3600 s (max 3)', only('none')), 'rate limit: 3 runs in 3600 s (max 3)');
    assert.equal(reasonFor(null, only('none')), null);
  });

  it("actionErrorFor: an agent refusal stored before it left the rule's team out is read without the team; other errors are kept", function () {
    const tail = 'is served on agent queue selfheal-agent-pay any more (deleted, or registered again by another team, while the script waited for its agent)';
    assert.equal(actionErrorFor(`not run: no environment of team alpha ${tail}`), `not run: no environment of the rule's team ${tail}`);
    assert.equal(actionErrorFor(`not run: no environment of team (rule deleted) ${tail}`), `not run: no environment of the rule's team (the rule is gone) ${tail}`);
    assert.equal(
      actionErrorFor(`attempt 2 of 2 not run: no environment of team alpha ${tail}; attempt 1 failed: the agent lost the run (call 1)`),
      `attempt 2 of 2 not run: no environment of the rule's team ${tail}; attempt 1 failed: the agent lost the run (call 1)`,
    );
    assert.equal(actionErrorFor(`not run: no environment of the rule's team ${tail}`), `not run: no environment of the rule's team ${tail}`);
    assert.equal(actionErrorFor('exit code 1'), 'exit code 1');
    assert.equal(actionErrorFor(null), null);
  });

  it("actionErrorFor, verificationDetailFor: the Doctor agent's team refusal stored before it left the task's team out is read without the team, cut short or whole", function () {
    const refusal = (team: string, script = 'health-check.sh') => `${script} was not run: this Doctor agent does not serve team ${team} (its SELFHEAL_AGENT_TEAMS, set on its host, does not list it)`;
    const now = 'health-check.sh was not run: this Doctor agent does not serve the team the task was sent for (its SELFHEAL_AGENT_TEAMS, set on its host, does not list it)';
    assert.equal(actionErrorFor(refusal('payments')), now);
    assert.equal(actionErrorFor(now), now);
    assert.equal(verificationDetailFor(`no incident.resolved within 300 s; check health-check.sh failed: ${refusal('payments')} (2 runs)`), `no incident.resolved within 300 s; check health-check.sh failed: ${now} (2 runs)`);
    // The check's error is kept to 200 characters in the detail: the name cut, or ending it.
    const script = `${'a'.repeat(140)}.sh`;
    const cut = `check ${script} stopped after run 1 (failed: ${refusal('payments', script).slice(0, 200)}): its rule was disabled`;
    assert.ok(cut.includes('serve team payme)'), 'the cut lands in the name');
    assert.equal(verificationDetailFor(cut), `check ${script} stopped after run 1 (failed: ${script} was not run: this Doctor agent does not serve the team the task was sent for): its rule was disabled`);
    const tail = 'is served on agent queue selfheal-agent-pay any more (deleted, or registered again by another team, while the script waited for its agent)';
    assert.equal(verificationDetailFor(`check fix.sh stopped after run 1 (failed: not run: no environment of team alpha ${tail})`), `check fix.sh stopped after run 1 (failed: not run: no environment of the rule's team ${tail})`);
    assert.equal(verificationDetailFor('the rule declares no verify'), 'the rule declares no verify');
    assert.equal(verificationDetailFor(null), null);
  });

  it('the backtest skips the same notes the pipeline writes', function () {
    assert.equal(NOTE_MARKER, PIPELINE_NOTE_MARKER);
  });
});
