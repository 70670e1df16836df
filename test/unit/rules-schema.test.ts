import assert from 'node:assert/strict';
import { z } from '../../src/domain/zod.js';
import { parseRule, parseRuleInput, ruleInputSchema, ruleSchema, type RuleIssue } from '../../src/domain/rules/index.js';

const realistic = {
  name: 'disk-full-cleanup',
  description: 'Free disk space on DB hosts when the disk alert fires at high urgency',
  services: ['PA2P440', 'PYWUGEI'],
  eventTypes: ['incident.triggered', 'incident.reopened'],
  priority: 10,
  stopOnMatch: true,
  conditions: {
    all: [
      { field: 'incident.urgency', op: 'equals', value: 'high' },
      {
        any: [
          { field: 'incident.title', op: 'matches', value: '^Disk (full|usage above \\d+%)', flags: 'i' },
          { field: 'alert.details.alertname', op: 'in', value: ['NodeFilesystemAlmostOutOfSpace', 'DiskFull'] },
        ],
      },
      { not: { field: 'environment.environment', op: 'startsWith', value: 'dev' } },
      { not: { timeWindow: { days: ['sat', 'sun'], start: '00:00', end: '24:00', timezone: 'Europe/Paris' } } },
    ],
  },
  actions: [
    {
      type: 'script.agent',
      script: 'disk/cleanup.sh',
      args: ['--host', '{{ environment.host }}', '--min-free', '20'],
      environment: { SELFHEAL_PARAM_INCIDENT_ID: '{{ incident.id }}' },
      idempotent: true,
      timeoutSeconds: 300,
      retry: { maximumAttempts: 3, initialIntervalSeconds: 5, backoffCoefficient: 2 },
    },
    { id: 'ticket', type: 'workitem', provider: 'jira', project: 'SRE', title: 'Disk full on {{ environment.host }}', description: '{{ incident.title }}', when: 'failure' },
    { type: 'notify.slack', webhookUrlRef: 'env:SELFHEAL_SECRET_SLACK_WEBHOOK_OPS', text: 'Cleaned {{ environment.host }}: {{ results.a0.stdout }}', when: 'always' },
    { type: 'notify.email', to: ['oncall@example.com'], subject: '[{{ incident.urgency }}] {{ incident.title }}', body: 'See {{ incident.html_url }}' },
    { type: 'notify.webhook', url: 'https://hooks.example.com/selfheal', secretRef: 'file:/run/secrets/hook', body: '{"host":"{{ environment.host }}"}' },
    { type: 'pagerduty.note', content: 'Self-healing ran disk cleanup on {{ environment.host }}' },
    { type: 'script.ssh', command: 'systemctl restart postgresql', approval: { required: true, timeoutMinutes: 15, onTimeout: 'reject' } },
    { type: 'pagerduty.acknowledge' },
    { type: 'pagerduty.priority', priorityId: 'P53ZZH5' },
    { type: 'pagerduty.escalate', level: 2 },
    { type: 'pagerduty.resolve', resolution: 'Disk cleaned' },
  ],
  policies: {
    rateLimit: { max: 5, windowSeconds: 3600 },
    cooldownSeconds: 900,
    concurrencyPerTarget: 1,
    circuitBreaker: { failureThreshold: 3 },
    maintenanceWindows: [{ days: ['sun'], start: '02:00', end: '04:00', timezone: 'UTC' }],
  },
};

function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function issuesOf(input: unknown): RuleIssue[] {
  const result = parseRuleInput(input);
  assert.equal(result.ok, false, 'expected the rule to be rejected');
  return result.ok ? [] : result.issues;
}

function issueAt(input: unknown, path: string): RuleIssue {
  const issues = issuesOf(input);
  const found = issues.find((issue) => issue.path === path);
  assert.ok(found, `no issue at ${path}; got ${JSON.stringify(issues)}`);
  return found;
}

