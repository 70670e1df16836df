// The placeholder pattern is linear in the template: `{{` and a long run of spaces (or other text) with no
// `}}` once took the old pattern cubic time (3,000 spaces: a minute of V8's regex engine). Each call here
// is a hang detector under mocha's timeout, not a speed figure; the placeholders it finds are checked too.
import assert from 'node:assert/strict';
import { renderAction, templateFields, validateTemplate } from '../../src/domain/template.js';

describe('template placeholders: linear in the template, same paths as before', function () {
  const spaces = ' '.repeat(50_000);
  for (const [name, tpl] of [
    ['`{{` and 50,000 spaces', `{{${spaces}`],
    ['`{{` , 50,000 spaces and one `}`', `{{${spaces}}`],
    ['`{{ incident.title` and 50,000 spaces', `{{ incident.title${spaces}`],
    ['5,000 `{{ ` without an end', '{{ '.repeat(5_000)],
  ] as const) {
    it(`finds no placeholder in ${name}`, function () {
      assert.deepEqual(templateFields(tpl), []);
      assert.deepEqual(validateTemplate(tpl), []);
      assert.equal(renderAction({ type: 'pagerduty.note', content: tpl }, { incident: { title: 't' } }).content, tpl);
    });
  }

  it('trims the whitespace \\s took around a path, newlines, tabs and NBSP included', function () {
    const tpl = `a {{\u00a0\tincident.title \n}} b {{incident.id}} c {{ incident.title }}`;
    assert.deepEqual(templateFields(tpl), ['incident.title', 'incident.id']);
    assert.equal(renderAction({ type: 'pagerduty.note', content: tpl }, { incident: { title: 'T', id: 'P1' } }).content, 'a T b P1 c T');
    assert.deepEqual(validateTemplate('{{ nope.x }} {{}} {{{incident.id}}}').map((p) => p.placeholder), ['{{ nope.x }}', '{{}}']);
  });
});
