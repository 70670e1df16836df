/**
 * Where secret references may point: the operator's policy, checked when a rule, job or environment is
 * saved (lexically, here) and again by the worker when it resolves one (src/executors/secrets.ts, which
 * also follows symlinks).
 *
 * A reference is `env:NAME` or `file:/absolute/path`. Without a policy any process variable or readable
 * file of the worker could be named, so a `write` token could have the worker read its own database URL,
 * Temporal API key or /etc/shadow into an SSH login or a webhook signature. The policy confines them:
 * - `env:NAME` only when NAME starts with one of `SECRET_REF_ENV_PREFIXES` (default `SELFHEAL_SECRET_`);
 * - `file:/path` only strictly inside one of `SECRET_REF_DIRS` (default `/run/secrets`,
 *   `/etc/selfheal/secrets`), with no `.` or `..` segment and no empty segment.
 *
 * Pure: no I/O, safe in workflow code.
 */

export interface SecretRefPolicy {
  /** Environment variable name prefixes an `env:` reference must start with. */
  envPrefixes: readonly string[];
  /** Absolute directories a `file:` reference must lie inside (after symlinks, at resolve time). */
  dirs: readonly string[];
}

export const DEFAULT_SECRET_ENV_PREFIXES: readonly string[] = ['SELFHEAL_SECRET_'];
export const DEFAULT_SECRET_DIRS: readonly string[] = ['/run/secrets', '/etc/selfheal/secrets'];
export const DEFAULT_SECRET_REF_POLICY: SecretRefPolicy = { envPrefixes: DEFAULT_SECRET_ENV_PREFIXES, dirs: DEFAULT_SECRET_DIRS };

/** The variables that hold the policy (src/config.ts parses them; the worker re-reads them per resolve). */
export const SECRET_REF_ENV_PREFIXES_VAR = 'SECRET_REF_ENV_PREFIXES';
export const SECRET_REF_DIRS_VAR = 'SECRET_REF_DIRS';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Why a prefix cannot be used, or undefined. `reserved` lists names the prefix must not cover. */
export function envPrefixProblem(prefix: string, reserved: readonly string[] = []): string | undefined {
  if (!ENV_NAME.test(prefix)) return `"${prefix}" is not the start of an environment variable name (letters, digits, _)`;
  if (prefix.length < 4) return `"${prefix}" is too short (at least 4 characters, e.g. SELFHEAL_SECRET_)`;
  const covered = reserved.find((name) => name.startsWith(prefix));
  if (covered) return `"${prefix}" would let references name ${covered}, which Self-healing itself reads`;
  return undefined;
}

/** Why a directory cannot be used, or undefined. */
export function secretDirProblem(dir: string): string | undefined {
  if (!dir.startsWith('/')) return `"${dir}" is not an absolute path`;
  if (/[\0\s]/.test(dir)) return `"${dir}" contains whitespace or NUL`;
  if (dir === '/') return '"/" would allow every file';
  const segments = dir.slice(1).split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) return `"${dir}" must be a normalised path (no trailing "/", ".", ".." or "//")`;
  return undefined;
}

/** Splits a comma-separated list (the form of both variables); empty entries are dropped. */
export function splitList(raw: string | undefined): string[] {
  return (raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/**
 * The policy as an environment sets it (unset → defaults). Throws on an invalid entry, naming it; the
 * processes validate the same variables at start-up (src/config.ts), so this only throws if a caller
 * hands the resolver an environment no process would have started with.
 */
export function secretRefPolicyFromEnv(env: Readonly<Record<string, string | undefined>>, reserved: readonly string[] = []): SecretRefPolicy {
  const prefixes = splitList(env[SECRET_REF_ENV_PREFIXES_VAR]);
  const dirs = splitList(env[SECRET_REF_DIRS_VAR]);
  for (const p of prefixes) {
    const problem = envPrefixProblem(p, reserved);
    if (problem) throw new Error(`${SECRET_REF_ENV_PREFIXES_VAR}: ${problem}`);
  }
  for (const d of dirs) {
    const problem = secretDirProblem(d);
    if (problem) throw new Error(`${SECRET_REF_DIRS_VAR}: ${problem}`);
  }
  return { envPrefixes: prefixes.length > 0 ? prefixes : DEFAULT_SECRET_ENV_PREFIXES, dirs: dirs.length > 0 ? dirs : DEFAULT_SECRET_DIRS };
}

export type ParsedSecretRef = { scheme: 'env'; name: string } | { scheme: 'file'; path: string };

/** `env:NAME` / `file:/abs` split into parts, or undefined when it is neither form. */
export function parseSecretRef(ref: string): ParsedSecretRef | undefined {
  if (ref.startsWith('env:')) {
    const name = ref.slice(4);
    return ENV_NAME.test(name) ? { scheme: 'env', name } : undefined;
  }
  if (ref.startsWith('file:')) {
    const path = ref.slice(5);
    return path.startsWith('/') && !/[\0\s]/.test(path) ? { scheme: 'file', path } : undefined;
  }
  return undefined;
}

/** True when `file` lies strictly inside `dir` (both absolute, normalised). */
export function isInside(dir: string, file: string): boolean {
  return file.startsWith(`${dir}/`) && file.length > dir.length + 1;
}

/**
 * Why `ref` falls outside the policy, or undefined when it is allowed. Lexical only: the resolver repeats
 * it on the real path. The message names the allowed prefixes or directories (operator configuration a
 * rule author needs), never whether the variable or file exists.
 */
export function secretRefOutsidePolicy(ref: string, policy: SecretRefPolicy): string | undefined {
  const parsed = parseSecretRef(ref);
  if (!parsed) return 'must be a secret reference: "env:NAME" or "file:/absolute/path"';
  if (parsed.scheme === 'env') {
    if (policy.envPrefixes.some((p) => parsed.name.startsWith(p) && parsed.name.length > p.length)) return undefined;
    return `env: references must name a variable starting with ${policy.envPrefixes.join(' or ')} (${SECRET_REF_ENV_PREFIXES_VAR})`;
  }
  const segments = parsed.path.slice(1).split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) return 'file: references must be normalised absolute paths (no ".", ".." or "//")';
  if (policy.dirs.some((d) => isInside(d, parsed.path))) return undefined;
  return `file: references must lie inside ${policy.dirs.join(' or ')} (${SECRET_REF_DIRS_VAR})`;
}
