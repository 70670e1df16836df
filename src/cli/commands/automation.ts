// selfheal automation status|resume: the fleet guards' pauses (issue 22).
import type { Command } from 'commander';
import { CliError, EXIT } from '../errors.js';
import { linePerWrite, printJson, table } from '../output.js';
import { action, type Runtime } from '../program.js';

export function registerAutomation(program: Command, given: Runtime): void {
  const rt = linePerWrite(given);
  const group = program.command('automation').description('Fleet guards: whether automation is paused, and resuming it (admin)');

  group
    .command('status')
    .description('Pauses in force, recent ones and the guards (exit 1 while something is paused)')
    .action(
      action(rt, async ({ api, io, global }) => {
        const s = await api.automation.status();
        if (global.json) printJson(io, s);
        else {
          const g = s.guards;
          const off = (n: number, text: string) => (n > 0 ? text : 'off');
          io.out(
            `guards: maxTargets ${off(g.maxTargets, `${g.maxTargets} per ${g.window}`)}, maxTargetPercent ${off(g.maxTargetPercent, `${g.maxTargetPercent} % per ${g.window}`)}, ` +
              `maxActionsPerMinute ${off(g.maxActionsPerMinute, String(g.maxActionsPerMinute))}, flapping ${off(g.flapping.max, `${g.flapping.max} per ${g.flapping.window}`)}; pages: ${g.pageChannels.join(', ') || 'none configured'}`,
          );
          if (s.pauses.length === 0) io.out('automation is running (nothing paused)');
          else {
            io.out('PAUSED:');
            table(
              io,
              ['SCOPE', 'ENVIRONMENT', 'GUARD', 'SINCE', 'INCIDENT', 'REASON'],
              s.pauses.map((p) => [p.scope, p.environment ?? '-', p.guard, p.pausedAt, p.incidentId ?? '-', p.reason]),
            );
            io.out(`resume with: selfheal automation resume ${s.pauses[0]!.scope === 'environment' ? `--environment ${s.pauses[0]!.environment}` : '--fleet'} (admin)`);
          }
        }
        return s.pauses.length > 0 ? EXIT.negative : EXIT.ok;
      }),
    );

  group
    .command('resume')
    .description('Resume automation paused by a guard (admin token); the guard windows restart')
    .option('--fleet', 'resume the fleet-wide pause')
    .option('--environment <name>', "resume one environment's pause")
    .action(
      action<{ fleet?: boolean; environment?: string }>(rt, async ({ api, io, opts, global }) => {
        if (Boolean(opts.fleet) === Boolean(opts.environment)) throw new CliError(EXIT.usage, 'give exactly one of --fleet or --environment <name>');
        const r = await api.automation.resume(opts.fleet ? { scope: 'fleet' } : { scope: 'environment', environment: opts.environment! });
        if (global.json) printJson(io, r);
        else if (r.resumed.length === 0) io.out('nothing was paused there');
        else for (const p of r.resumed) io.out(`resumed ${p.scope}${p.environment ? ` ${p.environment}` : ''} (guard ${p.guard}, paused since ${p.pausedAt})`);
        return EXIT.ok;
      }),
    );
}
