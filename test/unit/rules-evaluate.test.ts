import assert from 'node:assert/strict';
import {
  activeMaintenanceWindow,
  buildContext,
  compileRegex,
  evaluateCondition,
  evaluateRule,
  formatExplanation,
  ruleApplies,
  ruleInputSchema,
  type Condition,
  type EvaluationContext,
  type GroupExplanation,
  type PredicateExplanation,
  type Rule,
} from '../../src/domain/rules/index.js';

const now = new Date('2024-05-06T12:00:00Z'); // Monday

const ctx: EvaluationContext = buildContext({
  incident: {
    id: 'PFQZPSY',
    number: 9,
    title: 'Disk full on db-42.prod.example.com',
    urgency: 'high',
    status: 'triggered',
    priority: { id: 'P53ZZH5', summary: 'P1' },
    service: { id: 'PA2P440', summary: 'Billing DB' },
    created_at: '2024-05-06T11:50:00Z',
    teams: [],
    tags: ['db', 'storage'],
  },
  environment: { host: 'db-42.prod.example.com', region: 'eu-west-1', environment: 'prod', cpus: '16' },
  alerts: [
    {
      id: 'Q1',
      severity: 'critical',
      body: { details: { alertname: 'DiskFull', used_percent: 97.5, 'kube.namespace': 'billing', mount: '/var/lib/pgsql' } },
    },
  ],
  event: { id: '01BZ', event_type: 'incident.triggered', occurred_at: '2024-05-06T11:55:00Z' },
});

function check(condition: Condition): boolean {
  return evaluateCondition(condition, ctx, now).result;
}

function predicate(condition: Condition): PredicateExplanation {
  const explanation = evaluateCondition(condition, ctx, now);
  assert.equal(explanation.kind, 'predicate');
  return explanation as PredicateExplanation;
}

