/**
 * Script arguments made from data must not become options.
 *
 * A script action's `args` are templates: `{{ environment.host }}`, `{{ incident.title }}`,
 * `{{ results.report.outputExcerpt }}`. Their values come from PagerDuty payloads (titles and custom
 * details anyone with an integration key can write) or from what an earlier script printed. They reach the
 * script as argv, never a shell, but argv has its own syntax: an element starting with `-` is an option to
 * every getopt-style parser. With `args: ['{{ environment.host }}']` (the README's own example) an alert
 * whose `details.host` is `--apply` turned `disk-cleanup.sh`'s dry run into a deletion, as root.
 *
 * So an element whose template does not start with `-` but whose rendered text does (the dash came from a
 * value) is refused, unless an earlier element is exactly `--` (the end of options, after which parsers
 * read operands). The action then fails without running; nothing is rewritten, so a script never gets a
 * value other than the one the data held. An element after an option (`['--host', '{{ environment.host }}']`)
 * is refused too: whether `--host` takes a value is the script's business, and after a flag
 * (`['--verbose', …]`) the value would be an option again. A value inside an element
 * (`--host={{ environment.host }}`, `host={{ … }}`) stays data and is not refused.
 *
 * Pure: called by the rule-run workflow just before a script action runs (workflows/rule-run.ts), and by
 * the rule test and the backtest ({@link refusedArgsOf}), which render the arguments the same way and ask
 * the same function, so what they warn of is what the run refuses.
 */
import { renderAction, type TemplateContext, type TemplatedActionType } from './template.js';
import { cutAt } from './text.js';

/** The first element of the rendered `args` that must not run (its index, and why), or undefined when they may. */
export function refusedArg(templates: unknown, rendered: unknown): { index: number; reason: string } | undefined {
  if (!Array.isArray(templates) || !Array.isArray(rendered)) return undefined;
  for (const [i, arg] of rendered.entries()) {
    const template: unknown = templates[i];
    if (template === '--') return undefined;
    if (typeof arg !== 'string' || typeof template !== 'string') continue;
    if (arg.startsWith('-') && !template.startsWith('-')) {
      return {
        index: i,
        reason:
          `args.${i}: the value rendered into ${JSON.stringify(template.length > 100 ? `${cutAt(template, 100)}…` : template)} starts with "-", ` +
          `so the script would read data from the incident or an earlier action as an option; not run. ` +
          `Put the value inside its option ('--host={{ environment.host }}') or after an argument '--'`,
      };
    }
  }
  return undefined;
}

/** Why the rendered `args` must not run (the first offending element), or undefined when they may. */
export function optionFromData(templates: unknown, rendered: unknown): string | undefined {
  return refusedArg(templates, rendered)?.reason;
}

/** Whether the rule run checks the `args` of an action of this type (script.agent, script.ssh). */
export const checksArgs = (type: string): boolean => type.startsWith('script.');

/** A script action (or the verify check) whose arguments, rendered for one incident, the rule run would refuse. */
export interface ArgsRefusal {
  /** The action's id as the run names it: its `id` (else `a<index>`), `check` for the verify check without one. */
  actionId: string;
  /** Where it is in the rule: `actions.<index>` or `verify.check`. */
  path: string;
  /** The refused element of its `args` (0-based). */
  argIndex: number;
  /** What the run records when it refuses it (the action fails without running). */
  reason: string;
}

interface ScriptLike {
  type: string;
  id?: string | undefined;
  args?: unknown;
}

/**
 * The script actions of `rule` (and its verify check) whose `args`, rendered against `ctx` as the rule run
 * renders them (each action on a budget of its own), the run would refuse; empty when none. `ctx` is the
 * template context of the incident (`rule` and `results` as the caller knows them: `results.*` are only
 * known at run time, so a refusal that depends on what an earlier action printed cannot be foreseen).
 */
export function refusedArgsOf(rule: { actions: readonly ScriptLike[]; verify?: { check?: ScriptLike | undefined } | undefined }, ctx: TemplateContext): ArgsRefusal[] {
  const out: ArgsRefusal[] = [];
  const ask = (action: ScriptLike, actionId: string, path: string) => {
    if (!checksArgs(action.type) || !mayTakeOptionFromData(action.args)) return;
    const rendered = renderAction({ type: action.type as TemplatedActionType, args: action.args }, ctx);
    const refused = refusedArg(action.args, rendered.args);
    if (refused) out.push({ actionId, path, argIndex: refused.index, reason: refused.reason });
  };
  rule.actions.forEach((action, i) => ask(action, action.id ?? `a${i}`, `actions.${i}`));
  const check = rule.verify?.check;
  if (check) ask(check, check.id ?? 'check', 'verify.check');
  return out;
}

/** A hint about a rule as written, before any incident: where a run may refuse an argument. */
export interface ArgWarning {
  /** `actions.<index>.args.<n>` or `verify.check.args.<n>`. */
  path: string;
  message: string;
}

/**
 * The `args` elements of the script actions of `rule` (and its verify check) that begin with a placeholder,
 * before any `--`: whenever the value there starts with `-`, the run refuses the action (above). Nothing is
 * wrong yet, since most values never start with a dash; the rule validation reports these so the author
 * can write the value inside its option or after `--` before an incident finds out.
 */
export function argWarningsOf(rule: { actions: readonly ScriptLike[]; verify?: { check?: ScriptLike | undefined } | undefined }): ArgWarning[] {
  const out: ArgWarning[] = [];
  const scan = (action: ScriptLike, path: string) => {
    if (!checksArgs(action.type) || !Array.isArray(action.args)) return;
    for (const [i, t] of action.args.entries()) {
      if (t === '--') return;
      if (typeof t === 'string' && /^\{\{/.test(t)) {
        out.push({
          path: `${path}.args.${i}`,
          message:
            `${JSON.stringify(t.length > 100 ? `${cutAt(t, 100)}…` : t)} begins with a value: when it starts with "-" (an incident's title or ` +
            `details can), the run refuses the action rather than pass an option. Write the value inside its option ('--host={{ environment.host }}') or after an argument '--'`,
        });
      }
    }
  };
  rule.actions.forEach((action, i) => scan(action, `actions.${i}`));
  const check = rule.verify?.check;
  if (check) scan(check, 'verify.check');
  return out;
}

/**
 * Whether any rendering of `templates` could be refused: an element before any `--` that does not start
 * with `-` and holds a placeholder (an element without one renders as written). Spares the render of
 * every other action, event after event of a backtest.
 */
function mayTakeOptionFromData(templates: unknown): boolean {
  if (!Array.isArray(templates)) return false;
  for (const t of templates) {
    if (t === '--') return false;
    if (typeof t === 'string' && !t.startsWith('-') && t.includes('{{')) return true;
  }
  return false;
}