describe('rules: schema', () => {
  it('accepts a realistic rule and applies defaults', () => {
    const result = parseRuleInput(realistic);
    assert.ok(result.ok, JSON.stringify(!result.ok && result.issues));
    const rule = result.value;
    assert.equal(rule.enabled, true);
    assert.equal(rule.dryRun, false);
    assert.deepEqual(
      rule.actions.map((action) => action.id),
      ['a0', 'ticket', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 'a8', 'a9', 'a10'],
    );
    assert.equal(rule.actions[1]?.when, 'failure');
    assert.equal(rule.actions[5]?.when, 'success');
    assert.equal(rule.policies.cancelOnResolve, true);
    assert.equal(rule.policies.circuitBreaker?.resetSeconds, 3600);
  });

  it('fills every default on a minimal rule', () => {
    const rule = ruleInputSchema.parse({ name: 'ack-all', actions: [{ type: 'pagerduty.acknowledge' }] });
    assert.deepEqual(rule.services, ['*']);
    assert.deepEqual(rule.eventTypes, ['incident.triggered']);
    assert.equal(rule.priority, 100);
    assert.equal(rule.stopOnMatch, false);
    assert.equal(rule.conditions, undefined);
    assert.deepEqual(rule.policies, { cancelOnResolve: true });
    assert.equal(rule.actions[0]?.id, 'a0');
  });

  it('stored rules carry id and version', () => {
    const stored = parseRule({ ...clone(realistic), id: 'r_123', version: 4 });
    assert.ok(stored.ok);
    assert.equal(stored.value.version, 4);
    assert.equal(parseRule({ ...clone(realistic), id: 'r_123' }).ok, false);
    assert.ok(ruleSchema.safeParse({ ...clone(realistic), id: 'r', version: 0 }).error);
  });

  it('rejects bad names, unknown keys and empty actions', () => {
    issueAt({ ...clone(realistic), name: 'Disk Full!' }, 'name');
    issueAt({ ...clone(realistic), name: '' }, 'name');
    issueAt({ ...clone(realistic), name: 'a'.repeat(201) }, 'name');
    const typo = issuesOf({ ...clone(realistic), stopOnMatches: true });
    assert.ok(typo.some((issue) => issue.path === 'stopOnMatches' && /unknown field/.test(issue.message)));
    issueAt({ ...clone(realistic), actions: [] }, 'actions');
    issueAt({ ...clone(realistic), actions: Array.from({ length: 21 }, () => ({ type: 'pagerduty.acknowledge' })) }, 'actions');
  });

  it('rejects a script action without script at actions.0.script', () => {
    const bad = clone(realistic);
    delete (bad.actions[0] as { script?: string }).script;
    issueAt(bad, 'actions.0.script');
  });

  it('rejects script paths escaping the library and ssh actions with both or neither of script/command', () => {
    const bad = clone(realistic);
    (bad.actions[0] as { script: string }).script = '../../bin/sh';
    issueAt(bad, 'actions.0.script');
    // Empty, "." and ".." segments anywhere (the worker refuses them at run time: refused when saved too).
    for (const script of ['disk/./cleanup.sh', 'disk//cleanup.sh', 'disk/cleanup.sh/.', 'disk/', 'disk/../cleanup.sh', 'disk/..']) {
      const odd = clone(realistic);
      (odd.actions[0] as { script: string }).script = script;
      issueAt(odd, 'actions.0.script');
    }
    // A hidden file in a subdirectory is a name like another.
    const hidden = clone(realistic);
    (hidden.actions[0] as { script: string }).script = 'disk/.cleanup.sh';
    assert.equal(parseRuleInput(hidden).ok, true);
    const both = clone(realistic);
    (both.actions[6] as { script?: string }).script = 'restart.sh';
    issueAt(both, 'actions.6.script');
  });

  it('rejects retries of scripts that are not idempotent', () => {
    const bad = clone(realistic);
    (bad.actions[0] as { idempotent: boolean }).idempotent = false;
    issueAt(bad, 'actions.0.retry.maximumAttempts');
  });

  it('rejects secret values where references are expected', () => {
    const bad = clone(realistic);
    (bad.actions[2] as { webhookUrlRef: string }).webhookUrlRef = 'https://hooks.slack.com/services/T000/B000/XXXX';
    assert.match(issueAt(bad, 'actions.2.webhookUrlRef').message, /secret reference/);
  });

  it('checks work item provider fields, emails, urls, duplicate ids and unknown action types', () => {
    const github = clone(realistic);
    (github.actions[1] as Record<string, unknown>).provider = 'github';
    issueAt(github, 'actions.1.repo');
    issueAt(github, 'actions.1.project');
    for (const repo of ['../user', 'o/..', './r', 'o/.']) {
      const dotted = clone(realistic);
      Object.assign(dotted.actions[1] as Record<string, unknown>, { provider: 'github', project: undefined, repo });
      assert.match(issueAt(dotted, 'actions.1.repo').message, /may not be "\." or "\.\."/, repo);
    }
    const email = clone(realistic);
    (email.actions[3] as { to: string[] }).to = ['not-an-email'];
    issueAt(email, 'actions.3.to.0');
    const url = clone(realistic);
    (url.actions[4] as { url: string }).url = 'file:///etc/passwd';
    issueAt(url, 'actions.4.url');
    // The cloud's metadata service, however the address is spelled, is refused at save time.
    for (const target of ['http://169.254.169.254/latest/meta-data/', 'http://2852039166/', 'http://0xa9.0xfe.0xa9.0xfe/', 'http://[::ffff:169.254.169.254]/', 'http://[fd00:ec2::254]/', 'http://100.100.100.200/']) {
      const meta = clone(realistic);
      (meta.actions[4] as { url: string }).url = target;
      assert.match(issueAt(meta, 'actions.4.url').message, /^must not point at (link-local|a cloud metadata address).*: the worker never connects there$/, target);
    }
    const dup = clone(realistic);
    (dup.actions[2] as { id?: string }).id = 'ticket';
    issueAt(dup, 'actions.2.id');
    const unknown = clone(realistic);
    (unknown.actions[0] as { type: string }).type = 'script.local';
    issueAt(unknown, 'actions.0.type');
  });

  it('reports predicate problems at conditions.all.N.value', () => {
    const bad = clone(realistic);
    (bad.conditions.all[1] as unknown) = { field: 'incident.priority.summary', op: 'in', value: 'P1' };
    assert.match(issueAt(bad, 'conditions.all.1.value').message, /array/);
    const gt = clone(realistic);
    (gt.conditions.all[0] as unknown) = { field: 'incident.number', op: 'gt', value: 'lots' };
    issueAt(gt, 'conditions.all.0.value');
  });

  it('reports errors deep inside nested any/not at their own path', () => {
    const bad = clone(realistic);
    (bad.conditions.all[1] as { any: unknown[] }).any[1] = { field: 'alert.details.alertname', op: 'bogus', value: 'x' };
    issueAt(bad, 'conditions.all.1.any.1.op');
    const notBad = clone(realistic);
    (notBad.conditions.all[2] as unknown) = { not: { field: 'environment.environment', op: 'startsWith' } };
    issueAt(notBad, 'conditions.all.2.not.value');
    const ambiguous = clone(realistic);
    (ambiguous.conditions.all[0] as unknown) = { all: [], field: 'incident.title' };
    assert.match(issueAt(ambiguous, 'conditions.all.0.field').message, /unknown field "field"/);
    const neither = clone(realistic);
    (neither.conditions.all[0] as unknown) = { op: 'equals', value: 'x' };
    assert.match(issueAt(neither, 'conditions.all.0').message, /exactly one of/);
  });

  it('rejects regexes RE2 cannot run in linear time, and invalid ones, with the reason', () => {
    const unsafe = clone(realistic);
    (unsafe.conditions.all[1] as { any: unknown[] }).any[0] = { field: 'incident.title', op: 'matches', value: '(\\w+)\\s\\1' };
    assert.match(issueAt(unsafe, 'conditions.all.1.any.0.value').message, /^backreference .* is not supported/);
    const big = clone(realistic);
    (big.conditions.all[1] as { any: unknown[] }).any = ['[a-z]{400}', '[0-9]{400}', '[A-Z]{400}', '[a-f]{400}', '[g-z]{400}', '[0-5]{400}'].map((value) => ({ field: 'incident.title', op: 'matches', value }));
    assert.match(issueAt(big, 'conditions.all.1.any.5.value').message, /the rule's regular expressions together compile to more than 2000 instructions/);
    // Patterns that are only dangerous to a backtracking engine are fine.
    const linear = clone(realistic);
    (linear.conditions.all[1] as { any: unknown[] }).any[0] = { field: 'incident.title', op: 'matches', value: '(a+)+$' };
    assert.equal(parseRuleInput(linear).ok, true);
    const invalid = clone(realistic);
    (invalid.conditions.all[0] as unknown) = { field: 'incident.title', op: 'matches', value: '([a-z' };
    assert.match(issueAt(invalid, 'conditions.all.0.value').message, /invalid regular expression/);
    const flags = clone(realistic);
    (flags.conditions.all[0] as unknown) = { field: 'incident.title', op: 'matches', value: 'x', flags: 'g' };
    issueAt(flags, 'conditions.all.0.flags');
  });

  it('rejects fields outside the context roots and malformed paths', () => {
    const root = clone(realistic);
    (root.conditions.all[0] as unknown) = { field: 'process.env.HOME', op: 'exists' };
    assert.match(issueAt(root, 'conditions.all.0.field').message, /incident, environment/);
    const syntax = clone(realistic);
    (syntax.conditions.all[0] as unknown) = { field: 'incident..title', op: 'exists' };
    issueAt(syntax, 'conditions.all.0.field');
  });

  it('validates time windows', () => {
    const tz = clone(realistic);
    (tz.conditions.all[3] as unknown) = { timeWindow: { days: ['mon'], start: '09:00', end: '17:00', timezone: 'Mars/Olympus' } };
    issueAt(tz, 'conditions.all.3.timeWindow.timezone');
    const clock = clone(realistic);
    (clock.conditions.all[3] as unknown) = { timeWindow: { days: ['mon'], start: '25:00', end: '17:00', timezone: 'UTC' } };
    issueAt(clock, 'conditions.all.3.timeWindow.start');
    const day = clone(realistic);
    (day.conditions.all[3] as unknown) = { timeWindow: { days: ['monday'], start: '09:00', end: '17:00', timezone: 'UTC' } };
    issueAt(day, 'conditions.all.3.timeWindow.days.0');
    const maintenance = clone(realistic);
    maintenance.policies.maintenanceWindows[0]!.end = '02:00';
    issueAt(maintenance, 'policies.maintenanceWindows.0.end');
  });

  it('rejects templates that use expressions or unknown roots', () => {
    const expr = clone(realistic);
    (expr.actions[5] as { content: string }).content = 'Result: {{ incident.title.constructor("return process")() }}';
    assert.match(issueAt(expr, 'actions.5.content').message, /not a plain field path/);
    const root = clone(realistic);
    (root.actions[0] as { args: string[] }).args[1] = '{{ process.env.SECRET }}';
    assert.match(issueAt(root, 'actions.0.args.1').message, /unknown root "process"/);
  });

  it('checks services and event types', () => {
    issueAt({ ...clone(realistic), services: ['*', 'PA2P440'] }, 'services');
    issueAt({ ...clone(realistic), services: ['not a service'] }, 'services.0');
    issueAt({ ...clone(realistic), eventTypes: ['incident.trigered'] }, 'eventTypes.0');
  });

  it('limits nesting depth', () => {
    let condition: unknown = { field: 'incident.title', op: 'exists' };
    for (let i = 0; i < 15; i++) condition = { not: condition };
    issueAt({ ...clone(realistic), conditions: condition }, 'conditions');
  });

  it('generates a JSON Schema with named components for the OpenAPI document', () => {
    const schema = z.toJSONSchema(ruleInputSchema, { io: 'input' }) as { $defs?: Record<string, unknown> };
    for (const id of ['Condition', 'Action', 'Policies', 'TimeWindow', 'ScriptAgentAction']) {
      assert.ok(schema.$defs?.[id], `missing component ${id}`);
    }
    assert.doesNotThrow(() => z.toJSONSchema(ruleSchema));
  });
});
