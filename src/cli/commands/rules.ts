// selfheal rules list|get|apply|diff|export|test. apply/diff/export are the rules-only forms of the
// GitOps commands (a document without `kind` is a rule); test evaluates a rule file offline.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { explainChain, type Explanation, type Rule } from '../../domain/rules/index.js';
import { PayloadError, testRuleWithPayload } from '../../domain/rules/test-rule.js';
import type { Io } from '../context.js';
import { EXIT, usageError } from '../errors.js';
import { writeOwnFile } from '../files.js';
import { linePerWrite, printData, printJson, table, yamlText } from '../output.js';
import { action, collect, positiveInt, type Runtime } from '../program.js';
import { readManifests, type Manifest } from '../gitops/manifests.js';
import { planChanges, ruleDefinitionOf, scopeOfFiles, validateManifests, type Desired, type Step } from '../gitops/plan.js';
import { executePlan, outcomeJson, planJson, printOutcome, printPlan, readableTeams, refuseUnreadable, teamReport, unreadableWarning, WOULD, type TeamReport } from '../gitops/run.js';
import { ApiError, type ApiClient } from '../http-client.js';
import type { RuleView } from '../api-types.js';
import { registerRuleStats } from './rules-stats.js';
import { requestBacktest, summaryLines, windowBody, type BacktestAnswer, type BacktestWindowOptions } from './backtest-report.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `rules[0] (disk-full-cleanup)`: how rule files have always named a rule in messages. */
const ruleLabel = (m: Manifest) => `rules[${m.index}]${typeof m.raw.name === 'string' ? ` (${m.raw.name})` : ''}`;

/** The rules of a file or folder (YAML or JSON; one rule, a list, or `rules: [...]`), validated. */
function readRules(file: string): Desired[] {
  const manifests = readManifests([file], { implicitKind: 'Rule' });
  const other = manifests.filter((m) => m.kind !== 'Rule');
  if (other.length > 0) {
    throw usageError(`${file} holds ${other.map((m) => `a ${m.kind}`).join(', ')}: rules commands take rules only; use selfheal apply -f ${file} for environments and jobs`);
  }
  return validateManifests(manifests, ruleLabel, `${file} is not valid`);
}

/** The plan of a rules file, and the teams it covers (those the file names) against those the token can read, as `selfheal apply` plans. */
async function planRules(api: ApiClient, file: string, prune: boolean): Promise<{ steps: Step[]; teams: TeamReport }> {
  const desired = readRules(file);
  const scope = scopeOfFiles(desired);
  const [rules, readable] = await Promise.all([api.rules.list(), readableTeams(api)]);
  return { steps: planChanges(desired, { rules, environments: [], jobs: [] }, new Set(prune ? ['Rule'] : []), scope), teams: teamReport(scope.teams, readable) };
}

interface RuleBacktest {
  name: string;
  answer?: BacktestAnswer;
  error?: string;
}

/** The backtest of each rule the plan creates or updates (the edited definition against the stored one). */
async function backtestChanges(api: ApiClient, steps: Step[], window: Record<string, unknown>): Promise<RuleBacktest[]> {
  const out: RuleBacktest[] = [];
  for (const s of steps) {
    if (s.kind !== 'Rule' || (s.action !== 'create' && s.action !== 'update')) continue;
    try {
      out.push({ name: s.key, answer: await requestBacktest(api, { rule: s.body, ...(s.id ? { ruleId: s.id } : {}), ...window, limit: 1 }) });
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      out.push({ name: s.key, error: err.summary.replace(/\n/g, '; ') });
    }
  }
  return out;
}

