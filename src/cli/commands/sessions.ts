// selfheal sessions revoke: cut a signed-in dashboard user off (admin token), by subject or e-mail.
import { Option, type Command } from 'commander';
import { EXIT, usageError } from '../errors.js';
import { linePerWrite, printJson } from '../output.js';
import { action, type Runtime } from '../program.js';

interface RevokeOptions {
  subject?: string;
  email?: string;
}

export function registerSessions(program: Command, given: Runtime): void {
  const rt = linePerWrite(given);
  const group = program.command('sessions').description('Dashboard single sign-on sessions: revoke a user\'s (admin token)');

  group
    .command('revoke')
    .description("Revoke every live dashboard session of a user at once, the API tokens issued to them under that name, and the tokens minted from a session of theirs, ended or not (MINTED FROM in tokens list); they must sign in again at the provider: disable a compromised account there too")
    .addOption(new Option('--subject <sub>', "the user's subject at the OIDC provider (the audit log's session.create entries show it)").conflicts('email'))
    .addOption(new Option('--email <address>', 'the e-mail address the provider gave for the user (any case)'))
    .action(
      action<RevokeOptions>(rt, async ({ api, io, opts, global }) => {
        if (opts.subject === undefined && opts.email === undefined) throw usageError('give --subject or --email');
        const owner = opts.subject !== undefined ? { subject: opts.subject } : { email: opts.email! };
        const answer = await api.sessions.revokeUser(owner);
        if (global.json) {
          printJson(io, answer);
          return EXIT.ok;
        }
        const who = 'subject' in owner ? `subject ${owner.subject}` : `e-mail ${owner.email}`;
        io.out(`revoked ${answer.revoked} live session${answer.revoked === 1 ? '' : 's'} of ${who}${answer.revoked > 0 ? ` (${[...new Set(answer.sessions.map((s) => s.actor))].join(', ')})` : ''}; requests with them are refused with 401`);
        const tokens = answer.tokens ?? [];
        const total = answer.tokensTotal ?? tokens.length;
        if (total > 0) {
          const more = total > tokens.length ? `, and ${total - tokens.length} more (selfheal tokens list shows them)` : '';
          io.out(`revoked ${total} API token${total === 1 ? '' : 's'} issued to them: ${tokens.map((t) => `${t.name} (${t.id})`).join(', ')}${more}`);
        }
        return EXIT.ok;
      }),
    );
}
