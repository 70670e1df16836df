import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { RuleInputDocument } from '../../src/domain/rules/schema.js';
import { stackWithDoctor } from '../helpers/agent-host.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { sampleFor } from '../helpers/samples.js';
import { eventually } from '../helpers/stack.js';

// Attack on the promise "verified means it worked" (docs/guarantees.md, verified remediation): a person
// merges the incident into another one in PagerDuty (the usual tidy-up of duplicates during an outage).
// PagerDuty resolves the merged incident, and its incident.resolved carries
// `resolve_reason: { type: 'merge_resolve_reason', incident: <the one it was merged into> }`: the problem goes on
// in that incident. Before, that resolve verified the remediation: the match said `verified`, onUnverified
// (the escalation of a fix that did not work) never ran, and the circuit breaker counted a success.
describe('audit: a merge is not a fix (verified remediation)', function () {
  const peers = stackWithDoctor({
    prefix: 'amerge',
    environment: `amerge-${randomUUID().slice(0, 6)}`,
    scripts: (markerDir) => ({
      'fix.sh': 'echo "restarted $1"',
      'check.sh': `echo run >> "${markerDir}/checks-$1"; test -e "${markerDir}/healthy-$1"`,
    }),
    slackSecret: 'SELFHEAL_SECRET_AMERGE_SLACK',
    pagerDutyToken: 'pd-amerge-token',
  });
  const { title, service } = peers;

  const rule = async (svc: string, extra: Partial<RuleInputDocument>): Promise<string> =>
    insertRule(peers.stack.db.db, {
      name: `amerge-${svc.toLowerCase()}`,
      services: [svc],
      actions: [{ id: 'fix', type: 'script.agent', script: 'fix.sh', args: ['{{ environment.host }}'] }],
      ...extra,
    } as RuleInputDocument);
  const trigger = (svc: string, host: string) => peers.trigger(svc, host, { occurredAt: '2026-09-01T10:00:00Z', atPeer: false });
  const verificationOf = (id: string) => peers.stack.db.db.selectFrom('rule_matches').selectAll().where('incident_id', '=', id).executeTakeFirst();
  const settled = (id: string) =>
    eventually(async () => {
      const m = await verificationOf(id);
      return m?.verification && m.verification !== 'pending' ? m : undefined;
    }, 60_000, `verification of ${id} settled`);
  const pending = (id: string) => eventually(async () => ((await verificationOf(id))?.verification === 'pending' ? true : undefined), 60_000, `verification of ${id} pending`);
  const merged = (svc: string, host: string) => ({
    title: title(host),
    service: service(svc),
    resolve_reason: { type: 'merge_resolve_reason', incident: { id: 'PMERGEDINTO', type: 'incident_reference', summary: '[#7] the outage', html_url: 'https://pig208.pagerduty.com/incidents/PMERGEDINTO' } },
  });

  it('an incident merged into another: not verified; onUnverified runs once and the breaker counts a failure', async function () {
    this.timeout(120_000);
    const svc = newServiceId();
    const ruleId = await rule(svc, {
      policies: { circuitBreaker: { failureThreshold: 1 } },
      verify: {
        within: '30s',
        settle: '1s',
        onUnverified: [{ id: 'page', type: 'notify.slack', webhookUrlRef: 'env:SELFHEAL_SECRET_AMERGE_SLACK', text: 'unverified fix on {{ environment.host }}' }],
      },
    });
    const id = await trigger(svc, 'merged-1');
    await pending(id);
    await peers.stack.deliver(sampleFor('v3-incident.resolved-01.json', id, { occurredAt: '2026-09-01T10:02:00Z', data: merged(svc, 'merged-1') }));
    const m = await settled(id);
    assert.equal(m.verification, 'unverified', `a merge verified the remediation: ${m.verification_detail}`);
    assert.match(m.verification_detail ?? '', /merged into PMERGEDINTO/);
    await eventually(async () => peers.slack.messages.some((x) => x.text === 'unverified fix on merged-1') || undefined, 30_000, 'the onUnverified page');
    const r = await eventually(async () => {
      const row = await peers.stack.db.db.selectFrom('rules').select(['breaker_state']).where('id', '=', ruleId).executeTakeFirstOrThrow();
      return row.breaker_state === 'open' ? row : undefined;
    }, 30_000, 'breaker opened by the unverified run');
    assert.equal(r.breaker_state, 'open');
  });

  it('an incident merged into another, with a check: only the check decides (run once more when the merge cancels the run)', async function () {
    this.timeout(120_000);
    // A long settle: the merge lands before the first run of the check, and cancels the rule run.
    const check = { type: 'script.agent' as const, script: 'check.sh', args: ['{{ environment.host }}'] };
    const sickSvc = newServiceId();
    await rule(sickSvc, { verify: { within: '60s', settle: '30s', check } });
    const sick = await trigger(sickSvc, 'merged-sick');
    await pending(sick);
    await peers.stack.deliver(sampleFor('v3-incident.resolved-01.json', sick, { occurredAt: '2026-09-01T10:02:00Z', data: merged(sickSvc, 'merged-sick') }));
    const u = await settled(sick);
    assert.equal(u.verification, 'unverified', `a merge verified the remediation: ${u.verification_detail}`);
    assert.match(u.verification_detail ?? '', /merged into PMERGEDINTO.*check check\.sh exited 1 \(1 runs?\)$/);

    const okSvc = newServiceId();
    await rule(okSvc, { verify: { within: '60s', settle: '30s', check } });
    await writeFile(path.join(peers.doctor.markerDir, 'healthy-merged-ok'), '');
    const ok = await trigger(okSvc, 'merged-ok');
    await pending(ok);
    await peers.stack.deliver(sampleFor('v3-incident.resolved-01.json', ok, { occurredAt: '2026-09-01T10:02:00Z', data: merged(okSvc, 'merged-ok') }));
    const v = await settled(ok);
    assert.equal(v.verification, 'verified');
    assert.match(v.verification_detail ?? '', /^check check\.sh exited 0 \(run 1\)$/);
  });
});