/** After the apply: each changed rule's new version gets its backtest attached (stored, and in the audit log). */
async function attachBacktests(api: ApiClient, applied: Step[], backtests: RuleBacktest[], window: Record<string, unknown>) {
  const ran = new Set(backtests.filter((b) => b.answer).map((b) => b.name));
  const changed = applied.filter((s) => s.kind === 'Rule' && (s.action === 'create' || s.action === 'update') && ran.has(s.key));
  if (changed.length === 0) return [];
  const rules = await api.rules.list();
  const out: { name: string; version?: number; error?: string }[] = [];
  for (const s of changed) {
    const rule = rules.find((r) => r.name === s.key);
    if (!rule) continue;
    try {
      const res = await api.request<{ version: number }>('POST', `/api/rules/${encodeURIComponent(rule.id)}/backtest`, { body: window });
      out.push({ name: s.key, version: res.body.version });
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      out.push({ name: s.key, error: err.summary.replace(/\n/g, '; ') });
    }
  }
  return out;
}

function readJsonFile(file: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw usageError(`cannot read ${what} ${file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    // V8's message quotes the start of the text; the file may not be what it claims (a CI secret): say where only.
    const at = /position (\d+)/.exec((err as Error).message)?.[1];
    throw usageError(`${what} ${file} is not valid JSON${at ? ` (at character ${at})` : ''}`);
  }
}

interface TestOptions {
  file: string;
  payload: string;
  alerts?: string;
  environment?: string;
  name?: string;
  fail?: string[];
}

/** Action ids as the workflow names them: the rule's `id`, else `a<index>`. */
function actionIds(rule: { actions: readonly { id?: string | undefined }[] }): string[] {
  return rule.actions.map((a, i) => a.id ?? `a${i}`);
}

/** The condition tree one line per node, as formatExplanation (src/domain/rules) shows it, so a value in a node's text never starts a line. */
function printExplanation(io: Io, e: Explanation, indent = ''): void {
  io.out(`${indent}${e.result ? '✓' : '✗'} ${e.text}`);
  if (e.kind === 'all' || e.kind === 'any') for (const child of e.children) printExplanation(io, child, `${indent}  `);
  if (e.kind === 'not') printExplanation(io, e.child, `${indent}  `);
}

export function registerRules(program: Command, given: Runtime): void {
  const rt = linePerWrite(given);
  const group = program.command('rules').description('Remediation rules: list, show, apply from files, test offline, backtest over the stored history');

  group
    .command('list')
    .description('List rules')
    .action(
      action(rt, async ({ api, io, global }) => {
        const rules = await api.rules.list();
        if (global.json) {
          printJson(io, rules);
          return EXIT.ok;
        }
        table(io, ['NAME', 'VERSION', 'ENABLED', 'DRY-RUN', 'BREAKER', 'SERVICES'], rules.map((r) => [r.name, r.version, r.enabled, r.dryRun, r.breaker?.state ?? '', r.services.join(',')]));
        return EXIT.ok;
      }),
    );

  registerRuleStats(group, rt);

  group
    .command('get')
    .description('Show one rule (by name or id)')
    .argument('<name-or-id>', 'rule name or id')
    .action(
      action(rt, async ({ api, io, args: [key], global }) => {
        let rule: RuleView | undefined;
        if (UUID.test(key!)) rule = await api.rules.get(key!);
        rule ??= (await api.rules.list()).find((r) => r.name === key);
        if (!rule) {
          io.err(`no rule named or with id "${key}"`);
          return EXIT.negative;
        }
        printData(io, global.json ? JSON.stringify(rule, null, 2) : yamlText(rule).trimEnd());
        return EXIT.ok;
      }),
    );

  group
    .command('apply')
    .description('Sync rules from a YAML file: create missing, update changed, leave unchanged; each changed rule is backtested first')
    .requiredOption('-f, --file <file>', 'rules file (YAML or JSON)')
    .option('--prune', 'delete rules that are not in the file')
    .option('--dry-run', 'show the plan and the backtests, change nothing')
    .option('--since <duration>', 'history the backtest of each changed rule replays (30d, 12h, 2w)', '30d')
    .option('--no-backtest', 'apply without backtesting the changed rules')
    .option('--require-backtest <max-per-hour>', 'apply nothing when a changed rule would have fired more than this many times in one hour (or could not be backtested)')
    .action(
      action<{ file: string; prune?: boolean; dryRun?: boolean; since: string; backtest: boolean; requireBacktest?: string }>(rt, async ({ api, io, opts, global }) => {
        if (opts.requireBacktest !== undefined && !opts.backtest) throw usageError('--require-backtest needs the backtests: leave out --no-backtest');
        const maxPerHour = opts.requireBacktest === undefined ? undefined : positiveInt(opts.requireBacktest, 'require-backtest', 1, 1_000_000);
        const window = windowBody({ since: opts.since });
        const { steps, teams } = await planRules(api, opts.file, opts.prune === true);
        // As `selfheal apply`: a plan made blind to a team is shown with a warning, and never applied (nor backtested).
        if (opts.dryRun === true) {
          if (teams.unreadable.length > 0) io.err(unreadableWarning(teams));
        } else refuseUnreadable(teams);
        const backtests = opts.backtest ? await backtestChanges(api, steps, window) : [];
        const human = global.json ? { ...io, out: () => undefined } : io;
        for (const b of backtests) {
          if (b.answer) for (const line of summaryLines(b.name, b.answer)) human.out(line);
          else human.err(`backtest of ${b.name} not run: ${b.error}`);
        }
        const backtestJson = backtests.map((b) => ({ name: b.name, ...(b.answer ? { summary: b.answer.summary } : { error: b.error }) }));
        if (maxPerHour !== undefined) {
          const refusals = backtests.flatMap((b) => {
            if (!b.answer) return [`${b.name} could not be backtested (${b.error})`];
            const peak = b.answer.summary.candidate.peakPerHour;
            return peak && peak.firings > maxPerHour ? [`${b.name} would have fired ${peak.firings} times in the hour from ${peak.hour}, more than ${maxPerHour}`] : [];
          });
          if (refusals.length > 0) {
            for (const r of refusals) io.err(`✗ ${r}`);
            io.err(`nothing applied (--require-backtest ${maxPerHour})`);
            if (global.json) printJson(io, { dryRun: opts.dryRun === true, applied: false, plan: planJson(steps, false), backtests: backtestJson, refused: refusals });
            return EXIT.negative;
          }
        }
        if (opts.dryRun === true) {
          if (global.json) printJson(io, { dryRun: true, plan: planJson(steps, false), ...(opts.backtest ? { backtests: backtestJson } : {}) });
          else printPlan(io, steps, WOULD, false);
          return EXIT.ok;
        }
        const outcome = await executePlan(api, steps);
        const attached = opts.backtest ? await attachBacktests(api, outcome.applied, backtests, window) : [];
        if (global.json) printJson(io, { ...outcomeJson(steps, outcome, false), ...(opts.backtest ? { backtests: backtestJson, attached } : {}) });
        printOutcome(human, steps, outcome, false);
        for (const a of attached) human.out(a.error ? `backtest not attached to ${a.name}: ${a.error}` : `backtest attached to ${a.name} v${a.version}`);
        return outcome.failed ? outcome.failed.error.exitCode : EXIT.ok;
      }),
    );

  group
    .command('backtest')
    .description('What a rule file would have done over the stored incident history: matches, decisions, peak per hour, and the diff with the stored rule of that name (nothing runs)')
    .requiredOption('-f, --file <file>', 'rule file (the first rule, or --name)')
    .option('--name <rule>', 'which rule of the file')
    .option('--since <duration>', 'how far back (30d, 12h, 2w)', '30d')
    .option('--service <id>', 'report only this PagerDuty service (repeatable)', collect)
    .option('--environment <name>', 'report only this extracted environment (repeatable)', collect)
    .option('--as-live', 'simulate a dry-run rule as if it ran for real')
    .option('--limit <n>', 'events listed (changed ones when the rule exists, else matched ones)', '20')
    .action(
      action<BacktestWindowOptions & { file: string; name?: string; limit: string }>(rt, async ({ api, io, opts, global }) => {
        const rules = readRules(opts.file).flatMap((d) => (d.kind === 'Rule' ? [d.definition] : []));
        const rule = opts.name !== undefined ? rules.find((r) => r.name === opts.name) : rules[0];
        if (!rule) throw usageError(opts.name !== undefined ? `no rule named "${opts.name}" in the file` : 'the file holds no rule');
        const limit = positiveInt(opts.limit, 'limit', 20, 500);
        const stored = (await api.rules.list()).find((r) => r.name === rule.name);
        const answer = await requestBacktest(api, { rule, ...(stored ? { ruleId: stored.id } : {}), ...windowBody(opts), limit });
        if (global.json) {
          printJson(io, answer);
          return EXIT.ok;
        }
        for (const line of summaryLines(stored ? `${rule.name} (stored as v${stored.version})` : `${rule.name} (new)`, answer)) io.out(line);
        if (answer.items.length > 0) {
          io.out(`${stored ? 'changed' : 'matched'} events (${answer.items.length} of ${answer.totalItems}):`);
          for (const i of answer.items) {
            const c = i.candidate;
            const what = c.matched ? `${c.decision}${c.policy && c.policy !== 'dry_run' ? ` (${c.policy})` : ''}` : 'no match';
            const change = i.changes.vsCurrent ?? i.changes.vsRecorded;
            io.out(`  ${i.at} ${i.incident.id} ${i.target ?? '-'} ${what}${change ? ` [${change.replace(/_/g, ' ')}]` : ''}: ${i.incident.title}`);
            for (const r of c.refusedArgs ?? []) io.out(`    ✗ ${r.actionId} would fail without running: ${r.reason}`);
          }
        }
        return EXIT.ok;
      }),
    );

  group
    .command('diff')
    .description('What apply would change (exit 1 when there is a difference)')
    .requiredOption('-f, --file <file>', 'rules file (YAML or JSON)')
    .option('--prune', 'also show rules that apply --prune would delete')
    .action(
      action<{ file: string; prune?: boolean }>(rt, async ({ api, io, opts, global }) => {
        const { steps, teams } = await planRules(api, opts.file, opts.prune === true);
        if (teams.unreadable.length > 0) io.err(unreadableWarning(teams));
        if (global.json) printJson(io, planJson(steps, false));
        else printPlan(io, steps, WOULD, false);
        return steps.some((s) => s.action !== 'unchanged') ? EXIT.negative : EXIT.ok;
      }),
    );

  group
    .command('export')
    .description('Write every rule as YAML (re-applying it changes nothing)')
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .action(
      action<{ output?: string }>(rt, async ({ api, io, opts, global }) => {
        const rules = (await api.rules.list()).map(ruleDefinitionOf);
        const text = global.json ? JSON.stringify({ rules }, null, 2) : yamlText({ rules }, { lineWidth: 0 });
        if (opts.output !== undefined) {
          writeOwnFile(opts.output, text.endsWith('\n') ? text : `${text}\n`);
          io.err(`wrote ${rules.length} rule(s) to ${opts.output}`);
        } else {
          printData(io, text.trimEnd());
        }
        return EXIT.ok;
      }),
    );

  group
    .command('test')
    .description('Evaluate a rule file against a PagerDuty payload, offline (exit 0 match, 1 no match)')
    .requiredOption('-f, --file <file>', 'rule file (the first rule, or --name)')
    .requiredOption('-p, --payload <file>', 'PagerDuty V3 webhook body or event (JSON)')
    .option('--alerts <file>', 'the incident alerts: a list, or {"alerts": [...]} as GET /incidents/{id}/alerts answers')
    .option('--environment <file>', 'environment fields (JSON) overriding the extracted ones')
    .option('--name <rule>', 'which rule of the file')
    .option('--fail <action>', 'assume this action fails when it runs, to see which others then run (repeatable)', collect, [])
    .action(
      action<TestOptions>(rt, async ({ io, opts, global }) => {
        const rules = readRules(opts.file).flatMap((d) => (d.kind === 'Rule' ? [d.definition] : []));
        const rule = opts.name !== undefined ? rules.find((r) => r.name === opts.name) : rules[0];
        if (!rule) throw usageError(opts.name !== undefined ? `no rule named "${opts.name}" in the file` : 'the file holds no rule');
        const payload = readJsonFile(opts.payload, 'payload');
        let alerts: unknown[] | undefined;
        if (opts.alerts !== undefined) {
          const a = readJsonFile(opts.alerts, 'alerts');
          alerts = Array.isArray(a) ? a : a && typeof a === 'object' && Array.isArray((a as { alerts?: unknown }).alerts) ? (a as { alerts: unknown[] }).alerts : undefined;
          if (!alerts) throw usageError(`${opts.alerts}: expected an array of alerts or {"alerts": [...]}`);
        }
        const environment = opts.environment !== undefined ? (readJsonFile(opts.environment, 'environment') as Record<string, unknown>) : undefined;
        const ids = actionIds(rule);
        const failing = new Set(opts.fail ?? []);
        for (const id of failing) if (!ids.includes(id)) throw usageError(`--fail ${id}: the rule has no action with that id (it has ${ids.join(', ') || 'none'})`);
        // The decision the rule-run workflow makes for each action, from the same pure function.
        const chain = explainChain(
          rule.actions.map((a, i) => ({ id: ids[i]!, when: a.when })),
          (id) => (failing.has(id) ? 'failed' : 'succeeded'),
        );
        let result;
        try {
          result = testRuleWithPayload({ ...rule, id: 'local', version: 0 } as Rule, { payload, alerts, environment });
        } catch (err) {
          if (err instanceof PayloadError) throw usageError([`${opts.payload}: ${err.message}`, ...err.errors.map((e) => `  ${e.path}: ${e.message}`)].join('\n'));
          throw err;
        }
        if (global.json) {
          printJson(io, { ...result, chain });
        } else {
          const a = result.appliesTo;
          io.out(`rule ${rule.name}: ${result.matched ? 'MATCHES' : 'does not match'}`);
          io.out(`${a.service.matches ? '✓' : '✗'} service ${a.service.id ?? '(none)'} ${a.service.matches ? 'is' : 'is not'} in ${JSON.stringify(rule.services)}`);
          io.out(`${a.eventType.matches ? '✓' : '✗'} event type ${a.eventType.type ?? '(none)'} ${a.eventType.matches ? 'is' : 'is not'} in ${JSON.stringify(rule.eventTypes)}`);
          printExplanation(io, result.explanation);
          if (result.dryRun) io.out('(dry-run rule: actions would be recorded, not run)');
          if (result.matched) {
            io.out(`actions, in order (${failing.size === 0 ? 'assuming each one that runs succeeds' : `assuming ${[...failing].join(', ')} fail(s) when run`}):`);
            chain.forEach((step, i) => {
              const outcome = step.run ? `runs${failing.has(step.actionId) ? ' (and fails)' : ''}` : 'is skipped';
              io.out(`${step.run ? '✓' : '✗'} ${step.actionId} ${outcome}: ${step.reason.replace(/^skipped: /, '')}`);
              if (step.run) io.out(`    ${JSON.stringify(result.renderedActions[i])}`);
            });
          }
          // The run's own argument check (src/domain/script-args.ts) on this payload: shown whether or not it matched.
          for (const r of result.refusedArgs) {
            io.out(`✗ ${r.actionId}${r.path === 'verify.check' ? ' (verify check)' : ''} would fail without running${result.matched ? '' : ' if the rule matched'}: ${r.reason}`);
          }
        }
        return result.matched ? EXIT.ok : EXIT.negative;
      }),
    );
}
