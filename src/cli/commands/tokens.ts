// selfheal tokens create|list|revoke: API tokens (admin). The API keeps only a token's hash, so `create`
// is the one moment its value exists outside the caller: it is printed once, on stdout.
import { Option, type Command } from 'commander';
import type { TokenView } from '../api-types.js';
import { EXIT, usageError } from '../errors.js';
import { linePerWrite, printJson, table } from '../output.js';
import { action, type Runtime } from '../program.js';

const SCOPES = ['read', 'write', 'admin'] as const;

interface CreateOptions {
  name: string;
  scope?: (typeof SCOPES)[number];
  team: string[];
  expiresIn?: string;
  expiresAt?: string;
  owner?: string;
}

const stateOf = (t: TokenView) => (t.revokedAt ? 'revoked' : t.expired ? 'expired' : 'active');

export function registerTokens(program: Command, given: Runtime): void {
  const rt = linePerWrite(given);
  const group = program.command('tokens').description('API tokens: create (shown once), list, revoke (admin token)');

  group
    .command('create')
    .description('Issue an API token and print it once (the server keeps only its hash)')
    .requiredOption('--name <name>', 'who or what uses it; the audit log names its actions token:<name>')
    .addOption(
      new Option('--scope <scope>', 'read: look; write: change rules, jobs, environment labels (without --team: of the default team only); admin: everything').choices(SCOPES),
    )
    .option(
      '--team <team:role>',
      'a team role (viewer, editor, approver, admin), e.g. payments:editor; repeat for several. The token then acts on these teams only',
      (value: string, all: string[]) => [...all, value],
      [] as string[],
    )
    .addOption(new Option('--expires-in <duration>', 'lifetime: 30m, 12h, 90d (default 90d, at most 366d)').conflicts('expiresAt'))
    .option('--expires-at <instant>', 'expiry as an ISO 8601 instant, e.g. 2027-01-31T00:00:00Z (within 366 days)')
    .option(
      '--owner <person>',
      'the person it is issued to, as they sign in: e-mail address or user:<subject>. Nobody approves what a rule version they wrote plans, under either name',
    )
    .action(
      action<CreateOptions>(rt, async ({ api, io, opts, global }) => {
        if (opts.scope === undefined && opts.team.length === 0) throw usageError('give --scope, --team <team:role>, or both');
        const created = await api.tokens.create({
          name: opts.name,
          ...(opts.scope !== undefined ? { scopes: [opts.scope] } : {}),
          ...(opts.team.length > 0 ? { teams: opts.team } : {}),
          ...(opts.expiresIn !== undefined ? { expiresIn: opts.expiresIn } : {}),
          ...(opts.expiresAt !== undefined ? { expiresAt: opts.expiresAt } : {}),
          ...(opts.owner !== undefined ? { owner: opts.owner } : {}),
        });
        if (global.json) {
          printJson(io, created);
          return EXIT.ok;
        }
        const teams = created.teams.length > 0 ? ` in teams ${created.teams.join(',')}` : ' (default team)';
        const owner = created.owner ? `, issued to ${created.owner}` : '';
        io.out(`created token ${created.id} "${created.name}" with scope ${created.scopes.join(',')}${teams}${owner}, expires ${created.expiresAt}`);
        io.out(created.token);
        io.out(`store it now: it is shown only once (revoke it with: selfheal tokens revoke ${created.id})`);
        return EXIT.ok;
      }),
    );

  group
    .command('list')
    .description('List API tokens (never their values) with expiry and state, newest first')
    .option('--live', 'only those neither revoked nor expired')
    .action(
      action(rt, async ({ api, io, global, opts }) => {
        const items = await api.tokens.list({ live: opts.live === true });
        if (global.json) {
          printJson(io, items);
          return EXIT.ok;
        }
        table(
          io,
          ['ID', 'NAME', 'SCOPES', 'TEAMS', 'STATE', 'EXPIRES', 'LAST USED', 'CREATED BY', 'OWNER', 'MINTED FROM'],
          items.map((t) => [
            t.id,
            t.name,
            t.scopes.join(','),
            t.teams.join(',') || (t.scopes.includes('admin') ? 'all (admin)' : 'default (by scope)'),
            stateOf(t),
            t.expiresAt,
            t.lastUsedAt ?? 'never',
            t.createdBy,
            t.owner ?? '-',
            // The session's user, whom cutting off (selfheal sessions revoke) revokes this token with.
            t.mintedFrom ? `session of ${t.mintedFrom.email ?? t.mintedFrom.subject} (subject ${t.mintedFrom.subject})` : '-',
          ]),
        );
        return EXIT.ok;
      }),
    );

  group
    .command('revoke')
    .description('Revoke an API token at once (exit 1 when it is not known)')
    .argument('<id>', 'token id (selfheal tokens list)')
    .action(
      action(rt, async ({ api, io, args: [id], global }) => {
        const token = await api.tokens.revoke(id!);
        if (!token) {
          io.err(`token ${id} is not known`);
          return EXIT.negative;
        }
        if (global.json) {
          printJson(io, token);
          return EXIT.ok;
        }
        // Revoking twice is fine: the answer is the token, revoked since the first time.
        io.out(`token ${token.id} "${token.name}" is revoked (since ${token.revokedAt}); requests with it are refused with 401`);
        const listed = token.revokedWith ?? [];
        for (const t of listed) io.out(`token ${t.id} "${t.name}" is revoked with it (minted with it, or with a token minted with it)`);
        const more = (token.revokedWithTotal ?? listed.length) - listed.length;
        if (more > 0) io.out(`and ${more} more token${more === 1 ? '' : 's'} minted with it are revoked with it (selfheal tokens list shows them)`);
        return EXIT.ok;
      }),
    );
}
