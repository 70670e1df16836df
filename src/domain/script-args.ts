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
 * Pure: called by the rule-run workflow just before a script action runs (workflows/rule-run.ts).
 */
import { cutAt } from './text.js';

/** Why the rendered `args` must not run (the first offending element), or undefined when they may. */
export function optionFromData(templates: unknown, rendered: unknown): string | undefined {
  if (!Array.isArray(templates) || !Array.isArray(rendered)) return undefined;
  for (const [i, arg] of rendered.entries()) {
    const template: unknown = templates[i];
    if (template === '--') return undefined;
    if (typeof arg !== 'string' || typeof template !== 'string') continue;
    if (arg.startsWith('-') && !template.startsWith('-')) {
      return (
        `args.${i}: the value rendered into ${JSON.stringify(template.length > 100 ? `${cutAt(template, 100)}…` : template)} starts with "-", ` +
        `so the script would read data from the incident or an earlier action as an option; not run. ` +
        `Put the value inside its option ('--host={{ environment.host }}') or after an argument '--'`
      );
    }
  }
  return undefined;
}
