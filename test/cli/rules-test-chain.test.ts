import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { selfheal as launch } from '../helpers/cli.js';

/** The real launcher, offline (the URL points nowhere): `rules test` needs no server. */
const selfheal = (args: string[]) => launch(args, { SELFHEAL_URL: 'http://127.0.0.1:9' });

// issue 19: `rules test` says why each action would run or be skipped, as the rule-run workflow decides.
const rule = `
name: fix-or-escalate
conditions:
  all:
    - { field: incident.title, op: matches, value: '^Disk full' }
actions:
  - { id: fix, type: script.agent, script: disk-cleanup.sh, args: ['{{ environment.host }}'] }
  - { id: escalate, type: pagerduty.escalate, level: 2, when: failure }
  - { id: resolve, type: pagerduty.resolve, when: success }
  - { id: note, type: pagerduty.note, content: 'done on {{ environment.host }}', when: always }
`;

describe('selfheal rules test: the chaining explanation', function () {
  this.timeout(120_000);
  let dir: string;
  const file = (name: string) => path.join(dir, name);

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-chain-'));
    await writeFile(file('rule.yaml'), rule);
    await writeFile(file('payload.json'), JSON.stringify(sampleFor('v3-incident.triggered-01.json', newIncidentId(), { data: { title: 'Disk full on db-07' } })));
    await writeFile(file('env.json'), JSON.stringify({ host: 'db-07' }));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const base = () => ['rules', 'test', '-f', file('rule.yaml'), '--payload', file('payload.json'), '--environment', file('env.json')];

  it('by default every action that runs succeeds: the failure branch is skipped, and says why', async () => {
    const r = await selfheal(base());
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /assuming each one that runs succeeds/);
    assert.match(r.stdout, /✓ fix runs: when: success, and no earlier action ran/);
    assert.match(r.stdout, /✗ escalate is skipped: when: failure, and no earlier action failed/);
    assert.match(r.stdout, /✓ resolve runs: when: success, and every earlier action that ran succeeded \(fix\)/);
    assert.match(r.stdout, /✓ note runs: when: always/);
    // Rendered parameters are shown for the actions that run, not for skipped ones.
    assert.match(r.stdout, /"args":\["db-07"\]/);
    assert.doesNotMatch(r.stdout, /"level":2/);
  });

  it('--fail fix: the escalation runs and the incident is not resolved', async () => {
    const r = await selfheal([...base(), '--fail', 'fix']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /assuming fix fail\(s\) when run/);
    assert.match(r.stdout, /✓ fix runs \(and fails\)/);
    assert.match(r.stdout, /✓ escalate runs: when: failure, and fix failed/);
    assert.match(r.stdout, /✗ resolve is skipped: when: success, and fix failed/);
    assert.match(r.stdout, /✓ note runs: when: always/);
  });

  it('--json carries the chain; an unknown --fail id is a usage error naming the ids', async () => {
    const r = await selfheal(['--json', ...base(), '--fail', 'fix']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { chain: { actionId: string; run: boolean; reason: string }[] };
    assert.deepEqual(
      out.chain.map((s) => [s.actionId, s.run]),
      [
        ['fix', true],
        ['escalate', true],
        ['resolve', false],
        ['note', true],
      ],
    );
    const bad = await selfheal([...base(), '--fail', 'nope']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--fail nope: the rule has no action with that id \(it has fix, escalate, resolve, note\)/);
  });
});

describe('selfheal rules test: a payload that is not JSON', function () {
  this.timeout(60_000);
  it('says where it stops being JSON without quoting the file', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-json-'));
    try {
      await writeFile(path.join(dir, 'rule.yaml'), rule);
      await writeFile(path.join(dir, 'payload.json'), 'aws_secret_access_key=AKIAEXAMPLESECRET1234\n');
      const r = await selfheal(['rules', 'test', '-f', path.join(dir, 'rule.yaml'), '--payload', path.join(dir, 'payload.json')]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /payload .*payload\.json is not valid JSON/);
      assert.doesNotMatch(r.stderr, /aws_secret|AKIA/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
