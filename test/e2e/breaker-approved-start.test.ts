import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { leaseSeconds } from '../../src/domain/policies.js';
import type { RuleInputDocument } from '../../src/domain/rules/schema.js';
import { stackWithDoctor } from '../helpers/agent-host.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { eventually } from '../helpers/stack.js';

// README: `circuitBreaker: { failureThreshold: 3, resetSeconds: 3600 }  # then only notifications`. The
// planner drops remediation while the breaker is open, but an approval is decided later, up to days: a fix
// planned while the breaker was closed, waiting for its approval (or behind a gated notification) while
// other incidents' runs of the rule failed and opened it, ran on its host when approved. Observed where the
// on-call would look: the Doctor agent's host (a file per script run), the PagerDuty peer, the Slack peer.
// The cases that must still run: a breaker an admin reset while the fix waited, and the half-open trial the
// breaker waits on (else it never closes).
describe('an approved remediation starts under its rule\'s circuit breaker as it is then', function () {
  const peers = stackWithDoctor({
    prefix: 'breaker',
    environment: `brk-${randomUUID().slice(0, 6)}`,
    // Every run on a host leaves a file (what the host saw); a host named fail-… fails the fix.
    scripts: (markerDir) => ({ 'fix.sh': `touch "${markerDir}/fixed-$1"; case "$1" in fail-*) echo "still broken" >&2; exit 1;; esac; echo "fixed $1"` }),
    slackSecret: 'SELFHEAL_SECRET_BREAKER_SLACK',
    pagerDutyToken: 'pd-breaker-approved-token',
  });
  const { trigger, waiting, decide, ended, resolvesAtPeer } = peers;

  const rule = (svc: string, doc: Partial<RuleInputDocument>) => insertRule(peers.stack.db.db, { name: `breaker-${svc.toLowerCase()}`, services: [svc], actions: [], ...doc } as RuleInputDocument);
  const matchOf = (id: string) => eventually(() => peers.stack.db.db.selectFrom('rule_matches').select(['id', 'decision', 'skip_reason', 'breaker_outcome']).where('incident_id', '=', id).executeTakeFirst(), 30_000, `the match of ${id}`);
  /** The match once its run was scored for the breaker (after its last action). */
  const scored = (id: string) => eventually(async () => ((await matchOf(id)).breaker_outcome ? matchOf(id) : undefined), 60_000, `the run of ${id} to be scored`);
  /** Opens rule `ruleId`'s breaker `agoMs` ago after `failures` failed runs, as those runs would leave it. */
  const openBreaker = (ruleId: string, failures: number, agoMs = 0) =>
    peers.stack.db.db.updateTable('rules').set({ breaker_state: 'open', consecutive_failures: failures, breaker_opened_at: new Date(Date.now() - agoMs) }).where('id', '=', ruleId).execute();
  const breakerOf = (ruleId: string) => peers.stack.db.db.selectFrom('rules').select(['breaker_state', 'consecutive_failures', 'breaker_trial_match']).where('id', '=', ruleId).executeTakeFirstOrThrow();
  const hostSaw = async (host: string) => (await readdir(peers.doctor.markerDir)).includes(`fixed-${host}`);
  const statuses = (runs: Awaited<ReturnType<typeof peers.runsOf>>) => runs.map((r) => [r.action_id, r.status]);
  const why = (runs: Awaited<ReturnType<typeof peers.runsOf>>) => JSON.stringify(runs.map((r) => [r.action_id, r.status, r.error ?? r.reason]));

  /** A gated fix, then the incident resolved when it worked, and a message to people whatever happened. */
  const gatedFix = (breaker: { failureThreshold: number; resetSeconds: number }): Partial<RuleInputDocument> => ({
    policies: { circuitBreaker: breaker },
    actions: [
      { id: 'fix', type: 'script.agent', script: 'fix.sh', args: ['{{ environment.host }}'], approval: { required: true, timeoutMinutes: 30, onTimeout: 'approve' } },
      { id: 'resolve', type: 'pagerduty.resolve', when: 'success' },
      { id: 'tell', type: 'notify.slack', webhookUrlRef: 'env:SELFHEAL_SECRET_BREAKER_SLACK', text: 'rule done on {{ environment.host }}: fix {{ results.fix.status }}', when: 'always' },
    ],
  });

  it('a fix approved after other runs of its rule opened the breaker while it waited is not run on its host; one approved after an admin reset it runs', async function () {
    this.timeout(180_000);
    const svc = newServiceId();
    const ruleId = await rule(svc, gatedFix({ failureThreshold: 1, resetSeconds: 3600 }));
    // Three incidents planned while the breaker is closed: each fix waits for its approval.
    const failing = await trigger(svc, 'fail-1');
    const waitsAcross = await trigger(svc, 'open-1');
    const waitsReset = await trigger(svc, 'reset-1');
    const [failingFix, openFix, resetFix] = [await waiting(failing), await waiting(waitsAcross), await waiting(waitsReset)];
    for (const id of [failing, waitsAcross, waitsReset]) assert.equal((await matchOf(id)).decision, 'run');

    // Another incident's fix is approved and fails on its host: the breaker opens (threshold 1).
    await decide(failing, failingFix.id, 'approve');
    assert.deepEqual(statuses(await ended(failing, 3)), [['fix', 'failed'], ['resolve', 'skipped'], ['tell', 'succeeded']]);
    await scored(failing);
    assert.equal((await breakerOf(ruleId)).breaker_state, 'open');

    // Approved now: only notifications run. Before, the fix ran on open-1 and PagerDuty was told it resolved.
    await decide(waitsAcross, openFix.id, 'approve');
    const runs = await ended(waitsAcross, 3);
    await scored(waitsAcross);
    assert.equal(await hostSaw('open-1'), false, 'the fix never ran on the host');
    assert.deepEqual(resolvesAtPeer(waitsAcross).map((r) => r.body), [], 'no PUT /incidents/{id} resolving the incident reached PagerDuty');
    assert.equal(peers.pd.incident(waitsAcross)?.status, 'triggered');
    assert.ok(peers.slack.messages.some((m) => m.text === 'rule done on open-1: fix skipped'), 'the notification ran');
    assert.deepEqual(statuses(runs), [['fix', 'skipped'], ['resolve', 'skipped'], ['tell', 'succeeded']], why(runs));
    assert.match(runs[0]!.error ?? '', new RegExp(`^not run: the rule's circuit breaker opened while this action waited for its approval: only notifications run until its half-open trial \\(due [^)]+\\) or POST /api/rules/${ruleId}/reset-breaker$`));
    assert.equal(runs[0]!.started_at, null, 'never started');
    assert.match(runs[1]!.reason ?? '', /^not run: the remediation stopped at fix, which did not start: the rule's circuit breaker opened/);
    // Nothing ran, so nothing is counted: still open after one failure.
    assert.deepEqual(await breakerOf(ruleId), { breaker_state: 'open', consecutive_failures: 1, breaker_trial_match: null });
    // It no longer counts in the fleet guards (as a fix skipped at its approved start for a pause).
    const released = await peers.stack.db.db.selectFrom('remediations').select('released_at').where('incident_id', '=', waitsAcross).executeTakeFirstOrThrow();
    assert.ok(released.released_at, 'its remediation released from the guards');

    // An SRE resets the breaker while the third fix still waits: approved, it runs.
    assert.equal((await peers.stack.api(`/api/rules/${ruleId}/reset-breaker`, { method: 'POST' })).status, 200);
    await decide(waitsReset, resetFix.id, 'approve');
    assert.deepEqual(statuses(await ended(waitsReset, 3)), [['fix', 'succeeded'], ['resolve', 'succeeded'], ['tell', 'succeeded']]);
    assert.equal(await hostSaw('reset-1'), true, 'the fix ran on its host');
    assert.equal(resolvesAtPeer(waitsReset).length, 1, 'PagerDuty was told it resolved');
  });

  it('a fix behind an approved notification does not run once the breaker opened while the notification waited; the notification itself goes out', async function () {
    this.timeout(120_000);
    const svc = newServiceId();
    const ruleId = await rule(svc, {
      policies: { circuitBreaker: { failureThreshold: 3, resetSeconds: 3600 } },
      actions: [
        { id: 'ask', type: 'notify.slack', webhookUrlRef: 'env:SELFHEAL_SECRET_BREAKER_SLACK', text: 'fix {{ environment.host }}?', approval: { required: true, timeoutMinutes: 30, onTimeout: 'approve' } },
        { id: 'fix', type: 'script.agent', script: 'fix.sh', args: ['{{ environment.host }}'], when: 'success' },
        { id: 'resolve', type: 'pagerduty.resolve', when: 'success' },
      ],
    });
    const id = await trigger(svc, 'behind-1');
    const ask = await waiting(id);
    // Meanwhile three runs of the rule failed (their counts are in Postgres; written as they would leave them).
    await openBreaker(ruleId, 3);
    await decide(id, ask.id, 'approve');
    const runs = await ended(id, 3);
    await scored(id);
    assert.deepEqual(statuses(runs), [['ask', 'succeeded'], ['fix', 'skipped'], ['resolve', 'skipped']], why(runs));
    assert.ok(peers.slack.messages.some((m) => m.text === 'fix behind-1?'), 'the approved notification went out');
    assert.match(runs[1]!.error ?? '', /^not run: the rule's circuit breaker opened while the run waited for the approval of an earlier action: only notifications run until its half-open trial/);
    assert.equal(await hostSaw('behind-1'), false, 'the fix never ran on the host');
    assert.deepEqual(resolvesAtPeer(id).map((r) => r.body), [], 'PagerDuty was never told it resolved');
    assert.deepEqual(await breakerOf(ruleId), { breaker_state: 'open', consecutive_failures: 3, breaker_trial_match: null });
  });

  it('the half-open trial waiting for its approval runs when approved and closes the breaker; a fix planned before the breaker opened, approved during that trial, does not run', async function () {
    this.timeout(180_000);
    const svc = newServiceId();
    const ruleId = await rule(svc, gatedFix({ failureThreshold: 1, resetSeconds: 60 }));
    const earlier = await trigger(svc, 'before-1');
    const earlierFix = await waiting(earlier);
    // The breaker opened two minutes ago, past its resetSeconds: the next match is its half-open trial.
    await openBreaker(ruleId, 1, 120_000);
    const trial = await trigger(svc, 'trial-1');
    const tm = await matchOf(trial);
    assert.equal(tm.decision, 'run');
    assert.match(tm.skip_reason ?? '', /^circuit breaker half-open trial/);
    const trialFix = await waiting(trial);
    assert.deepEqual(await breakerOf(ruleId), { breaker_state: 'half_open', consecutive_failures: 1, breaker_trial_match: String(tm.id) });

    // The fix planned before the breaker opened is not the trial: approved now, it does not run.
    await decide(earlier, earlierFix.id, 'approve');
    const runs = await ended(earlier, 3);
    await scored(earlier);
    assert.deepEqual(statuses(runs), [['fix', 'skipped'], ['resolve', 'skipped'], ['tell', 'succeeded']], why(runs));
    assert.match(runs[0]!.error ?? '', /^not run: the rule's circuit breaker opened while this action waited for its approval, and its half-open trial is another run: only notifications run until that trial ends/);
    assert.equal(await hostSaw('before-1'), false);
    assert.deepEqual(await breakerOf(ruleId), { breaker_state: 'half_open', consecutive_failures: 1, breaker_trial_match: String(tm.id) }, 'still waiting on its trial');

    // The trial is approved: it runs on its host, and its success closes the breaker.
    await decide(trial, trialFix.id, 'approve');
    assert.deepEqual(statuses(await ended(trial, 3)), [['fix', 'succeeded'], ['resolve', 'succeeded'], ['tell', 'succeeded']]);
    assert.equal(await hostSaw('trial-1'), true, 'the trial ran on its host');
    await scored(trial);
    assert.deepEqual(await breakerOf(ruleId), { breaker_state: 'closed', consecutive_failures: 0, breaker_trial_match: null }, 'closed by its trial');
  });

  it('a fix approved once its open breaker is due for its half-open trial, no trial begun, starts as that trial, and its success closes the breaker', async function () {
    this.timeout(120_000);
    const svc = newServiceId();
    const ruleId = await rule(svc, gatedFix({ failureThreshold: 1, resetSeconds: 60 }));
    const id = await trigger(svc, 'due-1');
    const fix = await waiting(id);
    const match = await matchOf(id);
    assert.equal(match.decision, 'run');
    // While it waited, other runs opened the breaker two minutes ago, past its resetSeconds, and no match
    // came since to be its trial (written as they would leave it).
    await openBreaker(ruleId, 1, 120_000);
    // Approved now: the next new match would run as the trial, and so does this fix. Before, it was skipped
    // ("breaker open ... until its half-open trial (due …)", a time already past).
    await decide(id, fix.id, 'approve');
    const runs = await ended(id, 3);
    assert.deepEqual(statuses(runs), [['fix', 'succeeded'], ['resolve', 'succeeded'], ['tell', 'succeeded']], why(runs));
    assert.equal(await hostSaw('due-1'), true, 'the fix ran on its host');
    assert.equal(resolvesAtPeer(id).length, 1, 'PagerDuty was told it resolved');
    await scored(id);
    // Its success closed the breaker: it was the trial (an ordinary success leaves an open breaker open).
    assert.deepEqual(await breakerOf(ruleId), { breaker_state: 'closed', consecutive_failures: 0, breaker_trial_match: null }, 'closed by this run as its trial');
  });

  it("a run that became the breaker's half-open trial at its approved start says so on its match, as a trial the planner let through does", async function () {
    this.timeout(120_000);
    const svc = newServiceId();
    const ruleId = await rule(svc, gatedFix({ failureThreshold: 1, resetSeconds: 60 }));
    const id = await trigger(svc, 'says-1');
    const fix = await waiting(id);
    // Planned as a plain run: the breaker was closed.
    assert.deepEqual([(await matchOf(id)).decision, (await matchOf(id)).skip_reason], ['run', null]);
    // While it waited, other runs opened the breaker two minutes ago, past its resetSeconds (written as they would leave it).
    await openBreaker(ruleId, 1, 120_000);
    await decide(id, fix.id, 'approve');
    await ended(id, 3);
    // What the on-call reads on the incident: the match names the trial (before: no reason, an ordinary run).
    const res = await peers.stack.api(`/api/incidents/${id}`);
    assert.equal(res.status, 200);
    const view = (await res.json()) as { matches: { ruleId: string; decision: string; skipReason: string | null }[] };
    const m = view.matches.find((x) => x.ruleId === ruleId);
    assert.equal(m?.decision, 'run');
    assert.equal(
      m?.skipReason,
      "half-open trial of the circuit breaker, begun when this run's remediation started after this action waited for its approval: the breaker had been open for at least 60 s (its resetSeconds) with no trial running; this run decides whether it closes",
    );
  });

  it('a trial begun at its approved start that fails re-opens the breaker, and its notice says re-opened: the half-open trial failed', async function () {
    this.timeout(120_000);
    const svc = newServiceId();
    const ruleId = await rule(svc, gatedFix({ failureThreshold: 3, resetSeconds: 60 }));
    const id = await trigger(svc, 'fail-trial-1');
    const fix = await waiting(id);
    // Three other runs failed and opened the breaker two minutes ago, past its resetSeconds (written as they would leave it).
    await openBreaker(ruleId, 3, 120_000);
    await decide(id, fix.id, 'approve');
    const runs = await ended(id, 3);
    assert.deepEqual(statuses(runs), [['fix', 'failed'], ['resolve', 'skipped'], ['tell', 'succeeded']], why(runs));
    assert.equal(await hostSaw('fail-trial-1'), true, 'the fix ran on its host, as the trial');
    await scored(id);
    assert.deepEqual(await breakerOf(ruleId), { breaker_state: 'open', consecutive_failures: 4, breaker_trial_match: null }, 're-opened by its trial');
    // What the rule's channel and the incident are told. Before: "Circuit breaker opened: … failed 4 runs in a
    // row (threshold 3)", as for a first opening, since the run was not planned as the trial.
    const said = await eventually(async () => peers.slack.messages.find((m) => m.text.startsWith('[self-healing] Circuit breaker') && m.text.includes(id)), 30_000, 'the breaker notice in Slack');
    assert.match(said.text, new RegExp(`^\\[self-healing\\] Circuit breaker re-opened: the half-open trial run of rule "breaker-${svc.toLowerCase()}" \\(v1\\) for incident ${id} failed; only notifications run until the next trial or POST /api/rules/${ruleId}/reset-breaker\\.$`));
    const note = await eventually(async () => peers.pd.notes(id).find((n) => n.content.startsWith('[self-healing] Circuit breaker')), 30_000, 'the breaker note in PagerDuty');
    assert.match(note.content, /^\[self-healing\] Circuit breaker re-opened: the half-open trial run of /);
  });

  it("a half-open trial whose run was lost stops approved fixes only as long as its run could take; after that, an approved fix starts as the next trial and decides the breaker", async function () {
    this.timeout(180_000);
    const svc = newServiceId();
    const ruleId = await rule(svc, gatedFix({ failureThreshold: 1, resetSeconds: 60 }));
    // Planned while the breaker was closed: a fix waiting for its approval.
    const waits = await trigger(svc, 'after-lost-1');
    const waitingFix = await waiting(waits);
    const early = await trigger(svc, 'before-lost-1');
    const earlyFix = await waiting(early);
    // The breaker opened two minutes ago: the next match is its half-open trial, whose fix waits in turn.
    await openBreaker(ruleId, 1, 120_000);
    const lost = await trigger(svc, 'lost-trial-1');
    const lostMatch = await matchOf(lost);
    assert.match(lostMatch.skip_reason ?? '', /^circuit breaker half-open trial/);
    const lostFix = await waiting(lost);
    // Its run is lost: terminated in Temporal (as after an operator's terminate, or a worker gone for good), so its
    // outcome is never counted and the breaker stays half-open on it.
    await peers.stack.temporal.client.workflow.getHandle(lostFix.workflow_id!).terminate('lost for the test');
    assert.deepEqual(await breakerOf(ruleId), { breaker_state: 'half_open', consecutive_failures: 1, breaker_trial_match: String(lostMatch.id) });
    // While that trial may still be running (nothing here knows it was lost), an approved fix does not start.
    await decide(early, earlyFix.id, 'approve');
    const stopped = await ended(early, 3);
    assert.deepEqual(statuses(stopped), [['fix', 'skipped'], ['resolve', 'skipped'], ['tell', 'succeeded']], why(stopped));
    assert.match(stopped[0]!.error ?? '', /its half-open trial is another run: only notifications run until that trial ends/);
    assert.equal(await hostSaw('before-lost-1'), false);
    // A day later (written as time would leave it: the trial and its lease began a day ago), longer than a
    // run of this rule may take (its approval wait, retries and margin), the waiting fix is approved.
    const definition = (await peers.stack.db.db.selectFrom('rules').select('definition').where('id', '=', ruleId).executeTakeFirstOrThrow()).definition as Parameters<typeof leaseSeconds>[0];
    assert.ok(leaseSeconds(definition) < 86_400, 'a run of the rule takes less than a day');
    const dayAgo = new Date(Date.now() - 86_400_000);
    await peers.stack.db.db.updateTable('rules').set({ breaker_opened_at: dayAgo }).where('id', '=', ruleId).execute();
    await peers.stack.db.db.updateTable('target_leases').set({ acquired_at: dayAgo, expires_at: new Date(dayAgo.getTime() + leaseSeconds(definition) * 1000) }).where('match_id', '=', String(lostMatch.id)).execute();
    await decide(waits, waitingFix.id, 'approve');
    const runs = await ended(waits, 3);
    // Before: skipped, "its half-open trial is another run: only notifications run until that trial ends", which it never would.
    assert.deepEqual(statuses(runs), [['fix', 'succeeded'], ['resolve', 'succeeded'], ['tell', 'succeeded']], why(runs));
    assert.equal(await hostSaw('after-lost-1'), true, 'the fix ran on its host');
    const m = await matchOf(waits);
    assert.match(m.skip_reason ?? '', new RegExp(`^half-open trial of the circuit breaker, begun when this run's remediation started after this action waited for its approval: the breaker's previous trial \\(match ${lostMatch.id}\\) began more than \\d+ s ago, longer than its run may take, and never ended; this run decides whether it closes$`));
    await scored(waits);
    assert.deepEqual(await breakerOf(ruleId), { breaker_state: 'closed', consecutive_failures: 0, breaker_trial_match: null }, 'closed by this run as the next trial');
  });
});
