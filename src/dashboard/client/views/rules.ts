// Rules: the list, and the editor (JSON or YAML, validate, save as a new version) with tool panels under
// it. A panel reads the rule as edited (unsaved) through `currentRule`, and gets the stored rule (null for a
// new one): the dry-run tester, then the backtest over the stored history (views/backtest.ts). To add one,
// write an EditorPanel and list it in `editorPanels`.
import { append, badge, h, type Child } from '../dom.js';
import { pretty, when } from '../format.js';
import type { Route, ViewContext } from '../router.js';
import { pagedList } from '../paged.js';
import type { ArgWarning, RuleSaved, RuleTestResult, RuleView } from '../types.js';
import type { RuleInputDocument } from '../../../domain/rules/schema.js';
import { backtestPanel } from './backtest.js';

type Format = 'json' | 'yaml';

/** What "New rule" starts from; typed against the domain's rule input so it stays a valid rule. */
const SAMPLE_RULE: RuleInputDocument = {
  name: 'my-rule',
  services: ['PXXXXXX'],
  conditions: { all: [{ field: 'incident.urgency', op: 'equals', value: 'high' }] },
  actions: [{ type: 'pagerduty.note', content: 'Self-healing saw {{ incident.title }}' }],
};

/** Fields of a stored rule that are not part of its definition (left out of the editor). */
const READ_ONLY_FIELDS = ['id', 'version', 'breaker', 'createdAt', 'updatedAt', 'deletedAt'] as const;

export interface EditorPanel {
  title: string;
  render(ctx: ViewContext, currentRule: () => Promise<unknown>, stored: RuleView | null): Child;
}

const ruleHref = (id: string) => `#/rules/${encodeURIComponent(id)}`;

function definitionOf(rule: RuleView): Record<string, unknown> {
  const out: Record<string, unknown> = { ...rule };
  for (const k of READ_ONLY_FIELDS) delete out[k];
  return out;
}

/** YAML ⇄ JSON through the API (the page loads no YAML library). */
async function convert(ctx: ViewContext, text: string, from: Format, to: Format | 'object'): Promise<unknown> {
  const body = await ctx.api.send<{ text: string; value: unknown }>('POST', '/ui/convert', { text, from, to });
  return to === 'object' ? body.value : body.text;
}

async function parseEditor(ctx: ViewContext, text: string, format: Format): Promise<unknown> {
  if (format === 'yaml') return convert(ctx, text, 'yaml', 'object');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new Error(`not valid JSON: ${(err as Error).message}`);
  }
}

/** Rules a page of the list holds (More shows the next). */
const RULES_PAGE = 100;

async function rulesView(ctx: ViewContext): Promise<void> {
  const ruleRow = (r: RuleView) =>
    h(
      'tr',
      { class: 'clickable', 'data-testid': 'rule-row', onclick: () => (location.hash = ruleHref(r.id)) },
      h('td', {}, h('a', { href: ruleHref(r.id) }, r.name)),
      h('td', { 'data-testid': 'rule-team' }, r.team ?? 'default'),
      h('td', {}, `v${r.version}`),
      h('td', {}, badge(r.enabled ? 'enabled' : 'disabled')),
      h('td', {}, r.dryRun ? badge('dry_run') : ''),
      h('td', {}, badge(r.breaker.state)),
      h('td', {}, r.services.join(', ') || 'all'),
      h('td', {}, r.actions.map((a) => a.type).join(', ')),
    );
  const list = await pagedList<RuleView>(ctx, {
    path: '/api/rules',
    limit: RULES_PAGE,
    testid: 'rules',
    headers: ['Name', 'Team', 'Version', 'State', 'Mode', 'Breaker', 'Services', 'Actions'],
    rows: (items) => items.map(ruleRow),
    empty: 'No rules yet.',
  });
  ctx.show(h('div', { class: 'row' }, h('h2', {}, 'Rules'), h('a', { href: '#/rules/new', 'data-testid': 'new-rule' }, h('button', { type: 'button' }, 'New rule'))), ...list);
}

/** Evaluates the rule as edited against a PagerDuty payload or a stored incident; nothing runs, nothing is saved. */
const dryRunTester: EditorPanel = {
  title: 'Dry-run tester',
  render(ctx, currentRule) {
    const payload = h('textarea', { class: 'small', 'data-testid': 'test-payload', placeholder: 'PagerDuty V3 webhook body ({"event": {...}}) or the event' });
    const incidentId = h('input', { type: 'text', 'data-testid': 'test-incident', placeholder: 'or an incident id' });
    const result = h('div', { 'data-testid': 'test-result' });
    const error = (text: string) => result.append(h('p', { class: 'error' }, text));
    const run = async () => {
      result.replaceChildren();
      const input: { incidentId?: string; payload?: unknown } = {};
      if (incidentId.value.trim()) input.incidentId = incidentId.value.trim();
      else {
        try {
          input.payload = JSON.parse(payload.value);
        } catch (err) {
          error(`payload is not valid JSON: ${(err as Error).message}`);
          return;
        }
      }
      let t: RuleTestResult;
      try {
        t = await ctx.api.send<RuleTestResult>('POST', '/api/rules/test', { rule: await currentRule(), ...input });
      } catch (err) {
        error((err as Error).message);
        return;
      }
      append(result, [
        h('p', {}, h('strong', { 'data-testid': 'test-verdict' }, t.matched ? 'MATCHES' : 'does not match'), t.dryRun ? ' (dry-run rule)' : ''),
        h('pre', { 'data-testid': 'test-explanation' }, t.explanationText || pretty(t.explanation)),
        t.matched ? h('div', {}, h('strong', {}, 'Actions that would run'), h('pre', {}, pretty(t.renderedActions))) : null,
        t.refusedArgs && t.refusedArgs.length > 0
          ? h(
              'div',
              { 'data-testid': 'test-refused-args' },
              h('strong', {}, 'Refused when run (the action fails without running)'),
              h('ul', {}, t.refusedArgs.map((r) => h('li', {}, `${r.actionId} (${r.path}): ${r.reason}`))),
            )
          : null,
        h('details', {}, h('summary', {}, 'Context'), h('pre', {}, pretty(t.context))),
      ]);
    };
    return [
      h('p', { class: 'muted' }, 'Evaluates the rule as edited above; nothing runs and nothing is saved.'),
      payload,
      h('div', { class: 'row' }, incidentId, h('button', { type: 'button', 'data-testid': 'rule-test', onclick: () => void run() }, 'Test')),
      result,
    ];
  },
};

