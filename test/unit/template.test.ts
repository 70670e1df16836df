import assert from 'node:assert/strict';
import { getPath } from '../../src/domain/json-path.js';
import { actionSchema, buildContext, type Action } from '../../src/domain/rules/index.js';
import { renderAction, renderTemplate, templateFields, validateTemplate } from '../../src/domain/template.js';

const ctx = {
  ...buildContext({
    incident: { id: 'PFQZPSY', title: 'Disk full $(rm -rf /); `reboot` && echo {{ environment.secret }}', urgency: 'high', number: 9, priority: null },
    environment: { host: 'db-42.prod.example.com', region: 'eu-west-1' },
    alerts: [{ body: { details: { mount: '/var', labels: { team: 'dba' } } } }],
    event: { event_type: 'incident.triggered' },
  }),
  rule: { name: 'disk-full' },
  results: { a0: { exitCode: 0, stdout: 'freed 12G' } },
};

function action(input: unknown): Action {
  return { ...actionSchema.parse(input), id: 'a0' } as Action;
}

describe('template', () => {
  it('renders placeholders from the context, with or without spaces', () => {
    assert.equal(renderTemplate('Host {{ environment.host }} in {{environment.region}}', ctx), 'Host db-42.prod.example.com in eu-west-1');
    assert.equal(renderTemplate('#{{ incident.number }} {{ rule.name }}: {{ results.a0.stdout }}', ctx), '#9 disk-full: freed 12G');
    assert.equal(renderTemplate('{{ alert.details.labels }}', ctx), '{"team":"dba"}');
    assert.equal(renderTemplate('no placeholders', ctx), 'no placeholders');
  });

  it('renders missing and null values as the empty string', () => {
    assert.equal(renderTemplate('[{{ environment.zone }}][{{ incident.priority }}][{{ nope.deeper.still }}]', ctx), '[][][]');
  });

  it('keeps injection strings literal and never re-expands rendered values', () => {
    const rendered = renderTemplate('{{ incident.title }}', ctx);
    assert.equal(rendered, 'Disk full $(rm -rf /); `reboot` && echo {{ environment.secret }}');
  });

  it('does not evaluate expressions: they are left as written', () => {
    assert.equal(renderTemplate('{{ 1 + 1 }}', ctx), '{{ 1 + 1 }}');
    assert.equal(renderTemplate('{{ incident.title.constructor("x")() }}', ctx), '{{ incident.title.constructor("x")() }}');
    assert.equal(renderTemplate('{{ incident.constructor }}', ctx), '');
    assert.equal(renderTemplate('{{ incident.__proto__ }}', ctx), '');
  });

  it('lists referenced fields and validates roots', () => {
    assert.deepEqual(templateFields('{{ incident.title }} on {{ environment.host }} ({{ incident.title }}) {{ 1+1 }}'), [
      'incident.title',
      'environment.host',
    ]);
    assert.deepEqual(validateTemplate('{{ incident.title }} {{ results.a0.stdout }}'), []);
    const problems = validateTemplate('{{ process.env.TOKEN }} {{ a + b }}');
    assert.equal(problems.length, 2);
    assert.match(problems[0]?.message ?? '', /unknown root "process"/);
    assert.match(problems[1]?.message ?? '', /not a plain field path/);
  });

  it('renders script args one argv element each, injection text kept verbatim', () => {
    const script = action({
      type: 'script.agent',
      script: 'disk/cleanup.sh',
      args: ['--host', '{{ environment.host }}', '--reason', '{{ incident.title }}'],
      environment: { SELFHEAL_PARAM_MOUNT: '{{ alert.details.mount }}' },
    });
    const rendered = renderAction(script, ctx);
    assert.ok(rendered.type === 'script.agent');
    assert.deepEqual(rendered.args, ['--host', 'db-42.prod.example.com', '--reason', 'Disk full $(rm -rf /); `reboot` && echo {{ environment.secret }}']);
    assert.deepEqual(rendered.environment, { SELFHEAL_PARAM_MOUNT: '/var' });
    assert.equal(rendered.script, 'disk/cleanup.sh');
    assert.ok(script.type === 'script.agent');
    assert.equal(script.args[1], '{{ environment.host }}', 'the original action is not mutated');
  });

  it('renders only the templated parameters of each action type', () => {
    const slack = renderAction(action({ type: 'notify.slack', webhookUrlRef: 'env:HOOK', text: 'Fixed {{ environment.host }}' }), ctx);
    assert.ok(slack.type === 'notify.slack');
    assert.equal(slack.text, 'Fixed db-42.prod.example.com');
    assert.equal(slack.webhookUrlRef, 'env:HOOK');
    const item = renderAction(action({ type: 'workitem', provider: 'jira', project: 'SRE', title: '{{ incident.title }}', description: 'on {{ environment.host }}' }), ctx);
    assert.ok(item.type === 'workitem');
    assert.equal(item.description, 'on db-42.prod.example.com');
    assert.equal(item.project, 'SRE');
    const note = renderAction(action({ type: 'pagerduty.note', content: '{{ results.a0.stdout }}' }), ctx);
    assert.ok(note.type === 'pagerduty.note');
    assert.equal(note.content, 'freed 12G');
    const ack = action({ type: 'pagerduty.acknowledge' });
    assert.deepEqual(renderAction(ack, ctx), ack);
  });

  it('getPath reads dotted, indexed and quoted paths and only own properties', () => {
    const data = { a: { b: [{ c: 1 }, { 'd.e': 2 }] } };
    assert.equal(getPath(data, 'a.b[0].c'), 1);
    assert.equal(getPath(data, 'a.b[1]["d.e"]'), 2);
    assert.equal(getPath(data, 'a.b.length'), 2);
    assert.equal(getPath(data, 'a.b[5].c'), undefined);
    assert.equal(getPath(data, 'a.toString'), undefined);
    assert.equal(getPath(data, 'a..b'), undefined);
    assert.equal(getPath(null, 'a'), undefined);
    assert.equal(getPath('text', 'length'), undefined);
  });
});
