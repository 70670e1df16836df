// selfheal teams list|create|members|set-roles: teams own rules, environments and jobs; API tokens hold
// roles in them (viewer, editor, approver, admin). Creating a team takes a global admin token; a team's
// members and their roles take an admin of that team.
import type { Command } from 'commander';
import { EXIT } from '../errors.js';
import { linePerWrite, printJson, table } from '../output.js';
import { action, type Runtime } from '../program.js';

export function registerTeams(program: Command, given: Runtime): void {
  const rt = linePerWrite(given);
  const group = program.command('teams').description('Teams and the roles API tokens hold in them');

  group
    .command('list')
    .description('Teams you may read (all of them with a global admin token), with your roles')
    .action(
      action(rt, async ({ api, io, global }) => {
        const items = await api.teams.list();
        if (global.json) {
          printJson(io, items);
          return EXIT.ok;
        }
        table(io, ['TEAM', 'YOUR ROLES', 'DESCRIPTION'], items.map((t) => [t.name, t.roles.join(',') || '-', t.description ?? '']));
        return EXIT.ok;
      }),
    );

  group
    .command('create')
    .description('Create a team (global admin token)')
    .argument('<name>', 'lowercase letters, digits and "-"')
    .option('--description <text>', 'what the team owns')
    .action(
      action<{ description?: string }>(rt, async ({ api, io, args: [name], opts, global }) => {
        const team = await api.teams.create({ name: name!, ...(opts.description !== undefined ? { description: opts.description } : {}) });
        if (global.json) printJson(io, team);
        else io.out(`created team ${team.name}`);
        return EXIT.ok;
      }),
    );

  group
    .command('members')
    .description("A team's API tokens and their roles (team admin); exit 1 when the team is not known")
    .argument('<team>')
    .action(
      action(rt, async ({ api, io, args: [team], global }) => {
        const items = await api.teams.members(team!);
        if (!items) {
          io.err(`team ${team} is not known`);
          return EXIT.negative;
        }
        if (global.json) printJson(io, items);
        else table(io, ['TOKEN ID', 'NAME', 'ROLES'], items.map((m) => [m.tokenId, m.tokenName, m.roles.join(',')]));
        return EXIT.ok;
      }),
    );

  group
    .command('set-roles')
    .description("Set an API token's roles in a team (team admin); no roles removes it from the team")
    .argument('<team>')
    .argument('<token-id>', 'selfheal tokens list')
    .option('--role <role>', 'viewer, editor, approver or admin; repeat for several; none removes the token from the team', (v: string, all: string[]) => [...all, v], [] as string[])
    .action(
      action<{ role: string[] }>(rt, async ({ api, io, args: [team, tokenId], opts, global }) => {
        const member = await api.teams.setRoles(team!, tokenId!, opts.role);
        if (!member) {
          io.err(`team ${team} or token ${tokenId} is not known`);
          return EXIT.negative;
        }
        if (global.json) printJson(io, member);
        else io.out(`${member.tokenName} in ${team}: ${member.roles.join(',') || 'no roles'}`);
        return EXIT.ok;
      }),
    );
}
