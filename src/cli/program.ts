// The commander program: global options, how an action gets its context, and the small option parsers
// the command groups share. Command groups live in ./commands/<group>.ts and add themselves here.
import { Command } from 'commander';
import type { CommandContext, GlobalOptions, Io } from './context.js';
import { closeSync, constants, fstatSync, openSync, readFileSync, type Stats } from 'node:fs';
import { CliError, usageError } from './errors.js';
import { createApiClient } from './http-client.js';

export const DEFAULT_URL = 'http://localhost:8080';

/** What a command group needs to register its commands. */
export interface Runtime {
  io: Io;
  /** Records the exit code of the command that ran. */
  exit(code: number): void;
}

export interface ActionInput<O> extends CommandContext {
  /** The command's own options (global ones are in `global`). */
  opts: O;
  /** Declared arguments, in order. */
  args: string[];
}

function globalOptions(all: Record<string, unknown>, io: Io): GlobalOptions {
  const urlFlag = typeof all.url === 'string' ? all.url : undefined;
  const url = urlFlag ?? io.env.SELFHEAL_URL ?? DEFAULT_URL;
  try {
    new URL(url);
  } catch {
    throw usageError(`--url "${url}" is not a URL`);
  }
  const flagToken = typeof all.token === 'string' ? all.token : undefined;
  const tokenFile = typeof all.tokenFile === 'string' ? all.tokenFile : undefined;
  if (flagToken !== undefined && tokenFile !== undefined) throw usageError('give --token or --token-file, not both');
  if (flagToken !== undefined) io.err(argvSecretWarning('--token', 'SELFHEAL_TOKEN', '--token-file <path>'));
  return {
    url,
    urlFlag,
    token: flagToken ?? (tokenFile !== undefined ? readTokenFile(tokenFile, (t) => io.err(t)) : undefined) ?? io.env.SELFHEAL_TOKEN,
    tokenSource: flagToken !== undefined ? '--token' : tokenFile !== undefined ? '--token-file' : 'SELFHEAL_TOKEN',
    insecureHttp: all.insecureHttp === true || io.env.SELFHEAL_INSECURE_HTTP === '1',
    json: all.json === true,
  };
}

/**
 * What the CLI says when a secret is given as an option: the command line of a running process is readable
 * by every user of the machine (`ps`, /proc/<pid>/cmdline: a shared CI runner, a bastion), and the shell's
 * history keeps it. The token is still used; the warning names the ways that stay out of sight.
 */
export function argvSecretWarning(flag: string, env: string, file?: string): string {
  return `warning: ${flag} puts the token on the command line, where every user of this machine can read it (ps, /proc/<pid>/cmdline) and shell history keeps it; set ${env}${file ? ` or use ${file}` : ''} instead`;
}

/** Longest token file read (an API token is 50-odd characters). */
const MAX_TOKEN_FILE_BYTES = 4096;

/**
 * The token in `file` (`--token-file`): its text without one final line end (`echo $TOKEN > file`). A
 * symbolic link is followed (a Kubernetes secret volume links each key to a file of its own). The file is
 * opened without waiting (O_NONBLOCK), so a FIFO with no writer is refused as not a file instead of
 * holding the CLI for ever, and it is checked through the descriptor read, not by its name. Not found, not
 * a regular file, longer than MAX_TOKEN_FILE_BYTES, or empty (nothing but white space) is a usage error
 * that never shows the file's text; a token holding a space or a control character is refused before it is
 * sent (http-client.ts tokenHeaderError). A file its group or other users may read or write is used, with
 * a warning to `warn` naming the file and its mode (CI runners and containers often hold secrets 0644).
 */
export function readTokenFile(file: string, warn: (text: string) => void): string {
  let text: string;
  try {
    const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw usageError(`--token-file ${file} is not a regular file (${fileKind(st)}); give a file that holds the token`);
      if (st.size > MAX_TOKEN_FILE_BYTES) throw usageError(`--token-file ${file} holds ${st.size} bytes; a token file holds the token alone (at most ${MAX_TOKEN_FILE_BYTES} bytes)`);
      if ((st.mode & 0o077) !== 0) warn(tokenFileModeWarning(file, st.mode));
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw usageError(`--token-file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (text.trim() === '') throw usageError(`--token-file ${file} is empty; it must hold the token`);
  return text.replace(/\r?\n$/, '');
}

/** What a file that is not a regular one is, in words (never its content). */
function fileKind(st: Stats): string {
  if (st.isFIFO()) return 'a named pipe';
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'not a file';
}

/** The warning for a token file its group or other users may open, as ssh gives for a private key. */
export function tokenFileModeWarning(file: string, mode: number): string {
  const who = [mode & 0o070 ? 'its group' : undefined, mode & 0o007 ? 'other users' : undefined].filter((w) => w !== undefined).join(' and ');
  return `warning: --token-file ${file} is open to ${who} (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); the token is used, but keep the file to its owner: chmod 600 ${file}`;
}

/** A commander action that builds the context, runs `fn` and records its exit code. */
export function action<O = Record<string, unknown>>(rt: Runtime, fn: (input: ActionInput<O>) => Promise<number>) {
  return async (...params: unknown[]): Promise<void> => {
    const cmd = params[params.length - 1] as Command;
    const global = globalOptions(cmd.optsWithGlobals(), rt.io);
    const args = (cmd.processedArgs as unknown[]).filter((a): a is string => typeof a === 'string');
    rt.exit(await fn({ global, io: rt.io, api: createApiClient(global), opts: cmd.opts() as O, args }));
  };
}

/** For repeatable options: `--label a=b --label c=d`. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** A whole number option from 1 to `max`, `fallback` when not given. */
export function positiveInt(raw: string | undefined, name: string, fallback: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) throw usageError(`--${name} must be a whole number from 1 to ${max} (got "${raw}")`);
  return n;
}

export function createProgram(io: Io): Command {
  return new Command('selfheal')
    .description('Self-healing: PagerDuty-driven remediation rules and scheduled jobs, from the command line.')
    .option('--url <url>', `API base URL (env SELFHEAL_URL, default ${DEFAULT_URL})`)
    .option('--token <token>', 'bearer token (env SELFHEAL_TOKEN); visible to every user of the machine in ps, prefer SELFHEAL_TOKEN or --token-file')
    .option('--token-file <path>', 'read the bearer token from this file (one line)')
    .option('--insecure-http', 'send the token over plain http to a host that is not loopback (env SELFHEAL_INSECURE_HTTP=1)')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\nexit codes: 0 ok, 1 negative answer (no match / differences / not found), 2 usage or validation error, 3 server or network error',
    )
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s.trimEnd()),
      writeErr: (s) => io.err(s.trimEnd()),
      // Usage errors are printed once, by main(), as one line.
      outputError: () => undefined,
    });
}