describe('rules: evaluate', () => {
  it('builds a context that addresses PagerDuty payloads naturally', () => {
    assert.equal(ctx.event.type, 'incident.triggered');
    assert.equal((ctx.alert.details as Record<string, unknown>).alertname, 'DiskFull');
    assert.equal(ctx.incident.serviceId, 'PA2P440');
    const snapshot = buildContext({ incident: { id: 'X', serviceId: 'PSVC', serviceName: 'svc' } });
    assert.deepEqual(snapshot.incident.service, { id: 'PSVC', summary: 'svc' });
    assert.deepEqual(buildContext({}), { incident: {}, environment: {}, alert: {}, alerts: [], event: {} });
  });

  it('equals / notEquals, with numbers given as strings and ignoreCase', () => {
    assert.equal(check({ field: 'incident.urgency', op: 'equals', value: 'high' }), true);
    assert.equal(check({ field: 'incident.urgency', op: 'equals', value: 'HIGH' }), false);
    assert.equal(check({ field: 'incident.urgency', op: 'equals', value: 'HIGH', ignoreCase: true }), true);
    assert.equal(check({ field: 'incident.number', op: 'equals', value: '9' }), true);
    assert.equal(check({ field: 'environment.cpus', op: 'equals', value: 16 }), true);
    assert.equal(check({ field: 'incident.urgency', op: 'notEquals', value: 'low' }), true);
    assert.equal(check({ field: 'incident.urgency', op: 'notEquals', value: 'high' }), false);
  });

  it('in / notIn, including array fields', () => {
    assert.equal(check({ field: 'incident.priority.summary', op: 'in', value: ['P1', 'P2'] }), true);
    assert.equal(check({ field: 'incident.priority.summary', op: 'in', value: ['P3'] }), false);
    assert.equal(check({ field: 'incident.priority.summary', op: 'notIn', value: ['P3', 'P4'] }), true);
    assert.equal(check({ field: 'incident.tags', op: 'in', value: ['storage'] }), true);
    assert.equal(check({ field: 'incident.tags', op: 'notIn', value: ['db'] }), false);
  });

  it('contains / startsWith / endsWith', () => {
    assert.equal(check({ field: 'incident.title', op: 'contains', value: 'db-42' }), true);
    assert.equal(check({ field: 'incident.title', op: 'contains', value: 'DISK', ignoreCase: true }), true);
    assert.equal(check({ field: 'incident.tags', op: 'contains', value: 'db' }), true);
    assert.equal(check({ field: 'incident.tags', op: 'contains', value: 'network' }), false);
    assert.equal(check({ field: 'environment.host', op: 'startsWith', value: 'db-' }), true);
    assert.equal(check({ field: 'environment.host', op: 'endsWith', value: '.prod.example.com' }), true);
    assert.equal(check({ field: 'environment.host', op: 'endsWith', value: '.stage.example.com' }), false);
  });

  it('matches, with flags, and caches compiled regexes by pattern', () => {
    assert.equal(check({ field: 'environment.host', op: 'matches', value: '^db-\\d+\\.prod\\.example\\.com$' }), true);
    assert.equal(check({ field: 'incident.title', op: 'matches', value: '^disk full', flags: 'i' }), true);
    assert.equal(check({ field: 'incident.title', op: 'matches', value: '^disk full' }), false);
    assert.equal(check({ field: 'alert.details.used_percent', op: 'matches', value: '^9\\d\\.' }), true);
    assert.equal(compileRegex('^db-\\d+$'), compileRegex('^db-\\d+$'));
  });

  it('a pattern RE2 refuses that slipped into storage (saved before the engine change) evaluates to false with the reason', () => {
    const explanation = predicate({ field: 'incident.title', op: 'matches', value: '^Disk(?= full)' });
    assert.equal(explanation.result, false);
    assert.match(explanation.text, /lookahead \(\?=…\) is not supported/);
  });

  it('exists and missing fields: never throws, every op false', () => {
    assert.equal(check({ field: 'environment.region', op: 'exists' }), true);
    assert.equal(check({ field: 'environment.zone', op: 'exists' }), false);
    assert.equal(check({ field: 'environment.zone', op: 'exists', value: false }), true);
    assert.equal(check({ field: 'incident.priority.missing.deeper', op: 'exists' }), false);
    for (const op of ['equals', 'notEquals', 'contains', 'startsWith', 'endsWith', 'matches', 'gt', 'gte', 'lt', 'lte', 'before', 'after'] as const) {
      const value = op === 'gt' || op === 'gte' || op === 'lt' || op === 'lte' ? 1 : op === 'before' || op === 'after' ? 'now' : 'x';
      assert.equal(check({ field: 'environment.zone', op, value }), false, op);
    }
    assert.equal(check({ field: 'environment.zone', op: 'in', value: ['x'] }), false);
    assert.equal(check({ field: 'environment.zone', op: 'notIn', value: ['x'] }), false);
    assert.equal(check({ field: 'incident.title.length.x', op: 'equals', value: 1 }), false);
  });

  it('gt / gte / lt / lte on numbers and on ISO times', () => {
    assert.equal(check({ field: 'alert.details.used_percent', op: 'gt', value: 95 }), true);
    assert.equal(check({ field: 'alert.details.used_percent', op: 'gte', value: 97.5 }), true);
    assert.equal(check({ field: 'alert.details.used_percent', op: 'lt', value: 97.5 }), false);
    assert.equal(check({ field: 'alert.details.used_percent', op: 'lte', value: 97.5 }), true);
    assert.equal(check({ field: 'environment.cpus', op: 'gte', value: 8 }), true);
    assert.equal(check({ field: 'incident.title', op: 'gt', value: 1 }), false);
    assert.equal(check({ field: 'incident.created_at', op: 'gt', value: '2024-05-06T11:00:00Z' }), true);
    assert.equal(check({ field: 'incident.created_at', op: 'lt', value: '2024-05-06T13:50:00+02:00' }), false);
    assert.equal(check({ field: 'incident.created_at', op: 'lte', value: '2024-05-06T13:50:00+02:00' }), true);
  });

  it('before / after, absolute and relative to now', () => {
    assert.equal(check({ field: 'incident.created_at', op: 'after', value: 'now-15m' }), true);
    assert.equal(check({ field: 'incident.created_at', op: 'after', value: 'now-5m' }), false);
    assert.equal(check({ field: 'incident.created_at', op: 'before', value: '2024-05-07T00:00:00Z' }), true);
    assert.equal(check({ field: 'event.occurred_at', op: 'before', value: 'now' }), true);
    assert.equal(check({ field: 'incident.title', op: 'before', value: 'now' }), false);
  });

  it('field paths with brackets and quoted keys', () => {
    assert.equal(check({ field: 'alerts[0].details["kube.namespace"]', op: 'equals', value: 'billing' }), true);
    assert.equal(check({ field: 'incident.tags[1]', op: 'equals', value: 'storage' }), true);
  });

  it('nested all / any / not with a full explanation tree', () => {
    const rule = ruleInputSchema.parse({
      name: 'nested',
      conditions: {
        all: [
          { field: 'incident.urgency', op: 'equals', value: 'high' },
          {
            any: [
              { field: 'environment.region', op: 'equals', value: 'us-east-1' },
              { field: 'alert.details.alertname', op: 'in', value: ['DiskFull'] },
            ],
          },
          { not: { field: 'environment.environment', op: 'startsWith', value: 'dev' } },
        ],
      },
      actions: [{ type: 'pagerduty.acknowledge' }],
    });
    const { matched, reasons } = evaluateRule(rule, ctx, now);
    assert.equal(matched, true);
    const all = reasons as GroupExplanation;
    assert.equal(all.kind, 'all');
    assert.equal(all.children.length, 3);
    const any = all.children[1] as GroupExplanation;
    assert.deepEqual(any.children.map((child) => child.result), [false, true]);
    assert.equal(all.children[2]?.kind, 'not');
    assert.equal(all.children[2]?.result, true);
    const first = all.children[0] as PredicateExplanation;
    assert.equal(first.text, 'incident.urgency equals "high": actual "high" → true');
    assert.equal(first.actual, 'high');
    assert.equal(first.expected, 'high');
    const text = formatExplanation(reasons);
    assert.match(text, /✓ all of 3 conditions: 3 held → true/);
    assert.match(text, /\n {4}✗ environment\.region equals "us-east-1": actual "eu-west-1" → false/);

    const flipped = evaluateRule({ conditions: { not: rule.conditions as Condition } }, ctx, now);
    assert.equal(flipped.matched, false);
    assert.equal(evaluateRule({ conditions: { any: [{ field: 'x.y', op: 'exists' } as Condition] } }, ctx, now).matched, false);
  });

  it('explains missing fields and truncates long actual values', () => {
    const missing = predicate({ field: 'environment.zone', op: 'equals', value: 'a' });
    assert.equal(missing.text, 'environment.zone equals "a": field missing → false');
    assert.equal(missing.missing, true);
    const long = buildContext({ incident: { title: 'x'.repeat(5000) } });
    const explanation = evaluateCondition({ field: 'incident.title', op: 'contains', value: 'y' }, long, now) as PredicateExplanation;
    assert.ok(typeof explanation.actual === 'string' && explanation.actual.length < 200);
    assert.ok(explanation.text.length < 400);
  });

  it('time window conditions use the given now', () => {
    const window = { timeWindow: { days: ['mon' as const], start: '13:00', end: '15:00', timezone: 'Europe/Paris' } };
    const explanation = evaluateCondition(window, ctx, now);
    assert.equal(explanation.result, true); // Monday 14:00 in Paris
    assert.match(explanation.text, /local time mon 14:00 → true/);
    assert.equal(evaluateCondition(window, ctx, new Date('2024-05-06T14:00:00Z')).result, false);
  });

  it('a rule without conditions always matches', () => {
    const { matched, reasons } = evaluateRule({ conditions: undefined }, ctx, now);
    assert.equal(matched, true);
    assert.equal(reasons.kind, 'always');
  });

  it('ruleApplies filters on service and event type', () => {
    const rule = { services: ['PA2P440'], eventTypes: ['incident.triggered'] } as Pick<Rule, 'services' | 'eventTypes'>;
    assert.equal(ruleApplies(rule, { serviceId: 'PA2P440', eventType: 'incident.triggered' }), true);
    assert.equal(ruleApplies(rule, { serviceId: 'POTHER', eventType: 'incident.triggered' }), false);
    assert.equal(ruleApplies(rule, { serviceId: 'PA2P440', eventType: 'incident.resolved' }), false);
    assert.equal(ruleApplies(rule, { serviceId: undefined, eventType: 'incident.triggered' }), false);
    const any = { services: ['*'], eventTypes: ['*'] } as Pick<Rule, 'services' | 'eventTypes'>;
    assert.equal(ruleApplies(any, { serviceId: 'PX', eventType: 'incident.acknowledged' }), true);
  });

  it('reports an active maintenance window', () => {
    const policies = {
      cancelOnResolve: true,
      maintenanceWindows: [{ days: ['mon' as const], start: '11:00', end: '13:00', timezone: 'UTC' }],
    };
    assert.equal(activeMaintenanceWindow({ policies }, now)?.start, '11:00');
    assert.equal(activeMaintenanceWindow({ policies }, new Date('2024-05-06T13:00:00Z')), undefined);
    assert.equal(activeMaintenanceWindow({ policies: { cancelOnResolve: true } }, now), undefined);
  });
});
