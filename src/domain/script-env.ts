/**
 * Environment variables a rule may give a script (`actions[].environment`), on the Doctor agent and over
 * SSH. Names that change how the shell, the dynamic loader or a language runtime loads code are refused:
 * with them a rule author (or a templated value) could run other code than the allow-listed script.
 * `SELFHEAL_*` is reserved for the context Self-healing exports itself.
 *
 * Pure: used by the rule schema (400 at save time) and by both executors (refused at run time).
 */

/** Names refused exactly. */
export const DENIED_ENV_NAMES: ReadonlySet<string> = new Set([
  'PATH',
  'HOME',
  'SHELL',
  'IFS',
  'ENV',
  'BASH_ENV',
  'CDPATH',
  'PS4',
  'PROMPT_COMMAND',
  'SHELLOPTS',
  'BASHOPTS',
  'GLOBIGNORE',
  'NODE_OPTIONS',
  'NODE_PATH',
  'PYTHONPATH',
  'PYTHONSTARTUP',
  'PYTHONHOME',
  'PERL5LIB',
  'PERL5OPT',
  'PERLLIB',
  'RUBYLIB',
  'RUBYOPT',
  'JAVA_TOOL_OPTIONS',
  '_JAVA_OPTIONS',
  'GCONV_PATH',
  'HOSTALIASES',
  'LOCALDOMAIN',
  'RES_OPTIONS',
  'TMPDIR',
  'GIT_SSH',
  'GIT_SSH_COMMAND',
  'SSH_AUTH_SOCK',
]);

/** Name prefixes refused. */
export const DENIED_ENV_PREFIXES: readonly string[] = ['LD_', 'DYLD_', 'BASH_FUNC_', 'SELFHEAL_'];

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Why `name` may not be set for a script, or undefined when it may. */
export function deniedEnvName(name: string): string | undefined {
  if (!ENV_NAME.test(name)) return `"${name}" is not an environment variable name`;
  const upper = name.toUpperCase();
  if (DENIED_ENV_NAMES.has(upper)) return `${name} changes how programs are found or loaded, so a rule may not set it`;
  const prefix = DENIED_ENV_PREFIXES.find((p) => upper.startsWith(p));
  if (prefix === 'SELFHEAL_') return `${name}: SELFHEAL_* is reserved for the context Self-healing exports`;
  if (prefix) return `${name}: ${prefix}* changes how programs are loaded, so a rule may not set it`;
  return undefined;
}

/** The first refused entry of `env`, as an error message, or undefined. Values may not hold NUL. */
export function checkScriptEnv(env: Readonly<Record<string, unknown>>): string | undefined {
  for (const [name, value] of Object.entries(env)) {
    const denied = deniedEnvName(name);
    if (denied) return denied;
    if (typeof value !== 'string' || value.includes('\0')) return `environment variable ${name} must be a string without NUL`;
  }
  return undefined;
}
