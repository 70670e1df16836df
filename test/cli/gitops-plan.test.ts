// The GitOps planner without a server: reading files, validating, ordering, references, export round trip.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { EnvironmentView, JobView, RuleView } from '../../src/cli/api-types.js';
import { parsePruneKinds, parseTeams } from '../../src/cli/commands/gitops.js';
import { CliError, EXIT } from '../../src/cli/errors.js';
import { exportDocuments, renderExport } from '../../src/cli/gitops/export.js';
import { readManifests, type Kind } from '../../src/cli/gitops/manifests.js';
import { parseRuleInput } from '../../src/domain/rules/index.js';
import { checkReferences, planChanges, resolveScope, validateManifests, type CurrentState } from '../../src/cli/gitops/plan.js';
import { executePlan, teamReport } from '../../src/cli/gitops/run.js';

const usage = (re: RegExp) => (err: unknown) => err instanceof CliError && err.exitCode === EXIT.usage && re.test(err.message);
const none: CurrentState = { rules: [], environments: [], jobs: [] };

describe('selfheal GitOps planner (no server)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-plan-'));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reads documents, lists and rules: wrappers from files and folders; sub-folders only with recursive', async () => {
    await mkdir(path.join(dir, 'tree/nested'), { recursive: true });
    await writeFile(path.join(dir, 'tree/a.yaml'), 'kind: Environment\nname: env-a\n---\n- { kind: Rule, name: r1, actions: [{ type: pagerduty.acknowledge }] }\n- { kind: Rule, name: r2, actions: [{ type: pagerduty.acknowledge }] }\n');
    await writeFile(path.join(dir, 'tree/b.json'), JSON.stringify([{ kind: 'Environment', name: 'env-b' }]));
    await writeFile(path.join(dir, 'tree/legacy.yml'), 'rules:\n  - { name: r3, actions: [{ type: pagerduty.acknowledge }] }\n');
    await writeFile(path.join(dir, 'tree/notes.txt'), 'not a manifest');
    await writeFile(path.join(dir, 'tree/.hidden.yaml'), 'kind: Widget');
    await writeFile(path.join(dir, 'tree/nested/c.yaml'), 'kind: Environment\nname: env-c\n');

    const flat = readManifests([path.join(dir, 'tree')]);
    assert.deepEqual(flat.map((m) => `${m.kind}:${m.raw.name as string}:${path.basename(m.file)}#${m.index}`), [
      'Environment:env-a:a.yaml#0',
      'Rule:r1:a.yaml#1',
      'Rule:r2:a.yaml#2',
      'Environment:env-b:b.json#0',
      'Rule:r3:legacy.yml#0',
    ]);
    assert.ok(!('kind' in flat[0]!.raw), 'kind is not part of the object sent to the API');
    const deep = readManifests([path.join(dir, 'tree')], { recursive: true });
    assert.deepEqual(deep.map((m) => m.raw.name), ['env-a', 'r1', 'r2', 'env-b', 'r3', 'env-c']);
    assert.throws(() => readManifests([path.join(dir, 'tree/nested/c.yaml'), path.join(dir, 'nope.yaml')]), usage(/cannot read .*nope\.yaml/));
  });

  it('validation applies defaults and names every problem with its file and position', async () => {
    await writeFile(path.join(dir, 'bad.yaml'), 'kind: Job\nid: Bad Id\nname: x\nschedule: { interval: 1h, cron: "* * * * *" }\ntargets: { all: true }\nscript: ../evil.sh\n---\n"just text"\n');
    assert.throws(() => validateManifests(readManifests([path.join(dir, 'bad.yaml')])), usage(/object 2: must be a mapping/));
    await writeFile(path.join(dir, 'bad.yaml'), 'kind: Job\nid: Bad Id\nname: x\nschedule: { interval: 1h, cron: "* * * * *" }\ntargets: { all: true }\nscript: ../evil.sh\n');
    assert.throws(
      () => validateManifests(readManifests([path.join(dir, 'bad.yaml')])),
      (err: unknown) => {
        const m = (err as Error).message;
        return /bad\.yaml, object 1 \(Job Bad Id\) id: must be lowercase/.test(m) && /schedule: give exactly one of "interval" or "cron"/.test(m) && /script: must be a script file name/.test(m);
      },
    );
    await writeFile(path.join(dir, 'ok.yaml'), 'kind: Job\nname: Nightly Report\nschedule: { interval: 1h }\ntargets: { all: true }\nscript: report.sh\n');
    const [job] = validateManifests(readManifests([path.join(dir, 'ok.yaml')]));
    assert.equal(job!.kind, 'Job');
    assert.equal(job!.key, 'nightly-report', 'the id defaults to the name as a slug, as the API does');
    assert.deepEqual(job!.kind === 'Job' && job!.definition.schedule, { interval: '1h', timezone: 'UTC', overlap: 'skip', catchupWindow: '10m' });
  });

  it('plans creates in dependency order and prunes only the kinds named, in reverse order', async () => {
    await writeFile(
      path.join(dir, 'order.yaml'),
      'kind: Rule\nname: r-new\nactions: [{ type: pagerduty.acknowledge }]\n---\nkind: Job\nid: j-new\nname: j new\nschedule: { interval: 1h }\ntargets: { environments: [e-new] }\nscript: s.sh\n---\nkind: Environment\nname: e-new\n',
    );
    const desired = validateManifests(readManifests([path.join(dir, 'order.yaml')]));
    const current: CurrentState = {
      rules: [{ id: 'r-id', name: 'r-old', version: 3, enabled: true, dryRun: false, services: ['*'] } as RuleView],
      environments: [{ name: 'e-old', description: null, labels: {}, agentTaskQueue: 'selfheal-agent-e-old', ssh: null, maintenanceWindows: [] }],
      jobs: [{ id: 'j-old', name: 'j old', schedule: { interval: '1h' }, targets: { environments: ['e-old'] }, script: 's.sh', via: 'agent', enabled: true } as JobView],
    };
    const plan = (prune: Kind[]) => planChanges(desired, current, new Set(prune)).map((s) => `${s.action} ${s.kind} ${s.key}`);
    assert.deepEqual(plan([]), ['create Environment e-new', 'create Job j-new', 'create Rule r-new']);
    assert.deepEqual(plan(['Environment', 'Job', 'Rule']), [
      'create Environment e-new',
      'create Job j-new',
      'create Rule r-new',
      'delete Rule r-old',
      'delete Job j-old',
      'delete Environment e-old',
    ]);
    assert.deepEqual(planChanges(desired, current, new Set(['Rule'])).at(-1), { kind: 'Rule', action: 'delete', key: 'r-old', id: 'r-id', version: 3 });

    checkReferences(desired, current, new Set(['Environment', 'Job']));
    assert.throws(() => checkReferences(desired, current, new Set(['Environment'])), usage(/job "j-old" on the server targets environment "e-old", which --prune environment would delete/));
    await writeFile(path.join(dir, 'ref.yaml'), 'kind: Job\nid: j-ref\nname: j ref\nschedule: { interval: 1h }\ntargets: { environments: [e-old] }\nscript: s.sh\n');
    const refs = validateManifests(readManifests([path.join(dir, 'ref.yaml')]));
    checkReferences(refs, current, new Set());
    assert.throws(() => checkReferences(refs, current, new Set(['Environment'])), usage(/ref\.yaml, object 1 \(Job j-ref\): targets environment "e-old", which --prune environment would delete/));
    assert.throws(() => checkReferences(refs, none, new Set()), usage(/targets environment "e-old", which is neither in the files nor on the server/));
  });

  it('--prune kinds: singular or plural, comma-separated; anything else is a usage error', () => {
    assert.deepEqual([...parsePruneKinds('rule, jobs,Environment')].sort(), ['Environment', 'Job', 'Rule']);
    assert.deepEqual([...parsePruneKinds(undefined)], []);
    for (const bad of ['all', '', 'rule,', 'widgets']) assert.throws(() => parsePruneKinds(bad), usage(/--prune takes kinds/), bad);
  });

  it('an export read back plans nothing: every object unchanged', async () => {
    const current: CurrentState = {
      environments: [
        {
          name: 'prod-eu',
          description: null,
          labels: { team: 'sre' },
          agentTaskQueue: 'selfheal-agent-prod-eu',
          ssh: { host: 'vm.example', port: 22, user: 'selfheal', keyRef: 'env:KEY', hostKeyFingerprint: 'SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8' },
          maintenanceWindows: [],
          createdAt: '2026-01-01T00:00:00Z',
          updatedAt: '2026-01-01T00:00:00Z',
        } as EnvironmentView,
        { name: 'custom-queue', description: 'x', labels: {}, agentTaskQueue: 'my-queue', ssh: null, maintenanceWindows: [] },
      ],
      jobs: [
        {
          id: 'paused-job',
          name: 'paused job',
          schedule: { interval: '1h', timezone: 'UTC', overlap: 'skip', catchupWindow: '10m' },
          targets: { environments: ['prod-eu'] },
          via: 'agent',
          script: 'x.sh',
          args: [],
          timeoutSecondsPerTarget: 300,
          agentPickupTimeoutSeconds: 60,
          concurrency: 5,
          dryRun: false,
          enabled: false,
          scheduleId: 'job-paused-job',
          createdAt: '2026-01-01T00:00:00Z',
          updatedAt: '2026-01-01T00:00:00Z',
        } as JobView,
      ],
      rules: [],
    };
    const text = renderExport(exportDocuments(current), false);
    assert.match(text, /keyRef: env:KEY/);
    assert.doesNotMatch(text, /selfheal-agent-prod-eu/, 'the default queue is left out');
    assert.match(text, /agentTaskQueue: my-queue/);
    await writeFile(path.join(dir, 'export.yaml'), text);
    const steps = planChanges(validateManifests(readManifests([path.join(dir, 'export.yaml')])), current, new Set(['Environment', 'Job', 'Rule']));
    assert.deepEqual(steps.map((s) => `${s.action} ${s.key}`), ['unchanged custom-queue', 'unchanged prod-eu', 'unchanged paused-job']);
  });
  it('carries team on every kind: a file naming another team is refused, and with --allow-move plans a move of that field only; export keeps non-default teams and round-trips', async () => {
    const parsed = parseRuleInput({ name: 'pay-rule', actions: [{ type: 'pagerduty.acknowledge' }] });
    assert.ok(parsed.ok);
    const rule = { id: 'r-1', version: 3, ...parsed.value, team: 'default' } as unknown as RuleView;
    const env = { name: 'pay-vm', team: 'default', description: null, labels: {}, agentTaskQueue: 'selfheal-agent-pay-vm', ssh: null, maintenanceWindows: [] } as unknown as EnvironmentView;
    const current: CurrentState = { rules: [rule], environments: [env], jobs: [] };
    await writeFile(
      path.join(dir, 'teams.yaml'),
      'kind: Environment\nname: pay-vm\nteam: payments\n---\nkind: Rule\nname: pay-rule\nteam: payments\nactions: [{ type: pagerduty.acknowledge }]\n',
    );
    const desired = validateManifests(readManifests([path.join(dir, 'teams.yaml')]));
    assert.throws(() => planChanges(desired, current, new Set()), usage(/environment "pay-vm" is in team payments in the files, but the server's environment "pay-vm" is in team default[\s\S]*--allow-move/));
    const steps = planChanges(desired, current, new Set(), { teams: new Set(['payments']), allowMove: true });
    assert.deepEqual(
      steps.map((x) => [x.action, x.key, (x.changes ?? []).map((c) => c.path).join(','), (x.body as { team?: string }).team, x.move]),
      [
        ['update', 'pay-vm', 'team', 'payments', { from: 'default', to: 'payments' }],
        ['update', 'pay-rule', 'team', 'payments', { from: 'default', to: 'payments' }],
      ],
    );
    // A file without team means default: the objects above are unchanged by it.
    await writeFile(path.join(dir, 'noteam.yaml'), 'kind: Environment\nname: pay-vm\n---\nkind: Rule\nname: pay-rule\nactions: [{ type: pagerduty.acknowledge }]\n');
    assert.deepEqual(planChanges(validateManifests(readManifests([path.join(dir, 'noteam.yaml')])), current, new Set()).map((x) => x.action), ['unchanged', 'unchanged']);

    const moved: CurrentState = { rules: [{ ...rule, team: 'payments' } as RuleView], environments: [{ ...env, team: 'payments' } as EnvironmentView], jobs: [] };
    const text = renderExport(exportDocuments(moved), false);
    assert.equal(text.match(/^team: payments$/gm)?.length, 2, 'each exported object names its team');
    assert.doesNotMatch(renderExport(exportDocuments(current), false), /^team:/m, 'the default team is left out');
    await writeFile(path.join(dir, 'teams-export.yaml'), text);
    assert.deepEqual(planChanges(validateManifests(readManifests([path.join(dir, 'teams-export.yaml')])), moved, new Set()).map((x) => x.action), ['unchanged', 'unchanged']);
  });
  describe('team scope (a token that sees several teams)', () => {
    const ack = [{ type: 'pagerduty.acknowledge' }];
    const liveRule = (name: string, team: string, id: string) => {
      const parsed = parseRuleInput({ name, team, actions: ack });
      assert.ok(parsed.ok);
      return { id, version: 1, ...parsed.value, team } as unknown as RuleView;
    };
    const liveEnv = (name: string, team: string, ssh: unknown = null) =>
      ({ name, team, description: null, labels: {}, agentTaskQueue: `selfheal-agent-${name}`, ssh, maintenanceWindows: [] }) as unknown as EnvironmentView;
    const liveJob = (id: string, team: string, envs: string[]) =>
      ({ id, team, name: id, schedule: { interval: '1h' }, targets: { environments: envs }, script: 's.sh', via: 'agent', enabled: true }) as unknown as JobView;
    /** What a `read` token sees (the default team) and what an admin token sees (every team). */
    const readView: CurrentState = { rules: [], environments: [], jobs: [] };
    const adminView: CurrentState = {
      rules: [liveRule('disk-cleanup', 'payments', 'r-pay'), liveRule('payments-failover', 'payments', 'r-fail')],
      environments: [liveEnv('pay-vm', 'payments', { host: 'vm.pay', port: 22, user: 'selfheal', keyRef: 'env:PAY_KEY', hostKeyFingerprint: null })],
      jobs: [liveJob('pay-job', 'payments', ['pay-vm'])],
    };
    const desiredOf = async (name: string, text: string) => {
      await writeFile(path.join(dir, name), text);
      return validateManifests(readManifests([path.join(dir, name)]));
    };

    it('a file rule without team never overwrites, moves or prunes another team\'s objects (the review repro)', async () => {
      const desired = await desiredOf('repro.yaml', 'kind: Rule\nname: disk-cleanup\nactions: [{ type: pagerduty.acknowledge }]\n');
      const prune = new Set<Kind>(['Job', 'Rule']);
      assert.deepEqual(planChanges(desired, readView, prune).map((s) => `${s.action} ${s.key}`), ['create disk-cleanup'], 'what the read token diff shows');
      // Before: [update disk-cleanup (team: payments → default), delete payments-failover, delete pay-job].
      assert.throws(
        () => planChanges(desired, adminView, prune),
        usage(/repro\.yaml, object 1 \(Rule disk-cleanup\): rule "disk-cleanup" is in team default in the files, but the server's rule "disk-cleanup" is in team payments: applying would overwrite/),
      );
      // Another name: the payments objects are outside the plan's teams (default), so --prune leaves them.
      const other = await desiredOf('other.yaml', 'kind: Rule\nname: default-only\nactions: [{ type: pagerduty.acknowledge }]\n');
      assert.deepEqual(planChanges(other, adminView, new Set<Kind>(['Environment', 'Job', 'Rule'])).map((s) => `${s.action} ${s.key}`), ['create default-only']);
      checkReferences(other, adminView, new Set<Kind>(['Environment']));
    });

    it('an environment of another team is refused too (its ssh fields would be overwritten); --allow-move shows the move', async () => {
      const desired = await desiredOf('env.yaml', 'kind: Environment\nname: pay-vm\n');
      assert.throws(() => planChanges(desired, adminView, new Set()), usage(/environment "pay-vm" is in team default in the files, but the server's environment "pay-vm" is in team payments/));
      const [step] = planChanges(desired, adminView, new Set(), { teams: new Set(['default']), allowMove: true });
      assert.equal(step!.action, 'update');
      assert.deepEqual(step!.move, { from: 'payments', to: 'default' });
      assert.deepEqual(step!.changes?.map((c) => c.path).sort(), ['ssh', 'team']);
    });

    // The server refuses the move (409) while a job of the environment's team names it; environments are
    // applied before jobs, so the plan says it before anything is applied, even when the files drop it.
    it('--allow-move of an environment a job of its team names on the server is refused before anything is applied, naming the job', async () => {
      const moveOnly = await desiredOf('move.yaml', 'kind: Environment\nname: pay-vm\n');
      const scope = { teams: new Set(['default']), allowMove: true };
      assert.throws(
        () => checkReferences(moveOnly, adminView, new Set(), scope),
        usage(/environment "pay-vm" would move from team payments to team default, but job "pay-job" of team payments on the server names it \(the server refuses the move\): apply the job without it first, then the move/),
      );
      const dropping = await desiredOf('move-drop.yaml', 'kind: Environment\nname: pay-vm\n---\nkind: Job\nid: pay-job\nname: pay-job\nteam: payments\nschedule: { interval: 1h }\ntargets: { all: true }\nscript: s.sh\n');
      assert.throws(() => checkReferences(dropping, adminView, new Set(), { teams: new Set(['default', 'payments']), allowMove: true }), usage(/job "pay-job" of team payments on the server names it/));
      // Once the server's job names it no more, the move is planned.
      const apart: CurrentState = { ...adminView, jobs: [liveJob('pay-job', 'payments', ['other-vm']), liveJob('default-job', 'default', ['pay-vm'])] };
      checkReferences(moveOnly, apart, new Set(), scope);
      assert.deepEqual(planChanges(moveOnly, apart, new Set(), scope)[0]!.move, { from: 'payments', to: 'default' });
      // Without --allow-move the move itself is what is refused (planChanges), as before.
      checkReferences(moveOnly, adminView, new Set(), { teams: new Set(['default']), allowMove: false });
    });

    it('--prune deletes only objects of the covered teams; --team widens or narrows the scope and must cover every file object', async () => {
      const desired = await desiredOf('pay.yaml', 'kind: Rule\nname: disk-cleanup\nteam: payments\nactions: [{ type: pagerduty.acknowledge }]\n');
      const current: CurrentState = { ...adminView, rules: [...adminView.rules, liveRule('default-rule', 'default', 'r-def')] };
      const all = new Set<Kind>(['Rule']);
      assert.deepEqual(planChanges(desired, current, all).map((s) => `${s.action} ${s.key}`), ['unchanged disk-cleanup', 'delete payments-failover']);
      const wide = resolveScope(desired, ['payments', 'default'], false);
      assert.deepEqual(planChanges(desired, current, all, wide).map((s) => `${s.action} ${s.key}`), ['unchanged disk-cleanup', 'delete payments-failover', 'delete default-rule']);
      assert.deepEqual([...resolveScope(desired, undefined, false).teams], ['payments']);
      assert.throws(() => resolveScope(desired, ['default'], false), usage(/--team default does not cover every object of the files[\s\S]*pay\.yaml, object 1 \(Rule disk-cleanup\): rule "disk-cleanup" is in team payments/));
      assert.deepEqual(parseTeams(['a,b', 'c', 'a']), ['a', 'b', 'c']);
      assert.equal(parseTeams(undefined), undefined);
      for (const bad of [['Payments'], ['a,,b'], ['']]) assert.throws(() => parseTeams(bad), usage(/--team takes team names/), bad.join());
    });

    it('reports the teams the plan covers and those the token cannot read', () => {
      assert.deepEqual(teamReport(['payments', 'default', 'payments'], ['default']), { covered: ['default', 'payments'], readable: ['default'], unreadable: ['payments'] });
      assert.deepEqual(teamReport(['default'], ['default', 'payments']).unreadable, []);
    });
  });
  it('a job whose file does not say `enabled` is sent without it: a pause made after the plan was read survives the apply', async () => {
    // Before, the plan copied `enabled` from the job as read into the replacement it sent, so a `selfheal
    // jobs pause` made while an apply was under way (reading, planning, waiting out a 429) was undone by it.
    const raw = { id: 'nightly', name: 'nightly', schedule: { interval: '6h' }, targets: { environments: ['prod-eu'] }, script: 'health-check.sh' };
    const desired = validateManifests([{ kind: 'Job', raw, file: 'jobs.yaml', index: 0 }] as never);
    const asRead = { ...(desired[0] as unknown as { definition: JobView }).definition, schedule: { interval: '12h' }, enabled: true, team: 'default' } as JobView;
    const steps = planChanges(desired, { rules: [], environments: [{ name: 'prod-eu', team: 'default' } as EnvironmentView], jobs: [asRead] }, new Set());
    const sent: Record<string, unknown>[] = [];
    await executePlan({ jobs: { update: async (_id: string, body: Record<string, unknown>) => void sent.push(body) } } as never, steps);
    assert.equal(sent.length, 1, 'the interval change is applied');
    assert.equal('enabled' in sent[0]!, false, 'the replacement leaves `enabled` to the server');

    // A file that says `enabled` still pins it.
    const pinned = validateManifests([{ kind: 'Job', raw: { ...raw, enabled: false }, file: 'jobs.yaml', index: 0 }] as never);
    const pinSteps = planChanges(pinned, { rules: [], environments: [{ name: 'prod-eu', team: 'default' } as EnvironmentView], jobs: [asRead] }, new Set());
    const pinSent: Record<string, unknown>[] = [];
    await executePlan({ jobs: { update: async (_id: string, body: Record<string, unknown>) => void pinSent.push(body) } } as never, pinSteps);
    assert.equal(pinSent[0]?.enabled, false);
  });
});
