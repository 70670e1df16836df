import assert from 'node:assert/strict';
import { MAX_RENDERED_FIELD, MAX_RENDERED_TOTAL, renderAction, renderBudget, renderJsonTemplate, renderTemplate, TRUNCATED } from '../../src/domain/template.js';

// A template may repeat a placeholder thousands of times over an incident text of attacker-chosen length.
// The rendered output is bounded: 64 KiB per field, 256 KiB for the values of one render, and what was cut
// says so. Each distinct placeholder is serialised once per render.
const title = 't'.repeat(60 * 1024);
const ctx = { incident: { title, number: 7 }, environment: { host: 'db-1' } };
const many = (n: number) => '{{ incident.title }}'.repeat(n);

describe('template bounds', () => {
  it('a field stops at MAX_RENDERED_FIELD, ends with the marker and keeps the rule text after it', () => {
    const out = renderTemplate(`on {{ environment.host }}: ${many(2777)} -- see the runbook`, ctx);
    assert.ok(out.startsWith('on db-1: ttt'));
    assert.ok(out.endsWith(`t${TRUNCATED} -- see the runbook`), out.slice(-60));
    assert.ok(out.length <= MAX_RENDERED_FIELD + TRUNCATED.length, `${out.length} characters`);
  });

  it('renders a template that fits exactly as before, without a marker', () => {
    const fits = { incident: { title: 'x'.repeat(MAX_RENDERED_FIELD - '{{ incident.title }}'.length) } };
    assert.equal(renderTemplate('{{ incident.title }}', fits), fits.incident.title);
  });

  it('never cuts between the halves of a surrogate pair', () => {
    const tpl = '{{ incident.title }}';
    const emoji = { incident: { title: `${'a'.repeat(MAX_RENDERED_FIELD - tpl.length - 1)}\u{1F600}tail` } };
    assert.equal(renderTemplate(tpl, emoji), `${'a'.repeat(MAX_RENDERED_FIELD - tpl.length - 1)}${TRUNCATED}`);
  });

  it('escaped values are cut before escaping: a Slack text ends on a whole entity', () => {
    const text = renderTemplate('{{ incident.title }}', { incident: { title: '<'.repeat(64 * 1024) } }, (v) => v.replaceAll('<', '&lt;'));
    assert.ok(text.endsWith(`&lt;${TRUNCATED}`));
    assert.ok(text.length <= MAX_RENDERED_FIELD + TRUNCATED.length);
  });

  it('a JSON body cut for the bound is still JSON: strings are cut and marked, other values give way to the marker', () => {
    const tpl = '{"t": "{{ incident.title }}", "alerts": {{ incident.alerts }}, "n": {{ incident.number }}}';
    const big = { incident: { title: 't'.repeat(64 * 1024), alerts: [{ details: 'd'.repeat(32 * 1024) }], number: 7 } };
    const out = renderJsonTemplate(tpl, big);
    assert.deepEqual(JSON.parse(out), { t: `${'t'.repeat(MAX_RENDERED_FIELD - tpl.length)}${TRUNCATED}`, alerts: null, n: null }, 'a field cut once takes no more values');
    const alerts = JSON.parse(renderJsonTemplate(tpl, { incident: { ...big.incident, title: 'short', alerts: [{ details: 'd'.repeat(64 * 1024) }] } })) as unknown;
    assert.deepEqual(alerts, { t: 'short', alerts: TRUNCATED, n: null });
    const quoted = JSON.parse(renderJsonTemplate('{"t": {{ incident.title }}}', { incident: { title: '"'.repeat(64 * 1024) } })) as { t: string };
    assert.ok(quoted.t.endsWith(`"${TRUNCATED}`));
    assert.ok(out.length <= MAX_RENDERED_FIELD + TRUNCATED.length + 2);
  });

  it('the fields of one action share MAX_RENDERED_TOTAL; a shared budget bounds several actions together', () => {
    const script = { type: 'script.agent', script: 'x.sh', args: Array.from({ length: 64 }, () => '{{ incident.title }}') } as const;
    const { args } = renderAction(script, ctx) as unknown as { args: string[] };
    const values = args.reduce((n, a) => n + a.replace(TRUNCATED, '').length, 0);
    assert.ok(values <= MAX_RENDERED_TOTAL, `${values} characters of values`);
    assert.ok(args[0] === title, 'the first arguments are whole');
    assert.equal(args.at(-1), TRUNCATED, 'the last ones say they were left out');

    const budget = renderBudget();
    const note = { type: 'pagerduty.note', content: many(4) } as const;
    const notes = Array.from({ length: 8 }, () => (renderAction(note, ctx, budget) as unknown as { content: string }).content);
    assert.equal(budget.left, 0);
    assert.equal(notes.at(-1), TRUNCATED);
  });

  it('serialises each distinct placeholder once per render', () => {
    let serialised = 0;
    const alerts = {
      toJSON() {
        serialised += 1;
        return [{ id: 'A1' }];
      },
    };
    const out = renderTemplate('{{ alerts }}'.repeat(1000), { alerts });
    assert.equal(out, '[{"id":"A1"}]'.repeat(1000));
    assert.equal(serialised, 1);
  });
});

