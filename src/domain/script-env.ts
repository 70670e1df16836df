/**
 * Environment variables a rule may give a script (`actions[].environment`), on the Doctor agent and over
 * SSH. This is an ALLOW list: a rule may set only names under {@link SCRIPT_PARAM_PREFIX}
 * (`SELFHEAL_PARAM_DRY_RUN`, `SELFHEAL_PARAM_MOUNT`), which a script opts into by reading them.
 *
 * Why not a deny list: the programs a script starts read their own variables, and many of them run code
 * named there (VIMINIT, EXINIT, PYTHONWARNINGS with BROWSER, GIT_CONFIG_*, LUA_INIT, JDK_JAVA_OPTIONS,
 * PAGER, EDITOR, LESSOPEN, KUBECONFIG or AWS_CONFIG_FILE with `exec`/`credential_process`, http(s)_proxy…).
 * No list of such names is ever complete, and a `write` token must not get code execution as root from one
 * it misses. No program gives a meaning to SELFHEAL_PARAM_*, so those names are only data for the script.
 * The rest of `SELFHEAL_*` stays reserved for the context Self-healing exports itself.
 *
 * Stored rules saved before this rule with other names are not rewritten: the API refuses them when the
 * rule is saved again or rolled back to (400 / 409 naming `actions.N.environment.<NAME>`), and both
 * executors refuse them at run time, so the action fails at once (not retried) with a message naming the
 * variable and the name to use instead. Nothing runs with a refused variable.
 *
 * Pure: used by the rule schema (400 at save time) and by both executors (refused at run time).
 */

/** The only names a rule may set for a script start with this. */
export const SCRIPT_PARAM_PREFIX = 'SELFHEAL_PARAM_';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PARAM_NAME = /^SELFHEAL_PARAM_[A-Z0-9_]+$/;
const MAX_NAME_SHOWN = 128;

/** The name a refused variable would have under the prefix (for the error message). */
function suggestion(name: string): string {
  const rest = name.toUpperCase().replace(/^SELFHEAL_(PARAM_)?/, '');
  return `${SCRIPT_PARAM_PREFIX}${rest || 'NAME'}`;
}

/** Why a rule may not set `name` for a script, or undefined when it may. */
export function refusedEnvName(name: string): string | undefined {
  const shown = name.length > MAX_NAME_SHOWN ? `${name.slice(0, MAX_NAME_SHOWN)}…` : name;
  if (!ENV_NAME.test(name)) return `"${shown}" is not an environment variable name`;
  if (PARAM_NAME.test(name)) return undefined;
  return (
    `${shown}: a rule may set only ${SCRIPT_PARAM_PREFIX}* variables (upper-case letters, digits and _ after the prefix), ` +
    `which scripts read as their parameters; other names can change what a program runs. ` +
    `Rename it (e.g. ${suggestion(shown)}) and read that name in the script`
  );
}

/** The first refused entry of `env`, as an error message, or undefined. Values may not hold NUL. */
export function checkScriptEnv(env: Readonly<Record<string, unknown>>): string | undefined {
  for (const [name, value] of Object.entries(env)) {
    const refused = refusedEnvName(name);
    if (refused) return refused;
    if (typeof value !== 'string' || value.includes('\0')) return `environment variable ${name} must be a string without NUL`;
  }
  return undefined;
}