const editorPanels: EditorPanel[] = [dryRunTester, { title: 'Backtest', render: backtestPanel }];

async function ruleEditorView(ctx: ViewContext): Promise<void> {
  const id = ctx.params.id!;
  const isNew = id === 'new';
  const rule = isNew ? null : await ctx.api.get<RuleView>(`/api/rules/${encodeURIComponent(id)}`, { signal: ctx.signal });
  let format: Format = 'json';
  const editor = h('textarea', { id: 'rule-editor', 'data-testid': 'rule-editor', spellcheck: 'false' });
  editor.value = pretty(rule ? definitionOf(rule) : SAMPLE_RULE);
  const currentRule = () => parseEditor(ctx, editor.value, format);

  const formatSelect = h(
    'select',
    {
      'data-testid': 'rule-format',
      onchange: () => {
        const to = formatSelect.value as Format;
        currentRule()
          .then(async (value) => (to === 'json' ? pretty(value) : String(await convert(ctx, JSON.stringify(value), 'json', 'yaml'))))
          .then(
            (text) => {
              editor.value = text;
              format = to;
            },
            (err: Error) => {
              formatSelect.value = format;
              ctx.flash(err.message, true);
            },
          );
      },
    },
    h('option', { value: 'json' }, 'JSON'),
    h('option', { value: 'yaml' }, 'YAML'),
  );

  const status = h('pre', { 'data-testid': 'rule-status', hidden: true });
  const report = (text: string, bad = false) => {
    status.hidden = false;
    status.textContent = text;
    status.className = bad ? 'error' : '';
  };
  const failed = (err: unknown) => report(err instanceof Error ? err.message : String(err), true);

  // Hints about script arguments a run may still refuse: Validate shows them, and so does a save (the rule saves with them).
  const withHints = (text: string, hints: ArgWarning[] = []) =>
    hints.length === 0 ? text : `${text}, with ${hints.length === 1 ? 'a warning' : `${hints.length} warnings`}: ${hints.map((w) => `${w.path}: ${w.message}`).join(' ')}`;
  const save = async () => {
    try {
      const value = await currentRule();
      const saved = rule
        ? await ctx.api.send<RuleSaved>('PUT', `/api/rules/${encodeURIComponent(rule.id)}`, value, { headers: { 'if-match': `"${rule.version}"` } })
        : await ctx.api.send<RuleSaved>('POST', '/api/rules', value);
      ctx.flash(withHints(`Saved ${saved.name} v${saved.version}`, saved.warnings));
      if (isNew) location.hash = ruleHref(saved.id);
      else ctx.reload();
    } catch (err) {
      failed(err);
    }
  };
  const validate = async () => {
    try {
      const { warnings } = await ctx.api.send<{ warnings?: ArgWarning[] }>('POST', '/api/rules/validate', await currentRule());
      report(warnings?.length ? withHints('Valid', warnings) : 'Valid.');
    } catch (err) {
      failed(err);
    }
  };

  ctx.show(
    h('div', { class: 'row' }, h('a', { href: '#/rules' }, '← Rules')),
    h('h2', {}, rule ? `${rule.name} (v${rule.version})` : 'New rule'),
    rule?.breaker.state === 'open' ? h('p', { class: 'error' }, `Circuit breaker open since ${when(rule.breaker.openedAt)}`) : null,
    h(
      'div',
      { class: 'row' },
      h('label', {}, 'Format '),
      formatSelect,
      h('button', { type: 'button', 'data-testid': 'rule-save', onclick: () => void save() }, isNew ? 'Create' : 'Save'),
      h('button', { type: 'button', class: 'secondary', 'data-testid': 'rule-validate', onclick: () => void validate() }, 'Validate'),
    ),
    editor,
    status,
    editorPanels.map((panel) => [h('h3', {}, panel.title), panel.render(ctx, currentRule, rule)]),
  );
}

export const ruleRoutes: Route[] = [
  { path: 'rules', nav: 'Rules', view: rulesView },
  { path: 'rules/:id', view: ruleEditorView },
];