// Cost, not only output: a read token's rule test renders its own templates against a context it sends
// (up to 4 MiB). What a render does is counted through the context itself (toJSON calls, property reads).
describe('template cost', () => {
  /** A value whose serialisations are counted. */
  const counted = (value: unknown) => {
    const calls = { n: 0 };
    return { calls, value: { toJSON: () => (calls.n++, value) } };
  };
  /** `environment` spelled `n` ways (quoted keys may escape any character). */
  const spellings = (n: number): string[] => {
    const out: string[] = [];
    const name = 'environment';
    for (let mask = 0; out.length < n; mask++) {
      const key = [...name].map((c, i) => ((mask >> i) & 1 ? `\\${c}` : c)).join('');
      out.push(`["${key}"]`, `['${key}']`);
    }
    return out.slice(0, n);
  };

  it('serialises one path once per render, however its placeholders spell it', () => {
    const { calls, value } = counted({ blob: 'b'.repeat(1000) });
    const list = spellings(4096);
    assert.equal(new Set(list).size, 4096);
    // One argument each (a field each, so none is cut): every spelling names the same path and renders it.
    const rendered = renderAction({ type: 'script.agent', script: 'x.sh', args: list.map((p) => `{{ ${p} }}`) }, { environment: value }, renderBudget(Number.MAX_SAFE_INTEGER));
    assert.deepEqual(new Set(rendered.args), new Set([`{"blob":"${'b'.repeat(1000)}"}`]));
    assert.equal(calls.n, 1, 'serialised once (before: once per spelling)');
  });

  it('stops serialising a large value past what a field can hold', () => {
    let reads = 0;
    const wide: Record<string, string> = {};
    for (let i = 0; i < 100_000; i++) {
      Object.defineProperty(wide, `k${i}`, {
        enumerable: true,
        get: () => {
          reads++;
          return 'v'.repeat(20);
        },
      });
    }
    const out = renderTemplate('{{ environment }}', { environment: wide });
    assert.ok(out.endsWith(TRUNCATED) && out.length <= MAX_RENDERED_FIELD + TRUNCATED.length);
    assert.ok(out.startsWith(`{"k0":"${'v'.repeat(20)}","k1":`));
    assert.ok(reads < 3_000, `${reads} of 100,000 members read (JSON.stringify reads them all)`);
    // Strings too: a 10 MB string inside an object is not escaped whole.
    const big = renderJsonTemplate('{"e": {{ environment }}}', { environment: { s: 'x'.repeat(10_000_000) } });
    assert.equal(big, `{"e": ${JSON.stringify(TRUNCATED)}}`);
  });

  it('looks nothing up for a field that is already full', () => {
    const { calls, value } = counted({ a: 1 });
    const fill = { incident: { title: 't'.repeat(MAX_RENDERED_FIELD) } };
    const tpl = '{{ incident.title }}{{ environment }}{{ not a path }}';
    assert.equal(renderTemplate(tpl, { ...fill, environment: value }), `${'t'.repeat(MAX_RENDERED_FIELD - tpl.length)}${TRUNCATED}{{ not a path }}`);
    assert.equal(renderJsonTemplate('["{{ incident.title }}", {{ environment }}, "{{ environment }}"]', { ...fill, environment: value }).endsWith(`${TRUNCATED}", null, ""]`), true);
    assert.equal(calls.n, 0);
  });

  it('writes what JSON.stringify writes for the values it serialises whole', () => {
    const when = new Date('2026-12-04T10:00:00.000Z');
    const values: unknown[] = [
      { a: [1, 'two', null, true, { b: undefined, c: () => 1, d: Number.NaN, e: -0, f: 1e21 }], g: when, 'q"uo\nte': '\u2028\ud800x', h: [undefined, () => 1] },
      [],
      {},
      [[[]]],
      { toJSON: () => 'custom' },
      { nested: { toJSON: (key: string) => `key=${key}` } },
      // A member whose toJSON answers undefined is left out (not written null); in an array it is null.
      { gone: { toJSON: () => undefined }, kept: [{ toJSON: () => undefined }, { toJSON: () => () => 1 }] },
    ];
    for (const v of values) assert.equal(renderTemplate('{{ environment }}', { environment: v }), JSON.stringify(v));
    // A value whose toJSON answers undefined is not serialised at all: it renders as ''.
    assert.equal(renderTemplate('[{{ environment }}]', { environment: { toJSON: () => undefined } }), '[]');
    // A cycle or a bigint renders as '', as JSON.stringify throws for both.
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    assert.equal(renderTemplate('[{{ environment }}]', { environment: cyclic }), '[]');
    assert.equal(renderTemplate('[{{ environment }}]', { environment: { n: 1n } }), '[]');
  });
});
