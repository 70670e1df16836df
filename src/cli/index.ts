/**
 * `selfheal`: the SRE command line, on commander. One module per command group under ./commands; they
 * talk to the server only through ./http-client.ts and import nothing of the server (lint-checked).
 * Global options: --url (SELFHEAL_URL, default http://localhost:8080), --token (SELFHEAL_TOKEN), --json,
 * --insecure-http (SELFHEAL_INSECURE_HTTP=1: the token may go over plain http to a host that is not loopback).
 * Exit codes: 0 ok, 1 a negative answer (no match, differences, not found), 2 usage or validation
 * error, 3 server or network error.
 */
import { pathToFileURL } from 'node:url';
import { CommanderError } from 'commander';
import { registerAutomation } from './commands/automation.js';
import { registerEnvironments } from './commands/environments.js';
import { registerGitOps } from './commands/gitops.js';
import { registerIncidents } from './commands/incidents.js';
import { registerJobs } from './commands/jobs.js';
import { registerPagerDuty } from './commands/pagerduty.js';
import { registerRules } from './commands/rules.js';
import { registerSessions } from './commands/sessions.js';
import { registerTeams } from './commands/teams.js';
import { registerTokens } from './commands/tokens.js';
import type { Io } from './context.js';
import { CliError, EXIT } from './errors.js';
import { printError, terminalSafe } from './output.js';
import { createProgram } from './program.js';

export { CliError, EXIT } from './errors.js';
export type { Io } from './context.js';

const defaultIo: Io = { out: (t) => process.stdout.write(`${t}\n`), err: (t) => process.stderr.write(`${t}\n`), env: process.env };

/**
 * Runs one command line; answers its exit code. Never throws and never calls process.exit. Everything
 * written goes through `terminalSafe` (./output.ts): terminal control characters from server data are
 * shown as escapes, never acted on, and a failed command's message through `printError`: a newline in
 * the server text it quotes (a problem's title, detail, field errors) is shown as `\n`.
 */
export async function main(argv: string[], given: Io = defaultIo): Promise<number> {
  const io = terminalSafe(given);
  let code: number = EXIT.ok;
  const program = createProgram(io);
  const rt = { io, exit: (c: number) => (code = c) };
  registerRules(program, rt);
  registerGitOps(program, rt);
  registerIncidents(program, rt);
  registerJobs(program, rt);
  registerEnvironments(program, rt);
  registerPagerDuty(program, rt);
  registerTokens(program, rt);
  registerSessions(program, rt);
  registerTeams(program, rt);
  registerAutomation(program, rt);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help asked for: 0. Help shown because a command was missing, or a usage error: 2.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT.ok;
      if (err.code !== 'commander.help') io.err(`${err.message.replace(/\.$/, '')} (see --help)`);
      return EXIT.usage;
    }
    if (err instanceof CliError) {
      // Its own text keeps its line breaks; what it quotes from a server stays on its line.
      printError(io, err.parts);
      return err.exitCode;
    }
    io.err(`unexpected error: ${(err as Error).stack ?? String(err)}`);
    return EXIT.server;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
