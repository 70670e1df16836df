import assert from 'node:assert/strict';
import { actionSchema, type Action } from '../../src/domain/rules/index.js';
import { jsonTemplateProblems, renderAction, renderJsonTemplate } from '../../src/domain/template.js';

// A webhook body is often JSON with placeholders. Values come from PagerDuty (an incident title can carry
// text from whoever made the alert fire); before, they were pasted in raw, so a title could add fields to
// what the receiver parses, or break the document.
const hostile = 'x", "approved": true, "role": "admin", "y": "';
const ctx = {
  incident: { id: 'Q1', number: 42, title: hostile, urgency: 'high', priority: null, alerts: [{ a: 'b"c' }] },
  environment: { host: 'db-1\\n' },
  alert: {},
  event: {},
  rule: { name: 'r' },
  results: {},
};

const webhook = (body: string) => renderAction(actionSchema.parse({ type: 'notify.webhook', url: 'https://hooks.example.com/x', body }) as Action, ctx) as { body: string };

describe('webhook bodies that are JSON: values stay values', () => {
  it('a value inside a JSON string cannot add fields', () => {
    const body = webhook('{"title": "{{ incident.title }}", "ok": false}').body;
    const parsed = JSON.parse(body) as Record<string, unknown>;
    assert.deepEqual(Object.keys(parsed), ['title', 'ok']);
    assert.equal(parsed.title, hostile);
    assert.equal(parsed.ok, false);
  });

  it('outside a string, a value is inserted as a JSON value', () => {
    const parsed = JSON.parse(webhook('{"n": {{ incident.number }}, "t": {{ incident.title }}, "p": {{ incident.priority }}, "alerts": {{ incident.alerts }}, "h": "{{ environment.host }}"}').body) as Record<string, unknown>;
    assert.deepEqual(parsed, { n: 42, t: hostile, p: null, alerts: [{ a: 'b"c' }], h: 'db-1\\n' });
  });

  it('escaped quotes in the template keep the string state right; a plain-text body is unchanged', () => {
    assert.equal(JSON.parse(renderJsonTemplate('["a \\" {{ incident.number }}", {{ incident.number }}]', ctx)).join('|'), 'a " 42|42');
    assert.equal(webhook('Title: {{ incident.title }}').body, `Title: ${hostile}`);
  });
});

describe('a backslash of the rule right before a placeholder inside a JSON string', () => {
  const tpl = '{"title": "\\{{ incident.title }}", "ok": false}';

  it('renders a stored rule so that the value stays inside its string (before: the first quote of the value ended the string and the body sent was no JSON)', () => {
    const parsed = JSON.parse(renderJsonTemplate(tpl, ctx)) as Record<string, unknown>;
    assert.deepEqual(Object.keys(parsed), ['title', 'ok']);
    assert.equal(parsed.title, `\\${hostile}`);
  });

  it('is refused when the rule is saved, naming the placeholder; a doubled backslash and a plain-text body are not', () => {
    const refused = actionSchema.safeParse({ type: 'notify.webhook', url: 'https://hooks.example.com/x', body: tpl });
    assert.equal(refused.success, false);
    assert.match(JSON.stringify(refused.error?.issues), /\{\{ incident\.title \}\} follows a \\\\ inside a JSON string/);
    assert.deepEqual(jsonTemplateProblems('{"title": "\\\\{{ incident.title }}"}'), []);
    assert.deepEqual(jsonTemplateProblems('Title: \\{{ incident.title }}'), []);
    assert.deepEqual(jsonTemplateProblems('{"a": "\\"", "t": {{ incident.title }}}'), [], 'an escaped quote, then a placeholder outside any string');
    assert.equal(jsonTemplateProblems('["\\\\\\{{ incident.title }}"]').length, 1, 'three backslashes: the third is unpaired');
  });

  it('inside a \\u escape: refused when saved; a stored rule renders the escape completed, valid JSON (before: "Bad Unicode escape")', () => {
    for (const body of ['{"t": "\\u{{ incident.title }}"}', '{"n": "\\u00{{ incident.number }}"}']) {
      assert.equal(jsonTemplateProblems(body).length, 1, body);
      assert.match(jsonTemplateProblems(body)[0]!.message, /stands inside a \\u escape/);
      const parsed = JSON.parse(renderJsonTemplate(body, ctx)) as Record<string, string>;
      assert.deepEqual(Object.keys(parsed), [Object.keys(JSON.parse(body.replace(/\{\{[^}]*\}\}/, '0000')) as object)[0]]);
    }
    assert.equal((JSON.parse(renderJsonTemplate('{"t": "\\u{{ incident.title }}"}', ctx)) as { t: string }).t, `\u0000${hostile}`);
    assert.deepEqual(jsonTemplateProblems('{"t": "\\u0041{{ incident.title }}", "u": "\\\\u{{ incident.title }}"}'), [], 'a whole escape, and an escaped backslash before a u');
  });
});

describe('Slack texts: values cannot mention or link', () => {
  it('escapes &, < and > in values, not in the rule text', () => {
    const c = { ...ctx, incident: { ...ctx.incident, title: '<!channel> approve at <https://evil.example|the runbook> & more' } };
    const slack = renderAction(actionSchema.parse({ type: 'notify.slack', webhookUrlRef: 'env:SELFHEAL_SECRET_HOOK', text: '<!here> {{ incident.title }}' }) as Action, c) as { text: string };
    assert.equal(slack.text, '<!here> &lt;!channel&gt; approve at &lt;https://evil.example|the runbook&gt; &amp; more');
  });
});
