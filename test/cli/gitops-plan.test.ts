// The GitOps planner without a server: reading files, validating, ordering, references, export round trip.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { EnvironmentView, JobView, RuleView } from '../../src/cli/api-types.js';
import { parsePruneKinds } from '../../src/cli/commands/gitops.js';
import { CliError, EXIT } from '../../src/cli/errors.js';
import { exportDocuments, renderExport } from '../../src/cli/gitops/export.js';
import { readManifests, type Kind } from '../../src/cli/gitops/manifests.js';
import { parseRuleInput } from '../../src/domain/rules/index.js';
import { checkReferences, planChanges, validateManifests, type CurrentState } from '../../src/cli/gitops/plan.js';

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
  it('carries team on every kind: a file naming another team plans a move of that field only; export keeps non-default teams and round-trips', async () => {
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
    const steps = planChanges(desired, current, new Set());
    assert.deepEqual(
      steps.map((x) => [x.action, x.key, (x.changes ?? []).map((c) => c.path).join(','), (x.body as { team?: string }).team]),
      [
        ['update', 'pay-vm', 'team', 'payments'],
        ['update', 'pay-rule', 'team', 'payments'],
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
});
