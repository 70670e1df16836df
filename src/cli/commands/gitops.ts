// selfheal apply|diff|export: environments, jobs and rules kept as files (GitOps). `diff` exits 1 when
// apply would change something; `apply` creates, updates and (with --prune <kinds>) deletes, in dependency
// order, and sends nothing for an object the server already holds. A plan covers the teams of the files (or
// --team): only their objects are updated or pruned, a file object that would take over another team's
// object of the same name is refused unless --allow-move, and both commands say which teams the plan covers
// and which the token can read (apply refuses when it cannot read them all).
import type { Command } from 'commander';
import { TEAM_NAME_PATTERN, TEAM_NAME_RULE } from '../../domain/teams.js';
import { EXIT, usageError } from '../errors.js';
import { linePerWrite, printData, printJson } from '../output.js';
import { action, collect, type Runtime } from '../program.js';
import { exportDocuments, renderExport, writeExport } from '../gitops/export.js';
import { KINDS, readManifests, type Kind } from '../gitops/manifests.js';
import { checkReferences, planChanges, resolveScope, validateManifests, type Step } from '../gitops/plan.js';
import {
  executePlan,
  loadCurrent,
  outcomeJson,
  planJson,
  printOutcome,
  printPlan,
  printTeams,
  readableTeams,
  refuseUnreadable,
  teamReport,
  unreadableWarning,
  WOULD,
  type TeamReport,
} from '../gitops/run.js';
import type { ApiClient } from '../http-client.js';

const KIND_NAMES: Record<string, Kind> = {
  environment: 'Environment',
  environments: 'Environment',
  job: 'Job',
  jobs: 'Job',
  rule: 'Rule',
  rules: 'Rule',
};

/** `rule,job` → {Rule, Job}; every kind must be named (there is no "all"). */
export function parsePruneKinds(text: string | undefined): Set<Kind> {
  if (text === undefined) return new Set();
  const kinds = new Set<Kind>();
  for (const word of text.split(',').map((w) => w.trim().toLowerCase())) {
    const kind = KIND_NAMES[word];
    if (!kind) throw usageError(`--prune takes kinds separated by commas (environment, job, rule), not "${word}"`);
    kinds.add(kind);
  }
  return kinds;
}

/** `--team a --team b,c` → [a, b, c]; each a team name. Undefined when not given. */
export function parseTeams(values: string[] | undefined): string[] | undefined {
  if (values === undefined) return undefined;
  const teams = new Set<string>();
  for (const word of values.flatMap((v) => v.split(',')).map((w) => w.trim())) {
    if (!TEAM_NAME_PATTERN.test(word)) throw usageError(`--team takes team names (${TEAM_NAME_RULE}), separated by commas or repeated, not "${word}"`);
    teams.add(word);
  }
  return [...teams];
}

interface PlanOptions {
  file?: string[];
  recursive?: boolean;
  prune?: string;
  team?: string[];
  allowMove?: boolean;
}

async function plan(api: ApiClient, opts: PlanOptions): Promise<{ steps: Step[]; teams: TeamReport }> {
  const files = opts.file ?? [];
  if (files.length === 0) throw usageError('-f <file or folder> is required');
  const prune = parsePruneKinds(opts.prune);
  const explicit = parseTeams(opts.team);
  const desired = validateManifests(readManifests(files, { recursive: opts.recursive === true }));
  const scope = resolveScope(desired, explicit, opts.allowMove === true);
  const [current, readable] = await Promise.all([loadCurrent(api, new Set(KINDS)), readableTeams(api)]);
  checkReferences(desired, current, prune, scope);
  return { steps: planChanges(desired, current, prune, scope), teams: teamReport(scope.teams, readable) };
}

const withPlanOptions = (cmd: Command) =>
  cmd
    .option('-f, --file <path>', 'a file or folder of .yaml/.yml/.json files (repeatable)', collect)
    .option('-R, --recursive', 'also read the sub-folders of a folder')
    .option('--prune <kinds>', "delete objects of these kinds that the files do not hold, in the plan's teams only: environment, job, rule (comma-separated)")
    .option('--team <teams>', 'the teams the plan covers (repeatable or comma-separated; default: the teams the files name, `default` for an object without `team`); every file object must be in one', collect)
    .option('--allow-move', "let a file object take over another team's object of the same name, moving it to the file's team (refused otherwise)");

export function registerGitOps(program: Command, given: Runtime): void {
  const rt = linePerWrite(given);
  withPlanOptions(program.command('apply').description('Make the server hold what the files say: environments, jobs, rules (idempotent)'))
    .option('--dry-run', 'show the plan, change nothing')
    .action(
      action<PlanOptions & { dryRun?: boolean }>(rt, async ({ api, io, opts, global }) => {
        const { steps, teams } = await plan(api, opts);
        if (opts.dryRun === true) {
          if (global.json) printJson(io, { dryRun: true, teams, plan: planJson(steps, true) });
          else {
            printTeams(io, teams);
            printPlan(io, steps, WOULD, true);
          }
          if (global.json && teams.unreadable.length > 0) io.err(unreadableWarning(teams));
          return EXIT.ok;
        }
        // The token cannot see what it would overwrite or leave behind in those teams: nothing is attempted.
        refuseUnreadable(teams, '--team');
        if (!global.json) printTeams(io, teams);
        const outcome = await executePlan(api, steps);
        if (global.json) printJson(io, { teams, ...outcomeJson(steps, outcome, true) });
        printOutcome(global.json ? { ...io, out: () => undefined } : io, steps, outcome, true);
        return outcome.failed ? outcome.failed.error.exitCode : EXIT.ok;
      }),
    );

  withPlanOptions(program.command('diff').description('What apply would change, object by object (exit 1 when it would change something)')).action(
    action<PlanOptions>(rt, async ({ api, io, opts, global }) => {
      const { steps, teams } = await plan(api, opts);
      if (global.json) {
        printJson(io, { teams, plan: planJson(steps, true) });
        if (teams.unreadable.length > 0) io.err(unreadableWarning(teams));
      } else {
        printTeams(io, teams);
        printPlan(io, steps, WOULD, true);
      }
      return steps.some((s) => s.action !== 'unchanged') ? EXIT.negative : EXIT.ok;
    }),
  );

  program
    .command('export')
    .description('Write every environment, job and rule as files that apply takes back unchanged (secrets stay references)')
    .option('-o, --output <path>', 'a .yaml/.yml/.json file, or a folder (one file per object); default stdout')
    .action(
      action<{ output?: string }>(rt, async ({ api, io, opts, global }) => {
        const docs = exportDocuments(await loadCurrent(api, new Set(KINDS)));
        if (opts.output === undefined) {
          printData(io, renderExport(docs, global.json).trimEnd());
          return EXIT.ok;
        }
        const files = writeExport(docs, opts.output, io);
        const count = (k: Kind) => docs.filter((d) => d.kind === k).length;
        if (global.json) printJson(io, { output: opts.output, files, environments: count('Environment'), jobs: count('Job'), rules: count('Rule') });
        else io.err(`wrote ${count('Environment')} environment(s), ${count('Job')} job(s) and ${count('Rule')} rule(s) to ${opts.output}`);
        return EXIT.ok;
      }),
    );
}
